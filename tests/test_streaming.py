"""Gate.stream on the shipped model: every strategy's streamed reasoning and answer add up to its Result,
reasoning comes before the answer, and a cancelled stream stops generating."""

import threading
import time

import pytest

from thinkgate.gate import Gate
from thinkgate.streaming import Cancelled, Splitter
from thinkgate.types import Request, Sampling

ADD = "What is 4821+397?"  # about 180 thinking tokens


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The stream's thread and the main thread share torch's pool; on a busy 2-core machine two intra-op
    threads slow a 3M-parameter model down many times, so this module runs torch on one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("spec", ["think", "nothink", "budget:max=20", "budget:min=60", "early_exit",
                                  "thinkless:at=12", "nothinking", "dont_overthink", "parallel:n=3"])
def test_streamed_deltas_add_up_to_the_result(backend, spec):
    gate = Gate(backend, spec)
    req = Request.of(ADD, sampling=Sampling(max_tokens=300, seed=1))
    events = list(gate.stream(req))
    kind, result = events[-1]
    assert kind == "done"
    kinds = [k for k, _ in events[:-1]]
    assert "".join(t for k, t in events if k == "reasoning") == result.reasoning
    assert "".join(t for k, t in events if k == "content") == result.answer
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning")  # all reasoning, then all content
    if spec in ("think", "budget:max=20", "early_exit"):
        assert kinds.count("reasoning") > 10  # token by token
    if spec in ("think", "budget:max=20"):  # the same result as the unstreamed call
        assert result == gate.run(req).model_copy(update={"wall_s": result.wall_s})


def test_splitter_holds_back_a_partial_tag(tokenizer):
    from thinkgate.formats import get_format

    s = Splitter(get_format("qwen3", tokenizer))
    assert s.feed("<think>\nab") == [("reasoning", "ab")]
    assert s.feed("c</thi") == [("reasoning", "c")]
    assert s.feed("nk>\n\n4") == [("content", "4")]


@pytest.mark.parametrize("family", ["qwen3", "deepseek_r1"])
def test_splitter_matches_a_full_resplit_on_every_piece(tokenizer, family):
    """The incremental splitter emits, piece by piece, exactly the diff of re-splitting the whole text."""
    import random

    from thinkgate.formats import get_format

    fmt = get_format(family, tokenizer)
    alphabet = ["<think>", "</think>", "<", "</", "</th", "ink>", "think", ">", "\n", " ", "  ", "a", "7", "x<y",
                "Wait", "\n\n", "<t", "hink>"]
    rng = random.Random(5)
    for _ in range(300):
        pieces = [rng.choice(alphabet) for _ in range(rng.randint(1, 25))]
        fast = Splitter(fmt)
        got, text, sent = [], "", {"reasoning": "", "content": ""}
        want = []
        for piece in pieces:
            got += fast.feed(piece)
            text += piece
            reasoning, answer, closed = fmt.split(fast._held(text))  # the reference: split it all again
            for kind, full in (("reasoning", reasoning), ("content", answer if closed else "")):
                if len(full) > len(sent[kind]) and full.startswith(sent[kind]):
                    want.append((kind, full[len(sent[kind]):]))
                    sent[kind] = full
        assert got == want, pieces


@pytest.mark.parametrize("family", ["qwen3", "granite", "none"])
@pytest.mark.parametrize("tools,stop", [(True, None), (False, ["STOP", "\n\nQ:"]), (True, ["b", "abc"])])
def test_an_answer_watched_for_calls_and_stops_streams_what_a_full_resplit_gives(tokenizer, family, tools, stop):
    """Where tool calls or stop strings end the answer's stream, each piece streams exactly the diff of
    splitting the whole text again and cutting its answer where a call or a stop begins (or may begin), and
    nothing after either."""
    import random

    from thinkgate.formats import get_format
    from thinkgate.streaming import _before_stop, _before_tool_call

    fmt = get_format(family, tokenizer)
    alphabet = ["<think>", "</think>", "<", "</th", "ink>", "\n", " ", "a", "b", "c", "x<y", "\n\n", "<tool_call>",
                "<tool", "_call>", "{}", "STOP", "ST", "OP", "Q:", "Q", ":", "<response>", "</response>", "<resp",
                "onse>"]
    rng = random.Random(11)
    # first, a stream that streamed an answer before its thought ("<tool" where "b" stops it), then answered
    # "<tool_call>...": what was streamed is not where a call may begin in the answer that follows
    fixed = [" \n", "<tool", "bc", ":", "</think>", "</response>", "<tool_call>", " ", "<think>", " \n", "</response>",
             "a", "\n", "STOP", "{}"]
    for pieces in [fixed, *([rng.choice(alphabet) for _ in range(rng.randint(1, 40))] for _ in range(400))]:
        splitter, text, sent, got, want = Splitter(fmt, tools=tools, stop=stop), "", {"reasoning": "", "content": ""}, [], []
        for piece in pieces:
            got += splitter.feed(piece)
            text += piece
            if fmt.has_thinking:
                reasoning, answer, closed = fmt.split(splitter._held(text))
                answer = answer if closed else ""
            else:
                reasoning, answer = "", text.strip()
            if tools:
                answer = _before_tool_call(answer)[0]
            if stop:
                answer = _before_stop(answer, stop)
            for kind, full in (("reasoning", reasoning), ("content", answer)):
                if len(full) > len(sent[kind]) and full.startswith(sent[kind]):
                    want.append((kind, full[len(sent[kind]):]))
                    sent[kind] = full
        assert got == want, pieces


