"""Streaming any strategy: reasoning and answer deltas as the backend writes tokens.

A strategy only ever calls `backend.generate(prompts, params)`; it pauses, injects text and continues.
`Gate.stream` runs the strategy in a thread whose context holds the request's `Stream`, which makes a `Tap`
for it when first asked (`Stream.tap`). A backend that streams (capability `stream`) asks
`sinks_for(prompts, params)` for one `Sink` per prompt and writes each decoded piece of text to it as the
token is generated (a batching proxy asks in the request's thread and hands the sinks on). The tap follows
the assistant turn as the strategy builds it:

- a generate call continues the assistant text streamed so far (its prompt extends it): text the strategy
  injected in between (a budget stop message, a "Wait") is streamed first, then the tokens, live;
- a call that samples several continuations (`n` > 1) or that the strategy marks a draft (`GenParams.draft`:
  an early-exit probe, a draft that may be thrown away, a cascade's first answer) is speculative: its tokens
  are not streamed live, and neither is its prompt's text, which may hold what the strategy will not keep (a
  probe, another mode's prefill) until the next call's prompt agrees with it (their common start is the
  turn's); what the strategy keeps shows up in the next call's prompt or in the final result;
- where the request asked for log probabilities (`Request.logprobs`), the answer's tokens go out as
  ("logprobs", [(text, log p, [(text, log p), ...]), ...]) events as they are generated: a token is the
  answer's once the thought's end tag is behind it, from the first that writes more than whitespace
  (`Result.logprobs`' rule, `thinkgate.confidence`); those the live stream could not tell (a draft kept, a
  model that opens no thought) leave with the result;
- at the end the stream is reconciled with the `Result`, so what was streamed plus the final remainder
  is exactly the result's reasoning and answer.

A cancelled tap (a client that went away) stops generation: backends stop the row at the next token and
the strategy's next generate call raises `Cancelled`.

Inline streams (`Stream(..., inline=True)`): for a backend whose I/O runs on the caller's own event loop
(an engine upstream, attached to the server's loop), the strategy runs on that loop's thread in a
greenlet instead of a worker thread. Where the strategy waits for the engine (`run_inline`), the greenlet
hands the loop back and resumes when the engine's coroutine is done: no thread hop per request and no
contention for the interpreter lock between the loop and dozens of waiting threads in a burst. A strategy
is plain blocking code; greenlets (the library SQLAlchemy's asyncio layer rests on) let it wait on a
coroutine without being rewritten as one.
"""

from __future__ import annotations

import os
import queue
import threading
from contextvars import copy_context
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

from .backends.sinks import CURRENT_TAP, Cancellation, Sink
from .errors import Cancelled
from .types import first_stop

if TYPE_CHECKING:
    from .formats import ThinkingFormat
    from .types import Result

Kind = Literal["reasoning", "content"]
# ("reasoning" | "content", text) and ("logprobs", [Scored, ...]), then ("done", Result) or ("error", exception);
# before any of them,
# ("open", None) once when the backend's engine has accepted the request (its response started), so a
# server can start its own response before the first token
Event = tuple[str, Any]


