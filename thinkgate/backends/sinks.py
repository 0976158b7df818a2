"""Where a backend writes the tokens of a request being streamed, found without knowing who streams it.

`thinkgate.streaming` (above the gate) runs a request's strategy with a tap for it in the context
(`CURRENT_TAP`: whatever opens the request's sinks, `open(prompt, n, draft)`, and says whether the request
was cancelled, `cancelled`); a backend that streams asks `sinks_for(prompts, n, draft)` for one `Sink`
per prompt and writes each decoded piece to it as the token is generated, and stops a row whose sink is
cancelled.
Nothing streams (None) outside such a context. The inline bridge (`inline_greenlet`, `run_inline`) lets a
strategy that runs on an event loop's own thread, in a greenlet, wait for a coroutine of that loop (an
engine upstream) without blocking it. This module is below the backends; it knows a tap only by the methods
it calls (`open`, `opened`, `advance`, `scored`, `cancellation`, `on_cancel`, `tokens`, `on_token`)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any, Callable

CURRENT_TAP: ContextVar[Any] = ContextVar("thinkgate_tap", default=None)


class Cancellation:
    """A request's cancellation: a flag a backend reads between tokens (`is_set`), and callbacks for a backend
    that waits on an engine, to stop waiting at once (`on_cancel`)."""

    def __init__(self):
        self._set = False  # a flag (nothing waits on it: a `threading.Event` costs 4.6 us to make, a request's)
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from any thread) when cancelled, at once if it is already; returns what stops it
        from being called."""
        with self._lock:
            if not self._set:
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


class Sink:
    """Where a backend writes one prompt's continuation, a piece per generated token."""

    def __init__(self, tap: Any, live: bool):
        self.tap = tap
        self.live = live

    @property
    def cancelled(self) -> bool:
        return self.tap.cancellation.is_set()

    @property
    def wants_scores(self) -> bool:
        """Whether the stream shows the tokens' log probabilities (the client asked for them): a backend
        that must decode them per token may skip it otherwise."""
        return self.live and self.tap.logprobs is not None

    def on_cancel(self, callback) -> "Callable[[], None]":
        """Call `callback` (from any thread) when the request is cancelled (at once if it is already);
        returns what stops it from being called."""
        return self.tap.on_cancel(callback)

    def opened(self) -> None:
        """The engine accepted the request: its response has started (a backend that knows calls this)."""
        if self.live:
            self.tap.opened()

    def write(self, piece: str, scored: "list[Scored] | None" = None) -> None:
        """One generated token (or a chunk an engine sent together): the text it makes ready (possibly none
        yet, or more than its own), and, where the backend has log probabilities, its tokens as `Scored`
        (each token's own text: the stream tells from it which part of the turn the token belongs to)."""
        self.tap.tokens += 1
        if self.tap.on_token:
            self.tap.on_token()
        if self.live:
            if scored:
                self.tap.scored(scored)
            if piece:
                self.tap.advance(piece)


# one generated token as a backend tells a stream: (its text, log p, the most likely tokens at its step as
# (text, log p)); the stream keeps those of the answer for a client that asked for log probabilities
Scored = tuple[str, float, list]


def sinks_for(prompts: list[str], n: int = 1, draft: bool = False) -> list["Sink | None"] | None:
    """The sinks of the calling thread's stream for one generate call (`draft`: the strategy may throw the
    continuation away, `GenParams.draft`), or None when nothing streams. Raises `Cancelled` when the request
    was cancelled."""
    tap = CURRENT_TAP.get()
    if tap is None:
        return None
    return [tap.open(p, n=n, draft=draft) for p in prompts]


def streaming() -> bool:
    """Whether the calling thread's request is streamed and not cancelled: `sinks_for` gives it sinks."""
    tap = CURRENT_TAP.get()
    return tap is not None and not tap.cancelled


def inline_greenlet() -> Any:
    """The running inline strategy's greenlet, or None when the caller is not one."""
    from greenlet import getcurrent

    g = getcurrent()
    return g if getattr(g, "thinkgate_inline", False) else None


def run_inline(loop, coro) -> Any:
    """From an inline strategy: run `coro` on `loop` (the one the strategy runs on) and wait for it, handing
    the loop back meanwhile; its result or exception comes back here."""
    g = inline_greenlet()
    task = loop.create_task(coro)
    task.add_done_callback(lambda _t: g.switch())
    g.parent.switch()  # the loop runs on; the callback switches back here once the task is done
    return task.result()
