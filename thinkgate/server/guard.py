"""What stands between a client and the server's work: the operator's limits, the API key, the body size,
and the last line of defence that turns any unexpected exception into an OpenAI-style 500.

Three ASGI middlewares, outermost first:
- `CatchAll`: an exception no handler answered becomes `{"error": ...}` with status 500 (its traceback goes
  to the log, not to the client, so no server path or internal detail leaks); after a response has started
  it ends the body cleanly instead. Unlike Starlette's own error middleware it does not re-raise, so the
  server keeps the keep-alive connection instead of dropping it;
- `RequireKey`: with an API key set, `/v1/*`, Ollama's `/api/*` and the API documents (`/docs`, `/redoc`,
  `/openapi.json`) need `Authorization: Bearer KEY` or `x-api-key: KEY` (Anthropic's header), compared in
  constant time, before anything reads the body;
- `LimitBody`: a body over `max_body_bytes` is a 413 (by its Content-Length at once, else as it arrives);
  the body, read whole, is in the scope (`BODY`) for the app to take, else given to it as one message;
  a body not whole within `body_timeout` seconds of the request's head (a client that trickles it, or
  never sends what its Content-Length promised) is a 408 `body_timeout`, and the connection is closed: a
  slow sender cannot hold a connection and a task without end.
`/health` and `/metrics` stay open.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..backends.http1 import Deadline

log = logging.getLogger("thinkgate.server")

_DOCS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
# the scope's key for a request's whole body as `LimitBody` read it, until it is taken (popped) from there or
# received as one message, whichever comes first
BODY = "thinkgate.body"


class ServerLimits(BaseModel):
    """Per-request bounds a server operator can change (`thinkgate serve --max-body-bytes ...`)."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(default=2 << 20, ge=1024)  # a request body; 413 beyond
    body_timeout: float = Field(default=30.0, gt=0)  # seconds to receive a whole request body; 408 beyond
    max_tokens: int = Field(default=32768, ge=1)  # a request's max_tokens, and token counts in strategy parameters
    max_loops: int = Field(default=32, ge=1)  # n, and every per-request repeat count in strategy parameters
    max_prompts: int = Field(default=64, ge=1)  # prompts in one /v1/completions request
    max_gates: int = Field(default=64, ge=1)  # strategies kept configured at once (least recently used go)


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None, path: str = "", status: int = 400) -> bytes:
    """Every error this server sends, in the shape of the API its `path` belongs to: OpenAI's
    (`{"error": {message, type, param, code}}`) by default; Anthropic's on `/v1/messages` (`{"type": "error",
    "error": {type, message}}`, its type by status, thinkgate's `param` and `code` beside them); Ollama's on
    `/api/` (`{"error": message}`)."""
    if path.startswith("/api/"):  # one string: the field goes in front where the message does not name it
        return orjson.dumps({"error": message if not param or param in message else f"{param}: {message}"})
    if path.startswith("/v1/messages"):
        kind = ANTHROPIC_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message, "param": param,
                                                        "code": code}})
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


# Anthropic's error types by status (others: invalid_request_error below 500, api_error from 500)
ANTHROPIC_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                   413: "request_too_large", 429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error"}


async def send_error(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class CatchAll:
    def __init__(self, app, on_error=None):
        self.app, self.on_error = app, on_error

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = {"started": False, "ended": False}

        async def tracked(message):
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["ended"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:  # noqa: BLE001 - the one place every unexpected failure ends
            log.exception("unhandled error serving %s %s", scope.get("method"), scope.get("path"))
            if self.on_error is not None:
                self.on_error(scope.get("path", ""))
            try:
                if not state["started"]:
                    await send_error(send, 500, error_body("internal server error (the server log has the details)",
                                                           "server_error", code="internal_error",
                                                           path=scope.get("path", ""), status=500))
                elif not state["ended"]:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # noqa: BLE001 - the client is gone; nothing is left to tell
                pass


class RequireKey:
    def __init__(self, app, api_key: str | None, on_reject=None):
        self.app, self.on_reject = app, on_reject
        self.key = api_key.encode() if api_key is not None else None

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or self.key is None or not (path.startswith(("/v1/", "/api/")) or path in _DOCS):
            return await self.app(scope, receive, send)
        bearer = x_key = None
        for k, v in scope["headers"]:
            if k == b"authorization" and v[:7].lower() == b"bearer ":
                bearer = v[7:].strip()
            elif k == b"x-api-key":  # Anthropic's clients send the key here
                x_key = v.strip()
        if bearer is None and x_key is None:
            return await self._reject(path, send, "missing API key: send 'Authorization: Bearer KEY' (or 'x-api-key: "
                                                  "KEY')", "missing_api_key")
        # either header may carry it (Anthropic's clients send both when given a token besides the key)
        if not any(hmac.compare_digest(got, self.key) for got in (bearer, x_key) if got is not None):
            return await self._reject(path, send, "wrong API key", "invalid_api_key")
        return await self.app(scope, receive, send)

    async def _reject(self, path: str, send, message: str, code: str) -> None:
        if self.on_reject is not None:
            self.on_reject(path)
        await send_error(send, 401, error_body(message, "authentication_error", code=code, path=path, status=401),
                         [(b"www-authenticate", b"Bearer")])


class LimitBody:
    def __init__(self, app, max_bytes: int, timeout: float = 30.0, on_reject=None):
        """`on_reject(path, status)`: told of each body refused (the metrics count every request)."""
        self.app, self.max_bytes, self.timeout, self.on_reject = app, max_bytes, timeout, on_reject

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._too_large(scope, send)
        # read the body here (it is small: at most the limit), then hand it on as one piece
        chunks, size = [], 0
        limit = Deadline(self.timeout)  # the whole body, however it is cut into messages
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > self.max_bytes or not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if not limit.expired():  # cancelled from outside: not the body's time running out
                raise
            return await self._too_slow(scope, send)
        finally:
            limit.cancel()
        if size > self.max_bytes:
            return await self._too_large(scope, send)
        scope[BODY] = b"".join(chunks)

        async def replay():
            body = scope.pop(BODY, None)  # the body once: as this message, unless the app took it from the scope
            if body is not None:
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        return await self.app(scope, replay, send)

    def _count(self, scope, status: int) -> None:
        if self.on_reject is not None:
            self.on_reject(scope.get("path", ""), status)

    async def _too_large(self, scope, send) -> None:
        self._count(scope, 413)
        await send_error(send, 413, error_body(f"the request body is larger than this server takes "
                                               f"({self.max_bytes} bytes; --max-body-bytes)",
                                               code="body_too_large", path=scope.get("path", ""), status=413))

    async def _too_slow(self, scope, send) -> None:
        """A 408 that closes the connection: what is left of the body is never read."""
        self._count(scope, 408)
        await send_error(send, 408, error_body(f"the request body did not arrive within {self.timeout:g} s "
                                               "(--body-timeout)", code="body_timeout", path=scope.get("path", ""),
                                               status=408),
                         [(b"connection", b"close")])