class Splitter:
    """Incremental reasoning / answer split of a growing assistant text, by the format's own `split`.

    A possible partial tag at the end is held back until the next piece decides it. The common piece (no
    `<` in it, no tag pending) only extends the open part, reasoning or answer: that case skips the full
    re-split, which a proxy would otherwise pay once per token on a text that grows with the stream. That
    piece costs nothing per character already streamed (in the answer too, and all of a model without a
    thinking mode): the text is kept in pieces (joined when a split reads it), and the open part's stripped
    text grows by what the piece adds, its trailing whitespace held back (`str +=` on an attribute copies the
    whole string: a 16,000-token thought cost 190 ms, quadratic in its length). An answer watched for tool
    calls or stop strings is looked at from where its stream stands, not whole (`_watch`)."""

    def __init__(self, fmt: "ThinkingFormat", tools: bool = False, stop: list[str] | None = None):
        self.fmt = fmt
        self.tools = tools  # the answer may hold tool calls: its text stops streaming where one opens
        self.stop = stop or []  # strings that end the answer: it stops streaming where one begins
        # every piece of markup a split takes out (the thought's tags, and what some families wrap answers in)
        self._markup = tuple(t for t in (fmt.open_tag, fmt.close_tag, *fmt.answer_markup) if t)
        self._marks = "".join({t[0] for t in self._markup})  # what markup starts with
        self._longest = max(map(len, self._markup), default=1) - 1  # the longest start of markup held back
        self._parts: list[str] = []  # the text so far, in pieces until it is read (`text`)
        self.sent = {"reasoning": "", "content": ""}
        # what each part streamed since `sent[kind]` was last settled (the open part grows here, `_grow`)
        self._grown: dict[Kind, list[str]] = {"reasoning": [], "content": []}
        self._ws = ""  # whitespace at the end of the growing part, not streamed until text follows it
        self._tail_kind: Kind | None = None  # the part that is still growing, once the split is settled
        # an answer watched for calls or stops (`_watch`): its text after what was streamed of it, and whether
        # a call or a stop string was met in it (nothing more of it streams)
        self._rest = ""
        self._ended = False

    @property
    def text(self) -> str:
        """The assistant text so far."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _sent(self, kind: Kind) -> str:
        grown = self._grown[kind]
        if grown:
            self.sent[kind] += "".join(grown)
            grown.clear()
        return self.sent[kind]

    def _held(self, text: str) -> str:
        """`text` without the longest end of it that starts some markup (and is not all of it), which the next
        piece decides: such an end starts with a character markup starts with."""
        tail = text[-self._longest:] if self._longest else ""
        for i, c in enumerate(tail):
            if c in self._marks:
                rest = tail[i:]
                if any(len(rest) < len(tag) and tag.startswith(rest) for tag in self._markup):
                    return text[:len(text) - len(rest)]
        return text

    def feed(self, piece: str) -> list[tuple[Kind, str]]:
        self._parts.append(piece)
        if not self.fmt.has_thinking:  # a model without a thinking mode: all it writes is the answer
            return self._watch(piece) if self._watched else self._grow("content", piece)
        kind = self._tail_kind
        if kind is not None and not any(c in piece for c in self._marks):
            # no tag can start or end in this piece, and none was pending: the open part grows by it
            if kind == "reasoning" or not self._watched:
                return self._grow(kind, piece)
            return self._watch(piece)
        held = self._held(self.text)
        reasoning, answer, closed = self.fmt.split(held)
        out = self._diff(reasoning, answer if closed else "")
        self._settle(held, closed)  # after the diff: what was streamed of the open part is all of it now
        return out

    def _settle(self, held: str, closed: bool) -> None:
        """Remember which part grows with the next plain piece (None while a partial tag is held back)."""
        f = self.fmt
        self._tail_kind = None
        if held != self.text:
            return
        if closed:
            if f.close_tag in held:
                answer = held.partition(f.close_tag)[2]
            elif f.open_tag not in held and not f.untagged_is_reasoning:
                answer = held
            else:
                return
            for m in f.answer_markup:
                answer = answer.replace(m, "")
            if self._watched:
                self._watch_from(answer)
                return
            self._from(answer, "content")
        elif (f.open_tag and f.open_tag in held) or f.untagged_is_reasoning:
            self._from(held.split(f.open_tag, 1)[1] if f.open_tag and f.open_tag in held else held, "reasoning")

    @property
    def _watched(self) -> bool:
        """The answer's stream stops at a tool call or a stop string (`_watch`)."""
        return self.tools or bool(self.stop)

    def _from(self, part: str, kind: Kind) -> None:
        """`part` (markup taken off) grows with the next plain piece, if what was streamed of it is its
        stripped text (else every piece is split again)."""
        if part.strip() == self._sent(kind):
            self._tail_kind = kind
            self._ws = part[len(part.rstrip()):] if part.strip() else part

    def _watch_from(self, answer: str) -> None:
        """A watched answer (markup taken off) grows with the next plain piece (`_watch`), if what can stream of
        it (`_cut`) begins with what was streamed (else every piece is split again). What follows that is its
        rest, looked at with the next piece (the split that settled it streamed what could stream of it)."""
        text, sent = answer.lstrip(), self._sent("content")
        if self._cut(text.rstrip())[0].startswith(sent):
            self._tail_kind, self._rest, self._ended = "content", text[len(sent):], False

    def _watch(self, piece: str) -> list[tuple[Kind, str]]:
        """The delta of an answer whose stream ends at a tool call or a stop string (`_watched`), as
        `_diff_one` gives it for the whole answer, worked out from the text after what was streamed
        (`_rest`): what was streamed holds neither, nor the start of one, so the first of them begins in the
        rest. The rest stays a few characters long (what is held back), so a piece costs its own length: the
        whole answer looked at again per piece cost 57 us a token at 8,000 tokens with both watched, 12 now
        (`benchmarks/stream_split.py`). Pieces of whitespace alone still grow the rest."""
        if self._ended:
            return []
        rest = self._rest + piece
        if not (self.sent["content"] or self._grown["content"]):
            rest = rest.lstrip()
        out, self._ended = self._cut(rest.rstrip())
        self._rest = "" if self._ended else rest[len(out):]
        if not out:
            return []
        self._grown["content"].append(out)
        return [("content", out)]

    def _cut(self, text: str, final: bool = False) -> tuple[str, bool]:
        """What of a watched answer's `text` can stream, and whether a tool call or a stop string ends its
        stream there (nothing after it ever streams). A `final` answer was cut at its stop string already."""
        out, ended = text, False
        if self.tools:  # a call met: the stream ends before it, whatever follows
            out, ended = _before_tool_call(out)
        if self.stop and not final:  # a stop string met, and none that may begin sooner pending: it ends there
            at = first_stop(out, self.stop)
            out = _before_stop(out, self.stop)
            ended = ended or len(out) == at
        return out, ended

    def _grow(self, kind: Kind, piece: str) -> list[tuple[Kind, str]]:
        """The growing part's stripped text extended by `piece` (which holds no markup), as `_diff_one`
        would stream it: whitespace at its end waits for the text after it, and none leads the part."""
        text = self._ws + piece
        body = text.rstrip()
        if not body:
            self._ws = text
            return []
        self._ws = text[len(body):]
        grown = self._grown[kind]
        if not self.sent[kind] and not grown:
            body = body.lstrip()
        grown.append(body)
        return [(kind, body)]

    def finish(self, reasoning: str, answer: str) -> list[tuple[Kind, str]]:
        return self._diff(reasoning, answer, final=True)

    def _diff_one(self, kind: Kind, full: str, final: bool = False) -> list[tuple[Kind, str]]:
        if kind == "content" and self._watched:
            full = self._cut(full, final)[0]
        sent = self._sent(kind)
        if len(full) > len(sent) and full.startswith(sent):
            self.sent[kind] = full
            return [(kind, full[len(sent):])]
        return []

    def _diff(self, reasoning: str, answer: str, final: bool = False) -> list[tuple[Kind, str]]:
        return self._diff_one("reasoning", reasoning) + self._diff_one("content", answer, final)