def test_a_model_without_thinking_streams_its_stripped_text_piece_by_piece(tokenizer):
    """All a model without a thinking mode writes is the answer: each piece streams what it adds to the
    stripped text so far (whitespace at the end waits for what follows it)."""
    import random

    from thinkgate.formats import get_format

    fmt = get_format("none", tokenizer)
    assert not fmt.has_thinking
    rng = random.Random(7)
    for _ in range(200):
        pieces = [rng.choice(["a", " ", "\n", "  b", "<think>", "7 ", "\n\n", "x"]) for _ in range(rng.randint(1, 20))]
        splitter, text, sent, got, want = Splitter(fmt), "", "", [], []
        for piece in pieces:
            got += splitter.feed(piece)
            text += piece
            if len(text.strip()) > len(sent):
                want.append(("content", text.strip()[len(sent):]))
                sent = text.strip()
        assert got == want, pieces


def test_cancel_stops_the_generation(backend):
    gate = Gate(backend, "think")
    req = Request.of("Count the letters: " + "abc " * 60, sampling=Sampling(max_tokens=900))
    first = threading.Event()
    events = []

    def on_event(ev):
        events.append(ev)
        first.set()

    stream = gate.stream(req, on_event=on_event)
    assert first.wait(30)
    stream.cancel()
    assert stream.wait(30)
    assert stream.tap.tokens < 900
    assert events[-1][0] in ("done", "error")
    if events[-1][0] == "error":
        assert isinstance(events[-1][1], Cancelled)


def test_a_streams_wait_says_what_an_events_wait_says(backend):
    """`Stream.wait` (a lock standing for an event): not served yet, a wait of no time or of a negative time
    says so at once (as `threading.Event.wait` does, instead of blocking or raising); once it is served,
    every wait says so, however many wait together."""
    gate = Gate(backend, "think")
    go = threading.Event()
    stream = gate.stream(Request.of("2+2?", sampling=Sampling(max_tokens=4)), on_event=lambda ev: go.wait(30))
    t0 = time.monotonic()
    assert stream.wait(0) is False and stream.wait(-1) is False and stream.wait(-0.5) is False
    assert stream.wait(0.05) is False
    assert time.monotonic() - t0 < 5
    go.set()
    results = []
    waiters = [threading.Thread(target=lambda: results.append(stream.wait(30))) for _ in range(4)]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join(60)
    assert results == [True] * 4
    assert all(stream.wait(t) for t in (None, 0, -1, 5))


def test_relay_keeps_the_order_of_thread_and_loop_events_and_hands_them_on_in_bursts():
    """Events a serving thread put reach the response before a later one put on the loop itself, each
    exactly once, and everything put while the response was busy comes in one burst; a burst waits for
    an event when there is none; the end event releases the request's slot."""
    import asyncio

    from thinkgate.server.common import Relay

    ended = []

    async def main():
        relay = Relay(asyncio.get_running_loop(), on_end=lambda: ended.append(True))
        worker = threading.Thread(target=lambda: [relay.put(("reasoning", str(i))) for i in range(50)])
        worker.start()
        worker.join()  # all 50 are put, their wake-up is scheduled but has not run
        relay.put(("content", "x"))  # from the loop's own thread
        relay.put(("done", None))
        first = await relay.burst()
        await asyncio.sleep(0.01)  # let the scheduled wake-up run: nothing is left for it
        waiting = asyncio.ensure_future(relay.burst())
        await asyncio.sleep(0.01)
        pending = not waiting.done()
        threading.Thread(target=relay.put, args=(("content", "late"),)).start()
        return first, pending, await asyncio.wait_for(waiting, 5)

    first, pending, late = asyncio.run(main())
    assert [text for _, text in first] == [str(i) for i in range(50)] + ["x", None]
    assert pending and late == [("content", "late")]
    assert ended == [True]


