"""Reading a request's JSON body, before any of its fields is looked at. Every route that takes a body reads
it through `JSONRoute`, which answers what cannot be read with an OpenAI-style error whose message says
what is wrong and where, and whose `param` is null (no field has been read yet; a position is in the
message, never in `param`), except where a body nests too deep inside one field:

- `Content-Encoding` other than none or `identity` (gzip, br, ...): 415 `unsupported_media_type`, with
  `Accept-Encoding: identity` (RFC 7694). The server does not decompress: a compressed body would pass the
  body size limit and expand past it.
- `Content-Type` that is not JSON (`application/json`, or a `+json` type such as
  `application/vnd.api+json`, the ones FastAPI reads as JSON; parameters such as `charset` are allowed), or
  none at all: 415 `unsupported_media_type`. Not guessed as JSON, as FastAPI does not either: a web page may
  send `text/plain` (and forms) to another site without the browser asking it first (no CORS preflight),
  so reading any content type as JSON would let every page the operator visits post requests to a server
  on their machine; and `curl -d` sends `application/x-www-form-urlencoded`, where a 415 naming the header
  tells the client what to fix. OpenAI's own clients send `application/json`.
- A body that is empty, not UTF-8 (or UTF-16/32) text, or not one JSON value (a syntax error, trailing
  data after the value): 400 `invalid_json`, the position as line, column and character in the message.
  The JSON is read as Python's `json` reads it (FastAPI's own reading): numbers of any size and lone
  surrogate escapes get through here and are then refused by the field that holds them.
- Arrays and objects nested deeper than `MAX_DEPTH` levels (the body itself is level 1): 400
  `nesting_too_deep`, `param` the top-level field it happens in (null when the parser gave up first, or
  the body is not an object), before anything walks the value. A chat body needs 4 levels, a tool's
  JSON schema a few more; what walks a body downstream (validation, the Unicode check, the body sent on
  to an engine, whose encoder stops at 255 levels) is never asked to go deeper, whatever the
  interpreter's recursion limit.
"""

from __future__ import annotations

import email.message
import inspect
import json
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError

from .common import APIError
from .guard import BODY

MAX_DEPTH = 64  # nested arrays and objects in a request body, the body itself counted
_PLAIN_JSON = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8",
                         "application/json; charset=UTF-8"})


class Unsupported(APIError):
    """A 415: a body this server does not read, with the headers that say what it reads."""

    def __init__(self, message: str, headers: dict[str, str] | None = None):
        super().__init__(415, message, code="unsupported_media_type")
        self.headers = headers or {}


def check_headers(raw: list[tuple[bytes, bytes]]) -> None:
    """A body this server can read as JSON, by its headers (the ASGI scope's, names in lower case), before any
    of it is read."""
    kind, encodings = None, []
    for name, value in raw:  # (one pass over the list: a `Headers` mapping looks each name up in a pass of its own)
        if name == b"content-type" and kind is None:
            kind = value.decode("latin-1")
        elif name == b"content-encoding":
            encodings.append(value.decode("latin-1"))
    codings = [c.strip().lower() for v in encodings for c in v.split(",") if c.strip()]
    if any(c != "identity" for c in codings):
        raise Unsupported(f"Content-Encoding {', '.join(encodings)!r} is not supported: send the body "
                           "uncompressed (no Content-Encoding, or identity)", {"accept-encoding": "identity"})
    if kind in _PLAIN_JSON:  # what clients send, read without parsing the header (40 us a request otherwise)
        return
    if not kind:
        raise Unsupported("the request has no Content-Type: send the body as JSON with 'Content-Type: "
                           "application/json'")
    parsed = email.message.Message()
    parsed["content-type"] = kind
    sub = parsed.get_content_subtype()
    if parsed.get_content_maintype() != "application" or not (sub == "json" or sub.endswith("+json")):
        raise Unsupported(f"Content-Type {kind!r} is not JSON: send the body as JSON with 'Content-Type: "
                           "application/json'")