def _before_stop(text: str, stop: list[str]) -> str:
    """What of the answer so far can be streamed: up to where the first stop string in it begins
    (`Sampling.cut`'s rule), and never what may be the start of one that would begin sooner (held back until
    the next piece decides: with stops "b" and "abc", "xab" streams "x")."""
    at = first_stop(text, stop)
    at = len(text) if at < 0 else at
    # the earliest start of a text's end that some stop string begins with
    for start in range(max(0, len(text) - max(map(len, stop)) + 1), at):
        if any(s.startswith(text[start:]) for s in stop):
            return text[:start]
    return text[:at]


def _before_tool_call(text: str) -> tuple[str, bool]:
    """The answer up to its first tool call, or to what may be the start of one (held back until decided),
    without trailing whitespace (which a call may follow; it leaves with the next word), and whether a call
    begins in it: the calls reach the client as `tool_calls`, never as text."""
    from .formats.tools import OPEN

    at = text.find(OPEN)
    if at >= 0:
        return text[:at].rstrip(), True
    for k in range(min(len(OPEN) - 1, len(text)), 0, -1):
        if text.endswith(OPEN[:k]):
            return text[:-k].rstrip(), False
    return text.rstrip(), False



class Tap:
    """One request's stream: follows its assistant text across the strategy's generate calls."""

    def __init__(self, fmt: "ThinkingFormat", emit: Callable[[Kind, str], None],
                 on_token: Callable[[], None] | None = None, tools: bool = False, stop: list[str] | None = None,
                 logprobs: int | None = None):
        self.splitter = Splitter(fmt, tools, stop)
        self.logprobs = logprobs  # alternatives per answer token the client asked for; None: none asked
        self._seen = ""  # the end of the assistant text as the scored tokens wrote it (for the end tag)
        self._answering = not fmt.has_thinking or not fmt.close_tag  # the scored tokens are the answer's now
        self.logprobs_sent: list = []  # the answer's tokens streamed so far
        self._answer_text = ""  # their text, for the request's stop strings
        self._ended = False  # a stop string ended the answer
        self._pending: str | None = None  # a speculative call's assistant text, not yet known to be the turn's
        self.fmt = fmt
        self.emit = emit
        self.on_token = on_token
        self.cancellation = Cancellation()
        self._streamed: list[str] | None = None  # the assistant text streamed so far (prefill included), in pieces
        self.tokens = 0  # tokens generated for this request, speculative ones included
        self._lock = threading.Lock()
        self._opened = False

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        return self.cancellation.on_cancel(callback)

    def cancel(self) -> None:
        self.cancellation.set()

    def opened(self) -> None:
        if not self._opened:
            self._opened = True
            self.emit("open", None)

    @property
    def streamed(self) -> str | None:
        """The assistant text streamed so far (prefill included); None before the first generate call."""
        with self._lock:  # (the pieces are joined in place)
            parts = self._streamed
            if parts is not None and len(parts) > 1:
                parts[:] = ["".join(parts)]
            return None if parts is None else (parts[0] if parts else "")

    def advance(self, piece: str) -> None:
        with self._lock:
            if self._streamed is None:
                self._streamed = []
            self._streamed.append(piece)
            for kind, text in self.splitter.feed(piece):
                self.emit(kind, text)

    def open(self, prompt: str, n: int = 1, draft: bool = False) -> Sink:
        if self.cancellation.is_set():
            raise Cancelled("the request was cancelled")
        live = n == 1 and not draft
        assistant = self.fmt.assistant_part(prompt)
        if assistant is None:
            return Sink(self, False)
        if self._pending is not None:  # what the last speculative call's prompt shares with this one's is the turn's
            confirmed = os.path.commonprefix([self._pending, assistant])
            self._pending = None
            if self.streamed is None or (confirmed.startswith(self.streamed) and len(confirmed) > len(self.streamed)):
                self.advance(confirmed[len(self.streamed or ""):])
        if not live:  # its prompt may hold text the strategy will not keep (a probe, another mode's attempt):
            if self.streamed is None or assistant.startswith(self.streamed):  # held until the next call agrees
                self._pending = assistant
            return Sink(self, False)
        if self.logprobs is not None and self.fmt.has_thinking and self.fmt.close_tag:  # where this call starts
            self._answering = self.fmt.close_tag in assistant  # (a strategy may reopen a closed thought: "Wait")
            self._seen = assistant[-len(self.fmt.close_tag):]
        if self.streamed is None:  # the first call: its assistant text is the template's prefill
            self.advance(assistant)
        elif assistant.startswith(self.streamed):  # text injected by the strategy since the last call
            if len(assistant) > len(self.streamed):
                self.advance(assistant[len(self.streamed):])
        else:  # the strategy went back on what was streamed: stream nothing more live
            live = False
        return Sink(self, live)

    def scored(self, tokens: list) -> None:
        """Generated tokens with their log probabilities (`sinks.Scored`): those of the answer are streamed."""
        if self.logprobs is None:
            return
        out = []
        stop = self.splitter.stop
        for token in tokens:
            if self._answering:
                if self._ended:
                    break
                if stop:  # the answer ends where a stop string begins: a token that writes none of it is not its
                    at = first_stop(self._answer_text + token[0], stop)
                    if at >= 0:
                        self._ended = True
                        if at <= len(self._answer_text):
                            break
                if self.logprobs_sent or out or token[0].strip():  # from the answer's first visible character
                    out.append((token[0], token[1], token[2][:self.logprobs]))
                    self._answer_text += token[0]
            else:
                tag = self.fmt.close_tag
                self._seen = (self._seen + token[0])[-(len(tag) + len(token[0])):]
                self._answering = tag in self._seen
        if out:
            with self._lock:
                self.logprobs_sent.extend(out)
                self.emit("logprobs", out)

    def finish(self, result: "Result") -> None:
        with self._lock:
            for kind, text in self.splitter.finish(result.reasoning, result.answer):
                self.emit(kind, text)
            final = [(t.token, t.logprob) for t in result.logprobs or []]
            sent = [(t, lp) for t, lp, _ in self.logprobs_sent]
            if self.logprobs is not None and final[:len(sent)] == sent and len(final) > len(sent):
                # what the live stream could not tell leaves now (where the stream went its own way, the
                # client has what it was sent, and the result's own list is in no stream event)
                self.emit("logprobs", [t.scored() for t in result.logprobs[len(sent):]])



