"""What the server's endpoints share: OpenAI-style errors, the relay from serving threads to the event loop,
the wait for a request that is not streamed, and the one pump of server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from typing import Any, AsyncIterator, Callable

import orjson
from fastapi.responses import Response, StreamingResponse

from ..errors import (ContextOverflow, InvalidText, MissingCapability, PolicyConflict, RouterError, ToolsUnsupported,
                      UpstreamError)
from .control import BadField
from .guard import error_body, log, send_error

# what metrics label requests by: the served endpoints, anything else as one label (a client's paths
# must not grow the metrics without bound)
ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages", "/api/chat", "/api/tags",
             "/v1/models", "/health", "/metrics")


def new_id(prefix: str = "") -> str:
    """A response's or an item's id: `prefix` and 24 random hex digits (`chatcmpl-...`, `msg_...`)."""
    return prefix + uuid.uuid4().hex[:24]


def endpoint(path: str) -> str:
    return path if path in ENDPOINTS else "other"


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self, path: str = "") -> bytes:
        """The error in the shape of the API `path` belongs to (`guard.error_body`)."""
        return error_body(self.message, self.type, self.param, self.code, path, self.status)


def error_response(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
                   path: str = "") -> Response:
    return Response(error_body(message, type_, param, code, path, status), status_code=status,
                    media_type="application/json")


def as_api_error(e: BaseException) -> APIError:
    """The OpenAI-style error a failure is answered with. Only what is known to be safe to show is shown:
    an unexpected failure is a 500 whose details go to the server log, not to the client."""
    if isinstance(e, APIError):
        return e
    if isinstance(e, UpstreamError):
        upstream = getattr(e, "upstream_status", None)
        if upstream in (400, 413, 422):  # the engine refused the request itself (a prompt too long, ...)
            return APIError(400, str(e), code="upstream_rejected")
        code = {502: "upstream_unreachable", 504: "upstream_timeout"}.get(e.status, "upstream_error")
        if type(e) is UpstreamError:
            code = "upstream_error"
        return APIError(e.status, str(e), "upstream_error", code=code)
    if isinstance(e, BadField):
        return APIError(400, str(e), param=e.param, code="invalid_field")
    if isinstance(e, PolicyConflict):  # a named strategy and the request's thinking controls contradict
        return APIError(400, str(e), param=e.param, code="invalid_value")
    if isinstance(e, ContextOverflow):
        return APIError(400, str(e), param="messages", code="context_length_exceeded")
    if isinstance(e, InvalidText):
        return APIError(400, str(e), code="invalid_text")
    if isinstance(e, MissingCapability):
        return APIError(400, str(e), code="missing_capability")
    if isinstance(e, ToolsUnsupported):
        return APIError(400, str(e), param="tools", code="unsupported")
    if isinstance(e, RouterError):  # its message names server paths: say what is wrong, not where
        log.error("router unavailable: %s", e)
        return APIError(400, "no usable router is calibrated for this model, so strategy 'route' cannot route here; the "
                             "server's operator can run `thinkgate calibrate` (the server log has the details)",
                        param="thinking.strategy", code="router_unavailable")
    if isinstance(e, ValueError):
        return APIError(400, str(e), code="invalid_value")
    log.error("request failed", exc_info=e)
    return APIError(500, "internal server error (the server log has the details)", "server_error",
                    code="internal_error")


class Inline:
    """A reply's thought inside its `content`, between the family's own tags (`serve --reasoning-format
    inline`), for pipelines that read only `content`, as an engine without a reasoning parser returns it. A
    thought that never closed (cut by max_tokens) stays open, as the model left it."""

    def __init__(self, open_tag: str = "<think>", close_tag: str = "</think>"):
        self.open, self.close = open_tag or "<think>", close_tag or "</think>"
        self.state = "before"  # before | thinking | answering

    def reasoning(self, text: str) -> str:
        """The content text of a streamed reasoning delta."""
        if self.state == "before":
            self.state = "thinking"
            return self.open + "\n" + text
        return text

    def content(self, text: str) -> str:
        """The content text of a streamed answer delta."""
        head = "\n" + self.close + "\n\n" if self.state == "thinking" else ""
        self.state = "answering"
        return head + text

    def whole(self, reasoning: str, answer: str, closed: bool = True) -> str:
        if not reasoning:
            return answer
        if not closed:
            return f"{self.open}\n{reasoning}"
        return f"{self.open}\n{reasoning}\n{self.close}\n\n{answer}"

    def message(self, msg: dict) -> dict:
        """An engine's message or delta with its reasoning field(s) moved into `content`."""
        texts = [msg.pop(f, None) for f in ("reasoning_content", "reasoning")]
        reasoning, content = next((t for t in texts if t), None), msg.get("content")
        if reasoning or content:
            msg["content"] = (self.reasoning(reasoning) if reasoning else "") + (self.content(content) if content else "")
        return msg