def read_json(raw: bytes) -> Any:
    """The one JSON value of a body, or the 400 that says why there is none."""
    if not raw.strip():
        raise APIError(400, "the body is empty: send a JSON object", code="invalid_json")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:  # its text names the position: 'Extra data: line 1 column 84 (char 83)'
        raise APIError(400, f"the body is not valid JSON: {e}", code="invalid_json") from None
    except UnicodeDecodeError as e:
        raise APIError(400, f"the body is not UTF-8 text: byte {e.start} ({raw[e.start:e.start + 1]!r}) cannot "
                            "be decoded", code="invalid_json") from None
    except RecursionError:  # deeper than the interpreter reads: deeper than MAX_DEPTH
        raise _too_deep(None) from None
    where = _too_deep_at(value, raw)
    if where is not False:
        raise _too_deep(where)
    return value


def _too_deep(field: str | None) -> APIError:
    inside = f" (in {field!r})" if field else ""
    return APIError(400, f"the body nests arrays and objects more than {MAX_DEPTH} levels deep{inside}; this "
                         f"server takes at most {MAX_DEPTH}", param=field, code="nesting_too_deep")


def _too_deep_at(value: Any, raw: bytes) -> str | None | bool:
    """False when `value` nests at most MAX_DEPTH levels; else the top-level field where it goes deeper
    (None when the body is not an object). Walked without recursion; a body with fewer brackets than the
    limit is not walked at all."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    stack: list[tuple[Any, int, str | None]] = [(value, 1, None)]
    while stack:
        node, depth, field = stack.pop()
        if depth > MAX_DEPTH:
            return field
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for name, child in children:
            if isinstance(child, (dict, list)):
                top = field if depth > 1 else (name if isinstance(node, dict) else None)
                stack.append((child, depth + 1, top))
    return False


class _JSONRequest(Request):
    async def body(self) -> bytes:
        """The whole body: taken from the scope where the body limit read it (`guard.BODY`: then no message
        carries it, and the next one received is the disconnect), else received."""
        if not hasattr(self, "_whole"):
            taken = self.scope.pop(BODY, None)
            self._whole = taken if taken is not None else await super().body()
        return self._whole

    async def json(self) -> Any:
        if not hasattr(self, "_value"):
            self._value = read_json(await self.body())
        return self._value


async def _read(request: Request) -> tuple["_JSONRequest", Any]:
    """The request as one whose body is read by `read_json` (after `check_headers`), and that body."""
    if not isinstance(request, _JSONRequest):
        request = _JSONRequest(request.scope, request.receive)
    check_headers(request.scope["headers"])
    return request, await request.json()


class JSONRoute(APIRoute):
    """A route whose JSON body is read by `read_json` after `check_headers`: what cannot be read is answered
    by the app's error handlers before any field is looked at.

    An endpoint that takes the body as one pydantic model and the `Request` (every POST endpoint here) is
    called directly: the body is validated by its model, a failure raised as FastAPI's
    `RequestValidationError` (locations under `body`, as FastAPI gives them, so the one error handler
    answers both), and the endpoint's `Response` is sent as it is. FastAPI's generic handler (dependency
    solving, the content type parsed again with `email`, telemetry) cost about 0.3 ms of a request's 1.4 ms
    before the engine was called (`benchmarks/serve_overhead.py`'s path, measured at the route in
    `thinkgate serve`); the OpenAPI document is FastAPI's, made from the same signature. Any other endpoint
    goes through FastAPI's handler after the body is read here."""

    # the endpoint called directly (`direct_call`, set by `get_route_handler`), for `DirectRoutes`; None: not
    direct = None

    def get_route_handler(self):
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler
        d = self.dependant
        direct = (len(d.body_params) == 1 and d.request_param_name is not None and not d.dependencies
                  and not (d.path_params or d.query_params or d.header_params or d.cookie_params)
                  and d.background_tasks_param_name is None and d.response_param_name is None
                  and inspect.iscoroutinefunction(d.call))
        if not direct:
            async def read_first(request: Request):
                request, _ = await _read(request)
                return await handler(request)

            return read_first
        model, call = self.body_field.field_info.annotation, d.call
        body_name, request_name = d.body_params[0].name, d.request_param_name

        async def direct_call(request: Request):
            request, value = await _read(request)
            try:
                body = model.model_validate(value)
            except ValidationError as e:
                raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                              for err in e.errors(include_url=False)], body=value) from None
            response = await call(**{body_name: body, request_name: request})
            if not isinstance(response, Response):
                raise TypeError(f"endpoint {self.path} returned {type(response).__name__}, not a Response")
            return response

        self.direct = direct_call
        return direct_call