class WorkerPool:
    """At most `size` daemon threads that serve streams, kept for reuse (a server owns one): starting a
    thread blocks its starter until the thread runs, which on a busy machine stalls an event loop that
    starts many at once. Jobs beyond `size` wait for a thread. A job that raises does not end its thread."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"a worker pool needs at least one thread, not {size}")
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = 0
        self._threads = 0
        self._lock = threading.Lock()

    def prestart(self, n: int) -> None:
        """Start idle threads until there are `n` threads (at most `size`), ready before a burst."""
        with self._lock:
            while self._threads < min(n, self.size):
                self._spawn(idle=True)

    @property
    def threads(self) -> int:
        return self._threads

    def _spawn(self, idle: bool) -> None:
        self._threads += 1
        self._idle += idle
        threading.Thread(target=self._work, daemon=True, name="thinkgate-stream").start()

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._threads < self.size:
                self._spawn(idle=False)
        self._jobs.put(fn)

    def _work(self) -> None:
        while True:
            fn = self._jobs.get()
            try:
                fn()
            except BaseException:  # noqa: BLE001 - a job's own failure is its caller's; the thread serves on
                pass
            finally:
                fn = None  # an idle thread must not keep its last request (and all it holds) alive
                with self._lock:
                    self._idle += 1



class Stream:
    """A request being served in its own thread (one of `pool`'s, else a thread of its own). Iterate it
    (blocking) for events, or pass `on_event` to receive them from the serving thread (e.g. to hand them to
    an event loop). `cancel()` stops it.

    Its `Tap` is made when first needed (the first generate call's sinks, a cancellation, the end): the stream
    itself stands in the context for it (`open`, `cancelled`), so that an engine's request, which leaves
    before the sinks are opened (`OpenAICompatBackend.generate`), does not wait for it."""

    def __init__(self, run: Callable[[], "Result"], fmt: "ThinkingFormat",
                 on_event: Callable[[Event], None] | None = None, on_token: Callable[[], None] | None = None,
                 inline: bool = False, pool: WorkerPool | None = None, tools: bool = False,
                 stop: list[str] | None = None, logprobs: int | None = None):
        self._queue: queue.Queue[Event] | None = None if on_event else queue.Queue()
        self._on_event = on_event or self._queue.put  # type: ignore[union-attr]
        self._new_tap = lambda: Tap(fmt, lambda kind, text: self._on_event((kind, text)), on_token=on_token,
                                    tools=tools, stop=stop, logprobs=logprobs)
        self._tap: Tap | None = None
        self._tap_lock = threading.Lock()
        self.result: Result | None = None
        ctx = copy_context()
        ctx.run(CURRENT_TAP.set, self)
        # held until the request is served: a lock as a one-shot event (`wait`), 50 times cheaper to make than a
        # `threading.Event`; `_done` says it was released (a waiter may hold it for a moment)
        self._finished = threading.Lock()
        self._finished.acquire()
        self._done = False
        if inline:  # on the caller's loop thread, until the strategy first waits for the engine
            from greenlet import greenlet

            g = greenlet(lambda: ctx.run(self._serve, run))
            g.thinkgate_inline = True
            g.switch()
        elif pool is not None:
            pool.submit(lambda: ctx.run(self._serve, run))
        else:
            threading.Thread(target=lambda: ctx.run(self._serve, run), daemon=True, name="thinkgate-stream").start()

    @property
    def tap(self) -> Tap:
        """The request's tap, made at the first use (by whichever thread comes first)."""
        tap = self._tap
        if tap is None:
            with self._tap_lock:
                if self._tap is None:
                    self._tap = self._new_tap()
                tap = self._tap
        return tap

    def open(self, prompt: str, n: int = 1, draft: bool = False) -> Sink:
        """The tap's `open`: what `sinks_for` asks of the context's tap."""
        return self.tap.open(prompt, n, draft)

    @property
    def cancelled(self) -> bool:
        """The request was cancelled (`cancel`): what `sinks.streaming` asks of the context's tap."""
        tap = self._tap
        return tap is not None and tap.cancellation.is_set()

    def _serve(self, run: Callable[[], "Result"]) -> None:
        try:
            self.result = run()
            self.tap.finish(self.result)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which decides
            self._end()
            self._on_event(("error", e))
            return
        self._end()
        self._on_event(("done", self.result))

    def _end(self) -> None:
        self._done = True
        self._finished.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the request is served (or failed, or stopped after `cancel`), at most `timeout` seconds
        (None: no limit); whether it was, as `threading.Event.wait` says it."""
        if self._done:
            return True
        if timeout is not None and timeout <= 0:
            return self._done
        if not self._finished.acquire(timeout=-1 if timeout is None else timeout):
            return self._done
        self._finished.release()
        return True

    def cancel(self) -> None:
        self.tap.cancel()

    def __iter__(self) -> Iterator[Event]:
        if self._queue is None:
            raise TypeError("this stream delivers its events to on_event")
        while True:
            event = self._queue.get()
            yield event
            if event[0] in ("done", "error"):
                return
