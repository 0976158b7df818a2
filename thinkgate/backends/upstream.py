"""An OpenAI-compatible engine's HTTP on an asyncio loop, shared by everything that talks to an engine:
the raw-prefix backend (`openai_compat.py`) and the server's chat fallback (`server/upstream_chat.py`).

The loop is the server's own (`attach`), or a private loop thread for the CLI and the bench. Strategy
threads hand it requests and wait; every stream's chunks are read (and written to their sinks) on that one
loop, so many concurrent streams do not fight over the interpreter lock. The bytes travel by `http1.Http1`
and are read by `wire.py`.
"""

from __future__ import annotations

import threading

from ..errors import UpstreamError
from .http1 import MAX_BODY, Http1
from .sinks import inline_greenlet, run_inline
from .wire import http_error, json_body, sse_batches


class Upstream:
    """One engine at `base_url`: at most `concurrency` requests in flight; `timeout` bounds a whole request
    and `idle_timeout` (default `timeout`) the engine's longest silence."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, concurrency: int,
                 idle_timeout: float | None = None, max_body: int = MAX_BODY):
        self.base_url = base_url.rstrip("/")
        self._http_args = (self.base_url, api_key, timeout, idle_timeout, max_body)
        self.http = Http1(*self._http_args)
        self.concurrency = concurrency
        self._loop = None
        self._lock = threading.Lock()

    def attach(self, loop) -> None:
        """Do the HTTP on `loop` (a server's own event loop, called from it), so that streamed chunks are
        read and relayed on one thread; without it a private loop thread is started on first use. A
        private loop started before (a blocking call while the server was being built: the capability
        probe, a router's preparation) is stopped, and its connections with it."""
        with self._lock:
            old = self._loop
            if old is loop:
                return
            if old is not None:
                old.call_soon_threadsafe(old.stop)
                self.http = Http1(*self._http_args)  # its kept-alive connections belong to the old loop
            self._setup()
            self._loop = loop

    def _setup(self) -> None:
        import asyncio

        self.slots = asyncio.Semaphore(self.concurrency)

    @property
    def loop(self):
        """The loop the engine's HTTP runs on (None until the first call or `attach`)."""
        return self._loop

    def run(self, coro):
        import asyncio

        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True, name="thinkgate-upstream-io").start()

                async def setup():
                    self._setup()

                asyncio.run_coroutine_threadsafe(setup(), loop).result()
                self._loop = loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop and inline_greenlet() is not None:
            return run_inline(self._loop, coro)  # a strategy running on the loop itself (streaming.py)
        if running is self._loop:
            coro.close()
            raise RuntimeError("the upstream backend's blocking calls must come from a worker thread, "
                               "not from the event loop that does its I/O")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def post(self, path: str, body: dict) -> dict:
        """The engine's JSON answer (an object); `UpstreamError` for anything else: an error status, a
        redirect, a status other than 200, a body that is not a JSON object or is over the size limit."""
        async with self.slots, self.http.post(path, body) as resp:
            data = await resp.read()
        if resp.status != 200:
            raise self._not_ok(resp, data)
        return json_body(self.base_url, data)

    def _not_ok(self, resp, data: bytes) -> UpstreamError:
        """An answer whose status is not 200, as the error it is."""
        if resp.status >= 400:
            return http_error(self.base_url, resp.status, data)
        if resp.status < 200:  # an interim answer where a final one was due (nothing asked for one)
            return UpstreamError(f"upstream {self.base_url} answered {resp.status}, an interim status, not an answer")
        if 300 <= resp.status < 400:
            where = resp.headers.get("location", "nowhere")
            return UpstreamError(f"upstream {self.base_url} answered {resp.status}, a redirect to {where[:200]}: "
                                 "engines are not followed elsewhere; point --upstream at the engine itself")
        return UpstreamError(f"upstream {self.base_url} answered {resp.status}, not 200 with an answer")

    def begin(self, path: str, body: dict) -> tuple | None:
        """From an inline strategy on the loop's thread: write the request now when a slot and a kept-alive
        connection are free (hand the result to `events(..., sent=)`), else None. Its slot is taken when
        the reading task starts, a moment later."""
        return None if self.slots.locked() else self.http.send_now(path, body)

    def abandon(self, sent: tuple | None) -> None:
        """Give up a request `begin` wrote (None: nothing was written): its answer is not read."""
        if sent is not None:
            self.http.unsend(sent)

    async def events(self, path: str, body: dict, sent: tuple | None = None, on_open=None):
        """The engine's SSE chunks as dicts, parsed from the raw bytes (ends at [DONE] or at the close), in
        batches: the chunks that arrived together (`wire.sse_batches`). `on_open()` is called once the
        engine has answered with a success status. `sent`: the request as `begin` wrote it, which is given up
        where the wait for a slot is cancelled."""
        try:
            await self.slots.acquire()
        except BaseException:
            self.abandon(sent)
            raise
        try:
            async with self.http.post(path, body, sent) as resp:
                if resp.status != 200:
                    raise self._not_ok(resp, await resp.read())
                kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind != "text/event-stream":  # a whole answer, or an error, where a stream was asked for
                    data = await resp.read()
                    try:
                        said = json_body(self.base_url, data).get("error")
                    except UpstreamError:
                        said = None
                    raise UpstreamError(f"upstream {self.base_url} answered a stream request with "
                                        f"{kind or 'no content type'}, not an event stream{f': {said}' if said else ''}")
                if on_open is not None:
                    on_open()
                async for batch in sse_batches(resp.pieces, max_line=self.http.max_body):
                    yield batch
        finally:
            self.slots.release()