def test_an_inline_stream_runs_its_strategy_on_the_loop_and_waits_on_coroutines():
    """`Stream(inline=True)`: the strategy runs on the calling loop's thread until it waits; `run_inline`
    hands the loop back (other tasks run meanwhile) and returns the coroutine's result or raises its error."""
    import asyncio

    from thinkgate.formats import Qwen3Format
    from thinkgate.backends.sinks import inline_greenlet, run_inline
    from thinkgate.streaming import Stream
    from thinkgate.types import Result, Usage

    async def main():
        loop = asyncio.get_running_loop()
        order, events = [], []

        async def engine(x):
            order.append(f"engine {x}")
            await asyncio.sleep(0.01)
            if x < 0:
                raise ValueError("engine failed")
            return x * 2

        def strategy():
            order.append(("strategy", threading.get_ident(), inline_greenlet() is not None))
            got = run_inline(loop, engine(21))
            try:
                run_inline(loop, engine(-1))
            except ValueError as e:
                order.append(str(e))
            return Result(reasoning="", answer=str(got), closed=True, finish_reason="stop", usage=Usage(),
                          strategy="test", mode="nothink")

        stream = Stream(strategy, Qwen3Format(None), on_event=events.append, inline=True)
        order.append("caller resumed")  # the strategy is waiting on the engine now
        other = asyncio.create_task(asyncio.sleep(0, result="other task ran"))
        for _ in range(400):
            if stream.wait(0):
                break
            await asyncio.sleep(0.005)
        return order, events, stream.result, await other

    order, events, result, other = asyncio.run(main())
    assert order[0] == ("strategy", threading.get_ident(), True)  # this thread, inside the greenlet
    assert order[1:] == ["engine 21", "caller resumed", "engine -1", "engine failed"] or \
        order[1:] == ["caller resumed", "engine 21", "engine -1", "engine failed"]
    assert result.answer == "42" and events[-1][0] == "done" and other == "other task ran"
    assert inline_greenlet() is None  # outside an inline stream


def test_open_is_announced_once_and_only_for_a_live_stream(tokenizer):
    """A backend's `sink.opened()` (the engine accepted the request) reaches the consumer once, before
    any delta, however many generate calls the strategy makes; a speculative (not live) sink says nothing."""
    from thinkgate.formats import Qwen3Format
    from thinkgate.backends.sinks import Sink
    from thinkgate.streaming import Tap

    events = []
    tap = Tap(Qwen3Format(tokenizer), lambda kind, text: events.append((kind, text)))
    Sink(tap, live=False).opened()
    assert events == []
    first, second = Sink(tap, live=True), Sink(tap, live=True)
    first.opened()
    first.write("<think>\nstep")
    second.opened()
    assert events == [("open", None), ("reasoning", "step")]


def test_stop_strings_end_the_answer_streamed_or_not(backend, tokenizer):
    """A request's stop strings cut the answer where the first begins (finish "stop") and leave the thought
    whole; a stream holds back what may be the start of one, so its deltas add up to the cut answer."""
    gate = Gate(backend, "think")
    whole = gate.run(Request.of(ADD, sampling=Sampling(max_tokens=300)))
    stop = whole.answer[2:4]  # inside the answer, two characters: a piece may end with its first
    cut = Request.of(ADD, sampling=Sampling(max_tokens=300, stop=["never there", stop]))
    result = gate.run(cut)
    assert result.answer == whole.answer[:2] and result.finish_reason == "stop"
    assert result.reasoning == whole.reasoning  # the thought is not cut, though the stop may be in it
    events = list(gate.stream(cut))
    assert events[-1][1].answer == result.answer
    assert "".join(t for k, t in events if k == "content") == result.answer
    assert "".join(t for k, t in events if k == "reasoning") == result.reasoning
    # pieces that end with the first characters of a stop string hold them until the next piece decides
    s = Splitter(gate.format, stop=["\n\nQ:"])
    got = [s.feed(p) for p in ["<think>\nhm\n</think>\n\n", "Paris", "\n", "\nQ", ":", " next"]]
    assert [d for ds in got for k, d in ds if k == "content"] == ["Paris"]
    assert s.finish("hm", "Paris") == []
    # one rule streamed or not: the answer ends where the first stop string begins, even one that completes
    # after another ("abc" begins before "b" in "xabc"): nothing streamed is taken back
    stops = ["b", "abc"]
    for text in ("xab", "xabc", "xabd"):
        s = Splitter(gate.format, stop=stops)
        streamed = "".join(d for p in ["<think>\nhm\n</think>\n\n", *text] for k, d in s.feed(p) if k == "content")
        final, _ = Sampling(stop=stops).cut(text)
        assert final.startswith(streamed), (text, streamed, final)
        assert streamed + "".join(d for _, d in s.finish("hm", final)) == final
