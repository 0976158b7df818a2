"""Batching for a local model: concurrent requests share generate calls instead of taking turns.

`BatchingBackend` stands in front of a backend. Each request runs its strategy in its own thread (see
`Gate.stream`); every `generate` call it makes is queued. One worker thread takes the first queued call
and keeps collecting while calls keep coming less than `window_ms` apart and, when the server says how
many requests are active (`enter` / `leave`), until every active request has a call in (requests admitted
a moment after the first, or between two steps of a multi-step strategy, join the batch); never longer
than `max_wait_ms` nor past `max_rows` prompts. It groups the calls by their generation
parameters (equal parameters can share one call: same cap, sampling, stop strings, n, logprobs), and
runs one `generate` per group on the wrapped backend; each caller gets its own rows back. A multi-step
strategy (budget, early exit) has each of its steps batched with whatever else is running, so requests
at different stages still share the model. Stream sinks are taken in the request's thread and handed on,
so every row still streams to its own client.

The queue of requests is bounded by the server (`--max-queue`), which answers 429 beyond it.

A failure never takes the worker down: a call whose parameters cannot even be grouped gets its own error,
a failed batch gives every caller in it the error, and anything else that goes wrong in a round answers
every call of that round with the error before the worker takes the next call. A prompt too long for the
model's context is refused in the caller's own thread, before it can fail a batch it shares with others.
`healthy()` tells a health check whether the worker is still there.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..backends.base import Backend, GenParams
from ..backends.sinks import sinks_for
from ..types import Generation


@dataclass
class _Call:
    prompts: list[str]
    params: GenParams
    sinks: list | None
    done: threading.Event = field(default_factory=threading.Event)
    out: list[list[Generation]] | None = None
    error: BaseException | None = None


class BatchingBackend(Backend):
    name = "batched"

    def __init__(self, inner: Backend, window_ms: float = 10.0, max_rows: int = 64,
                 on_batch: Callable[[int], None] | None = None, max_wait_ms: float | None = None):
        self.inner = inner
        self.capabilities = inner.capabilities
        self.model_id = inner.model_id
        self.tokenizer = inner.tokenizer
        self.context_length = inner.context_length
        self.parameters = inner.parameters
        self.window_s = window_ms / 1000
        self.max_wait_s = (max_wait_ms if max_wait_ms is not None else 10 * window_ms) / 1000
        self.max_rows = max_rows
        self.on_batch = on_batch
        self._queue: queue.Queue[_Call] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self.active = 0  # requests being served (the server's count), 0 when nobody counts

    def enter(self) -> None:
        with self._lock:
            self.active += 1

    def leave(self) -> None:
        with self._lock:
            self.active -= 1

    def __getattr__(self, name: str) -> Any:  # e.g. last_hidden_state for routers
        return getattr(self.__dict__["inner"], name)

    def score(self, prefixes: list[str], texts: list[str]) -> list[list[float]]:
        return self.inner.score(prefixes, texts)  # one prefill, not batched with generation

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def check_context(self, prompts: list[str]) -> None:
        self.inner.check_context(prompts)

    def healthy(self) -> bool:
        """False once the worker thread is gone (it is started with the first call)."""
        return self._worker is None or self._worker.is_alive()

    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        self.inner.check_context(prompts)  # here, in the request's thread: it fails this request alone
        if sinks is None:
            sinks = sinks_for(prompts, params.n, params.draft)  # in the request's own thread
        call = _Call(prompts, params, sinks)
        self._start()
        self._queue.put(call)
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.out  # type: ignore[return-value]

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, daemon=True, name="thinkgate-batcher")
                self._worker.start()

    def _loop(self) -> None:
        while True:
            calls = [self._queue.get()]
            try:
                self._round(calls)
            except BaseException as e:  # noqa: BLE001 - answer whoever still waits, then serve on
                for c in calls:
                    if not c.done.is_set():
                        c.error = e
                        c.done.set()

    def _round(self, calls: list[_Call]) -> None:
        """Collect the calls that arrive within the window (appended to `calls`), then run them by group."""
        rows = len(calls[0].prompts)
        now = time.monotonic()
        last_call, cap = now, now + self.max_wait_s
        while rows < self.max_rows:
            now = time.monotonic()
            all_in = len(calls) >= self.active  # True when nobody counts (active 0)
            if now >= cap or (all_in and now >= last_call + self.window_s):
                break
            left = (last_call + self.window_s if all_in else cap) - now
            try:
                call = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            calls.append(call)
            rows += len(call.prompts)
            last_call = time.monotonic()
        groups: dict[str, list[_Call]] = {}
        for call in calls:
            try:
                key = call.params.model_dump_json()
            except Exception as e:  # noqa: BLE001 - this call alone fails
                call.error = e
                call.done.set()
                continue
            groups.setdefault(key, []).append(call)
        for group in groups.values():
            self._run(group)

    def _run(self, group: list[_Call]) -> None:
        prompts = [p for c in group for p in c.prompts]
        streaming = any(c.sinks for c in group)
        n = group[0].params.n
        # a call with a sink per sample (`Backend.generate`) makes the merged call one: the others' repeated
        each = n > 1 and any(c.sinks and len(c.sinks) == len(c.prompts) * n for c in group)

        def rows(c: _Call) -> list:
            if not c.sinks:
                return [None] * len(c.prompts) * (n if each else 1)
            return [s for s in c.sinks for _ in range(n)] if each and len(c.sinks) == len(c.prompts) else c.sinks
        sinks = [s for c in group for s in rows(c)] if streaming else None
        if self.on_batch:
            self.on_batch(len(prompts))
        try:
            out = self.inner.generate(prompts, group[0].params, sinks=sinks)
        except BaseException as e:  # noqa: BLE001 - every caller of the batch gets the error
            for c in group:
                c.error = e
                c.done.set()
            return
        start = 0
        for c in group:
            c.out = out[start:start + len(c.prompts)]
            start += len(c.prompts)
            c.done.set()