class Relay:
    """A request's events, from whoever produces them (a serving thread, or a strategy on the loop itself),
    to its response on the event loop, in bursts: `bursts()` gives every event put since the last burst at
    once, so what became ready while the response was writing leaves in its next write, never waiting for
    more. One loop wake-up per burst, not per token; events keep the order they were put in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_end=None):
        self.loop, self.on_end = loop, on_end
        self.loop_thread = threading.get_ident()
        self._items: list = []
        self._lock = threading.Lock()
        self._waiter: asyncio.Future | None = None  # the response, waiting for the next event
        self._wake_pending = False  # a wake-up asked for from a thread that has not run yet

    def put(self, ev) -> None:
        if self.on_end is not None and ev[0] in ("done", "error"):
            self.on_end()
        with self._lock:
            self._items.append(ev)
            if threading.get_ident() != self.loop_thread:
                if self._wake_pending:
                    return
                self._wake_pending = True
                on_loop = False
            else:  # on the loop already (an engine's tokens are read there): no extra loop turn is spent
                on_loop = True
        if on_loop:
            self._wake()
        else:
            self.loop.call_soon_threadsafe(self._wake_from_thread)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_from_thread(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._wake()

    async def burst(self) -> list:
        """Every event put since the last burst, in order; waits for one when there is none."""
        while True:
            with self._lock:
                if self._items:
                    items, self._items = self._items, []
                    return items
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def bursts(self) -> AsyncIterator[list[tuple[str, Any]]]:
        while True:
            yield await self.burst()


async def wait_or_cancel(relay: Relay, request, cancel: Callable[[], None], cancelled) -> tuple[str, Any]:
    """The end of a request that is not streamed: its ("done", result) or ("error", exception) event (others
    are skipped). A client that goes away cancels it (`cancel`, counted in the `cancelled` metric) and gets
    ("error", a 499)."""
    while True:
        try:
            batch = await asyncio.wait_for(relay.burst(), timeout=0.5)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                cancel()
                cancelled.inc()
                return "error", APIError(499, "client went away", code="cancelled")
            continue
        for kind, payload in batch:
            if kind in ("done", "error"):
                return kind, payload


async def until_done_or_gone(work, request, cancelled) -> Any:
    """Await `work` (an engine's answer, on this loop) unless the client goes away first: then the work is
    cancelled (its engine connection closes, and the engine drops the request), the `cancelled` metric counts
    it, and a 499 `APIError` is raised."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            done, _ = await asyncio.wait({task}, timeout=0.5)
        except asyncio.CancelledError:  # the handler itself was cancelled: the work goes with it
            task.cancel()
            raise
        if done:
            return task.result()
        if await request.is_disconnected():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            cancelled.inc()
            raise APIError(499, "client went away", code="cancelled")


async def sse_pump(events: AsyncIterator[list[tuple[str, Any]]], render: Callable[[list], tuple[str, bool]],
                   abandon: Callable[[], None], metrics, path: str,
                   on_error: Callable[[APIError], str] | None = None) -> AsyncIterator[tuple[str, bool]]:
    """The one loop every streamed response runs, for `EventStream`. `events` gives bursts of (kind, payload)
    events — each burst what was ready together, which leaves in one write; `render(burst) -> (text,
    finished)` writes the server-sent events of a burst's events up to an error. Yields (text, last): the
    last piece ends the body in the same write. An ("error", exception) event ends the stream with
    `on_error(api_error)` (by default chat's: the OpenAI-style error and `[DONE]`; each API face writes its
    own); before anything was written it is raised instead, so the client gets a plain error with its
    status. Errors are counted in `metrics` under `path`; a client that leaves before the end is counted as
    cancelled and its work given up (`abandon`)."""
    finished = wrote = False
    try:
        async with contextlib.aclosing(events):
            async for batch in events:
                cut = next((i for i, (kind, _) in enumerate(batch) if kind == "error"), len(batch))
                try:
                    out, finished = render(batch[:cut]) if cut else ("", False)
                except Exception as e:  # noqa: BLE001 - a failure of our own: the stream still ends as it must
                    out, finished, cut, batch = "", False, 0, [("error", e)]
                if cut < len(batch) and not finished:
                    finished = True
                    e = as_api_error(batch[cut][1])
                    metrics.requests.labels(path, str(e.status)).inc()
                    if not (wrote or out):
                        raise e
                    out += on_error(e) if on_error is not None else sse_error(e) + "data: [DONE]\n\n"
                if out or finished:
                    wrote = True
                    yield out, finished
                if finished:
                    return
    finally:
        if not finished:  # the client left: its work is given up, and the request counted as such
            abandon()
            metrics.cancelled.inc()
            metrics.requests.labels(path, "499").inc()


def json_text(value: Any) -> str:
    """JSON text of `value` with orjson (the stdlib encoder showed in the server's profile), or the stdlib's
    where a client's value is past what orjson writes (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        import json
        import math

        def finite(v: Any) -> Any:  # NaN and Infinity as null, as orjson writes them: JSON has neither
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: finite(x) for k, x in v.items()}
            return [finite(x) for x in v] if isinstance(v, (list, tuple)) else v
        return json.dumps(finite(value), ensure_ascii=False, allow_nan=False)


def whole_response(body: dict):
    """A face's whole (not streamed) response: JSON written by `json_text`, so what a client's body put
    in it (metadata and tools echoed back, a call's arguments) cannot fail the encoder (an integer past 64
    bits; a NaN, which Python's JSON reader accepts, is written as null)."""
    return Response(json_text(body), media_type="application/json")


def sse(obj: dict[str, Any]) -> str:
    return f"data: {orjson.dumps(obj).decode()}\n\n"  # orjson: the stdlib encoder showed in the server's profile



def sse_error(e: BaseException) -> str:
    return f"data: {as_api_error(e).body().decode()}\n\n"


class EventStream(StreamingResponse):
    """Server-sent events from `sse_pump`, each piece in one write, the last one with the end of the body.
    The status waits for the first piece: a pump that raises `APIError` before its first piece (an engine
    unreachable, a bad request found late) gets a plain OpenAI-style error with that status, not a 200
    stream. Returning this at once lets the response machinery set up while the model works on the first
    token."""

    def __init__(self, content, path: str = "", media_type: str = "text/event-stream"):
        """`path`: the API whose error shape an early failure takes; `media_type`: Ollama's streams are
        newline-delimited JSON (`application/x-ndjson`), written by the same pump."""
        super().__init__(content, media_type=media_type, headers={"Cache-Control": "no-cache"})
        self.path = path

    async def __call__(self, scope, receive, send) -> None:
        """Streams the body while a listener waits for the client to leave; when it does, the streaming is
        cancelled (the pump gives the work up). Starlette's own does the same with an anyio task group,
        which cost about 0.1 ms a request (its set-up, and the task's repr its cancellation formats) where
        the server's whole work before the engine is called is about 1.2 ms (`benchmarks/serve_overhead.py`);
        here the listener is one asyncio task."""
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        streaming = asyncio.current_task()
        state = {"streaming": True, "left": False}

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        def left(task: asyncio.Task) -> None:
            if state["streaming"] and not task.cancelled() and task.exception() is None:
                state["left"] = True
                streaming.cancel()

        listener = asyncio.get_running_loop().create_task(listen())
        listener.add_done_callback(left)
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not state["left"]:
                raise
            streaming.uncancel()  # the client left: the response ends here, as Starlette's does
        finally:
            state["streaming"] = False
            listener.cancel()

    async def stream_response(self, send) -> None:
        it = self.body_iterator
        try:
            text, last = await it.__anext__()
        except StopAsyncIteration:
            text, last = "", True
        except APIError as e:
            await send_error(send, e.status, e.body(self.path))
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        while True:
            if text or last:
                await send({"type": "http.response.body", "body": text.encode(), "more_body": not last})
            if last:
                break
            try:
                text, last = await it.__anext__()
            except StopAsyncIteration:
                text, last = "", True
        with contextlib.suppress(StopAsyncIteration):  # the pump ends at once after its last piece
            await it.__anext__()