class DirectRoutes:
    """The ASGI app in front of FastAPI's: a POST to one of the routes whose endpoint `JSONRoute` calls
    directly is served here, behind the same guards (`guards`: the app's own middleware, built again around
    this path) and answered by the app's exception handlers, without Starlette's and FastAPI's middleware
    stack and router in between (error middleware, telemetry, body limit, exception middleware, exit stacks,
    route matching, and a wrapper around every message sent: about 0.2 ms of a request's 1.4 ms before the
    engine was called, and a few microseconds per streamed chunk, in `benchmarks/serve_overhead.py`'s path).
    Everything else (GET routes, the documents, a method or path not served, a request under a root path, a
    request FastAPI's OpenTelemetry instrumentation follows, whose span is named by FastAPI's router) goes
    through FastAPI's stack as before. An app that a program embedding it has given more middleware, or
    exception handlers by status code or for every `Exception` (which Starlette runs outside the guards),
    keeps FastAPI's stack for every request (`around`)."""

    @classmethod
    def around(cls, stack, routes: dict, app, guards: list):
        """FastAPI's `stack` with the direct routes in front, where nothing but `guards` was added to `app`."""
        handlers = app.exception_handlers
        if ([m.cls for m in app.user_middleware] != [g for g, _ in reversed(guards)]  # each added outside the last
                or any(not isinstance(k, type) or k is Exception for k in handlers)):
            return stack
        return cls(stack, routes, handlers, guards)

    def __init__(self, stack, routes: dict, handlers: dict, guards: list):
        """`stack`: FastAPI's middleware stack; `routes`: path -> `JSONRoute.direct`; `handlers`: the app's
        exception handlers (by class); `guards`: (middleware class, its arguments), innermost first, as the
        app added them."""
        self.stack, self.routes = stack, routes
        self.handlers = dict(handlers)
        app = self._call
        for cls, kw in guards:
            app = cls(app, **kw)
        self.guarded = app

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self.routes
                and not scope.get("root_path") and "fastapi.telemetry" not in scope):
            return await self.guarded(scope, receive, send)
        return await self.stack(scope, receive, send)

    async def _call(self, scope, receive, send):
        request = _JSONRequest(scope, receive, send)
        try:
            response = await self.routes[scope["path"]](request)
        except Exception as e:
            answer = next((self.handlers[c] for c in type(e).__mro__ if c in self.handlers), None)
            if answer is None:
                raise
            response = await answer(request, e)
            e.__traceback__ = None  # a reused exception would gather tracebacks
        await response(scope, receive, send)


class ServerApp(FastAPI):
    """The server's FastAPI app, whose HTTP requests go straight to its middleware stack (`DirectRoutes` and
    the guards) when FastAPI's own OpenTelemetry instrumentation is off. FastAPI asks the OpenTelemetry
    providers on every request whether it is on (about 30 us of a streamed request's time to first token in
    `benchmarks/serve_overhead.py`); here that is asked once, at start-up (`started`), after FastAPI's
    start-up has set up the providers its settings and the environment ask for. A process that configures a
    provider later (after the server started) is not traced; one configured before, as
    `opentelemetry-instrument` does, is, through FastAPI's own path as before."""

    plain = False  # FastAPI's instrumentation is off: requests skip its per-request check

    def started(self) -> None:
        """Decide, once the app has started, whether requests can skip FastAPI's instrumentation check (where
        this FastAPI has none that can be asked, they take FastAPI's own path)."""
        telemetry = getattr(self, "_native_telemetry", None)
        self.plain = (telemetry is not None and not telemetry.enabled() and not self.root_path
                      and self.middleware_stack is not None)

    async def __call__(self, scope, receive, send) -> None:
        if self.plain and scope["type"] == "http":
            scope["app"] = self  # (what Starlette sets before its middleware stack)
            await self.middleware_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
