"""OpenAI-compatible engines upstream (vLLM, SGLang, llama.cpp server, Ollama, another thinkgate serve).

Raw-prefix mode (the default) uses the engine's `/v1/completions`: the chat template is rendered here
from the model's own tokenizer folder (`--tokenizer`), and the engine continues the raw text, so every
strategy works — budget forcing, early exit and parallel sampling pause, inject and continue exactly as
on a local model. Log probabilities come from the completions `logprobs` field; whether the engine
returns them is asked once (a one-token request) the first time a strategy checks the capability.
Streaming uses the engine's SSE stream, one piece per chunk; a cancelled sink closes the connection,
which makes the engine abort the request. In `thinkgate serve` the engine's HTTP runs on the server's own
event loop (`attach`) and so do the strategies (inline greenlets, see streaming.py): a streamed request is
written to a kept-alive connection from the request handler itself, and the sink hears `opened()` when
the engine answers, so the server's response starts before the first token.

Engines that only serve `/v1/chat/completions` are reached by the server's chat fallback instead
(`server/upstream_chat.py`), over the same `Upstream` connection code (`upstream.py`).

Forced thinking: a model that decides for itself whether to think may close its thought right after the
thinking prefill; a local backend bans that first token (`GenParams.ban_first`), but the completions API
has no per-position ban (`logit_bias` holds for every token), so upstream the thinking prefill alone asks
for thinking and such a model may still answer without it. Reasoning models that always think are
unaffected.

Errors: the engine unreachable -> `UpstreamUnreachable`; no answer within the timeout ->
`UpstreamTimeout`; an HTTP error -> `UpstreamError` with the engine's status and message.

Two limits hold for every request to the engine: `timeout`, the whole request's (headers and body: an
engine that trickles a token every few seconds cannot hold a caller past it), and `idle_timeout` (default:
`timeout`), the longest the engine may stay silent.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import threading
from pathlib import Path
from typing import Any

from ..errors import Cancelled, UpstreamError
from ..types import Generation
from .base import (LOGPROBS, RAW_PREFIX, SELF_CERTAINTY, STREAM, Backend, GenParams, load_tokenizer, scored,
                   tokenizer_counts)
from .http1 import MAX_BODY
from .sinks import inline_greenlet, run_inline, sinks_for, streaming
from .upstream import Upstream
from .wire import RECOUNT_SLACK, Room, completion_choices, token_prefix, usage_problem

log = logging.getLogger("thinkgate.upstream")

# texts longer than this together are counted off a server's loop: Qwen2's tokenizer takes about 0.7 us a
# character here (0.36 ms for 512), thinkgate/models/tiny's 1.7 us; the hop to a thread and back, 65 us
THREAD_COUNT_CHARS = 512


class OpenAICompatBackend(Backend):
    name = "openai_compat"

    def __init__(self, base_url: str, model: str, tokenizer: str | Path, api_key: str | None = None,
                 timeout: float = 600.0, concurrency: int = 64, idle_timeout: float | None = None,
                 max_body: int = MAX_BODY, score_answers: bool = False):
        """`score_answers`: ask the engine for log probabilities on every call, so every answer has a
        confidence (`GenParams.score`); else only where a request or a strategy needs them. They cost the
        engine time: llama-cpp-python's server writes tokens 2.7x slower with `logprobs` 1 (SmolLM2-135M, one
        thread), vLLM about 17% slower with 5 in its own measurement."""
        self.tokenizer = load_tokenizer(tokenizer)
        self.score_answers = score_answers
        self.model = model
        self.model_id = f"{base_url.rstrip('/')}#{model}"
        self.calls = Upstream(base_url, api_key, timeout, concurrency=concurrency, idle_timeout=idle_timeout,
                              max_body=max_body)
        self._caps: frozenset[str] | None = None
        self._caps_lock = threading.Lock()

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        with self._caps_lock:
            if self._caps is None:
                caps = {RAW_PREFIX, STREAM}
                out = self.calls.run(self.calls.post("/v1/completions", {
                    "model": self.model, "prompt": "Hi", "max_tokens": 1, "temperature": 0, "logprobs": 1}))
                choice = (out.get("choices") or [{}])[0]
                lp = choice.get("logprobs")
                if lp and lp.get("token_logprobs"):
                    caps.add(LOGPROBS)
                    # an engine that sees the whole distribution and says its self-certainty (thinkgate serve)
                    own = choice.get("thinkgate")
                    if isinstance(own, dict) and isinstance(own.get("self_certainty"), (int, float)):
                        caps.add(SELF_CERTAINTY)
                self._caps = frozenset(caps)
            return self._caps

    def count_tokens(self, text: str) -> int:
        return tokenizer_counts(self.tokenizer, [text])[0] if text else 0  # the Rust tokenizer, no Python wrapper

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """As the base class; from a strategy running on the server's loop (inline), texts longer together
        than `THREAD_COUNT_CHARS` are counted in a worker thread, so the loop relays other requests' tokens
        meanwhile (short ones are counted at once: the hop to a thread and back costs more than they do)."""
        if inline_greenlet() is not None and sum(map(len, texts)) > THREAD_COUNT_CHARS:
            import asyncio

            return run_inline(self.calls.loop, asyncio.to_thread(Backend.count_tokens_many, self, texts))
        return super().count_tokens_many(texts)

    def _body(self, prompt: str | list[str], params: GenParams, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "max_tokens": params.max_tokens,
                                "temperature": params.temperature, "top_p": params.top_p, "n": params.n,
                                "stream": stream}
        if params.top_k:
            body["top_k"] = params.top_k
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs:
            body["logprobs"] = max(1, params.top_logprobs)
        if stream:  # engines that count tokens say so in a last chunk
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None,
                 seeds: list[int | None] | None = None) -> list[list[Generation]]:
        """As `Backend.generate`; `seeds`: a seed per prompt (the samples of one prompt asked one by one, each
        streamed to its own sink)."""
        import asyncio

        params = scored(params, self.score_answers)
        if params.logprobs and LOGPROBS not in self.capabilities:  # an engine without them may refuse the field
            params = params.model_copy(update={"logprobs": False, "top_logprobs": 0})
        # a stream's own sinks for one continuation a prompt are opened after the requests were written (below:
        # at once from a strategy on the loop itself): what the stream does with the prompts (its prefill split and
        # relayed) is no part of the time to first token
        later = sinks is None and params.n == 1 and streaming()
        if sinks is None and not later:
            sinks = sinks_for(prompts, params.n, params.draft)
        sinks = sinks or [None] * len(prompts)
        n = params.n
        if n > 1 and len(sinks) == len(prompts) * n and any(s is not None for s in sinks):  # a sink a sample:
            # each sample streamed on its own, with its own seed
            one = [params.model_copy(update={"n": 1, "seed": None if params.seed is None else params.seed + k})
                   for k in range(n)]
            rows = self.generate([p for p in prompts for _ in range(n)], one[0], sinks, seeds=[
                x.seed for _ in prompts for x in one])
            return [[g for row in rows[i * n:(i + 1) * n] for g in row] for i in range(len(prompts))]
        # one request per prompt, at most `concurrency` in flight: engines batch concurrent requests
        # themselves, and not every engine takes a list of prompts
        streamed = later or (params.n == 1 and any(s is not None for s in sinks))
        sent: list = []  # requests written to kept-alive connections, until their reading takes them
        if streamed:
            bodies = [self._body(p, params if seeds is None else params.model_copy(update={"seed": s}), stream=True)
                      for p, s in zip(prompts, seeds or [None] * len(prompts))]
            sent = [None] * len(bodies)
            try:  # from a strategy running on the loop itself the requests leave now, not when the task starts
                if inline_greenlet() is not None:
                    for i, b in enumerate(bodies):
                        sent[i] = self.calls.begin("/v1/completions", b)
                if later:
                    sinks = sinks_for(prompts, 1, params.draft)
            except BaseException:  # (a body that cannot be sent, a stream cancelled meanwhile) what left is given up
                for x in sent:
                    self.calls.abandon(x)
                raise

            async def one(i: int) -> Generation:
                x, sent[i] = sent[i], None  # the connection is its reading's from here (`Upstream.events`)
                return await self._stream_one(bodies[i], params, sinks[i], x)

            async def calls():
                if len(bodies) == 1:
                    return [[await one(0)]]
                return [[g] for g in await asyncio.gather(*[one(i) for i in range(len(bodies))])]
        else:
            async def calls():
                return await asyncio.gather(*[self._complete(p, params) for p in prompts])

        async def work():
            # a request that is cancelled (its client left) stops waiting for the engine at once: the task is
            # cancelled, which closes its connections, and the engine aborts the request
            task, loop = asyncio.current_task(), asyncio.get_running_loop()
            stops = [s.on_cancel(lambda: loop.call_soon_threadsafe(task.cancel)) for s in sinks if s is not None]
            try:
                done = await calls()
                if params.stop and any("stop_unreported" in g.extra for row in done for g in row):
                    await self._which_stops(prompts, done, params)
                return done
            finally:
                for stop in stops:
                    stop()
                for x in sent:  # written, and its reading never started (cancelled first): given up
                    self.calls.abandon(x)

        try:
            rows = self.calls.run(work())
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            if any(s is not None and s.cancelled for s in sinks):
                raise Cancelled("the request was cancelled") from None
            raise
        if not streamed:
            for row, s in zip(rows, sinks):  # not streamed: count the tokens now
                if s is not None:
                    for _ in range(sum(g.tokens for g in row)):
                        s.write("")
        return rows

    async def _which_stops(self, prompts: list[str], rows: list[list[Generation]], params: GenParams) -> None:
        """For each generation that stopped without the engine saying why, whether a stop string ended it
        (`Generation.stop` set, its tokens added where they were counted here) or the model ended its turn: the
        engine is asked to continue the text by the longest stop string's tokens and one more, greedily, with
        no stop strings; a continuation that starts with a stop string names it (the one that ends first). A
        strategy that stops at a step's end or at a thought's end tag needs to know which (an engine that
        reports it, as vLLM and SGLang do, is never asked). Greedy decoding answers exactly; a sampled one is
        asked greedily: an empty continuation is the end of the turn, one that starts with a stop string names
        it, and any other says only that a stop string ended it, which one unknown (`Generation.extra`
        "stop_unknown": the text is whole, the stop string not known; a strategy reads it as a step's end)."""
        import asyncio

        todo = [(p, g) for p, row in zip(prompts, rows) for g in row if "stop_unreported" in g.extra]
        ask = params.model_copy(update={"n": 1, "stop": [], "temperature": 0.0, "logprobs": False, "ban_first": [],
                                        "max_tokens": max(self.count_tokens(x) for x in params.stop) + 1})
        outs = await asyncio.gather(*[self.calls.post("/v1/completions", self._body(p + g.text, ask, stream=False))
                                      for p, g in todo])
        by_end = sorted(params.stop, key=len)  # of two stop strings a continuation starts with, the shorter ends first
        for (_, g), out in zip(todo, outs):
            info = g.extra.pop("stop_unreported")
            got = completion_choices(out)
            after = (got[0].get("text") or "") if got else ""
            g.stop = next((x for x in by_end if after.startswith(x)), None)
            if g.stop is not None and info["counted_here"]:
                g.tokens += self.count_tokens(g.stop)
            elif g.stop is None and after:  # not the end of the turn (that continues with nothing): a sampled
                g.extra["stop_unknown"] = True  # stop string the greedy continuation does not begin with

    async def _complete(self, prompt: str, params: GenParams) -> list[Generation]:
        """`params.n` continuations of one prompt. An engine that returns fewer choices than `n` (llama.cpp's
        server ignores `n` on /v1/completions) gets the rest asked for as separate requests, concurrently,
        each with its own seed (`seed + k`, when a seed is set) so that sampled ones differ."""
        import asyncio

        out = await self.calls.post("/v1/completions", self._body(prompt, params, stream=False))
        choices = sorted(completion_choices(out), key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)
        if not choices or len(choices) > params.n:
            raise UpstreamError(f"upstream returned {len(choices)} choices for n={params.n}")
        tokens, prompt_tokens = self._usage(out)
        gens = [self._generation(c, params, tokens if len(choices) == 1 else None, prompt_tokens=prompt_tokens)
                for c in choices]
        if len(gens) < params.n:
            rest = [params.model_copy(update={"n": 1, "seed": None if params.seed is None else params.seed + k})
                    for k in range(len(gens), params.n)]
            more = await asyncio.gather(*[self.calls.post("/v1/completions", self._body(prompt, p, stream=False))
                                          for p in rest])
            for o, p in zip(more, rest):
                got = completion_choices(o)
                if len(got) != 1:
                    raise UpstreamError(f"upstream returned {len(got)} choices for n=1")
                tokens, prompt_tokens = self._usage(o)
                gens.append(self._generation(got[0], p, tokens, prompt_tokens=prompt_tokens))
        return gens

    def _usage(self, obj: dict) -> tuple[int | None, int | None]:
        """The engine's counts of the tokens it wrote and of the prompt's, when it sent sound ones (else None:
        counted here)."""
        usage = obj.get("usage")
        problem = usage_problem(usage)
        if problem is not None:
            log.warning("upstream %s: %s; its tokens are counted here instead", self.calls.base_url, problem)
            return None, None
        return (usage.get("completion_tokens"), usage.get("prompt_tokens")) if usage else (None, None)

    async def _stream_one(self, body: dict, params: GenParams, sink, sent: tuple | None = None) -> Generation:
        """One streamed continuation. An engine that writes past `max_tokens` is cut off there (`wire.Room`):
        the connection is closed (the engine stops) and the generation ends with finish reason "length"."""
        text, finish, stop_reason, lps, tops, toks = [], None, None, [], [], []
        reported = False  # the engine's last choice had a stop_reason field (null for an end of sequence)
        usage, own = None, None
        events = self.calls.events("/v1/completions", body, sent, on_open=sink.opened if sink is not None else None)
        stopped = False
        room = Room(params.max_tokens, self.tokenizer)
        async with contextlib.aclosing(events):  # leaving early closes the connection: the engine stops
            async for batch in events:  # the chunks that arrived together
                for chunk in batch:
                    choices = completion_choices(chunk)
                    if chunk.get("usage") is not None:  # vLLM sends "usage": null in every chunk before its last
                        usage = chunk["usage"]
                    for c in choices:
                        lp = c.get("logprobs")
                        scored = None
                        if lp and lp.get("token_logprobs"):
                            n = len(lp["token_logprobs"])
                            lps.extend(lp["token_logprobs"])
                            tops.extend(lp.get("top_logprobs") or [None] * n)
                            toks.extend(lp.get("tokens") or [None] * n)
                            if sink is not None and params.logprobs:
                                scored = _scored(lp, params.top_logprobs)
                        piece = c.get("text") or ""
                        if piece:
                            piece, over = room.take(piece)
                            if piece:
                                text.append(piece)
                                if sink is not None:
                                    sink.write(piece, scored)
                            if over:  # the engine did not stop at max_tokens
                                finish, stopped = "length", True
                                break
                        elif scored and sink is not None:  # tokens whose text the engine holds back: told all the same
                            sink.write("", scored)
                        if c.get("finish_reason"):
                            finish, stop_reason = c["finish_reason"], stop_said(c)
                            reported = "stop_reason" in c or "matched_stop" in c
                        if isinstance(c.get("thinkgate"), dict):  # an upstream thinkgate's own figures
                            own = c["thinkgate"]
                    if stopped or (sink is not None and sink.cancelled):
                        stopped = True
                        break
                if stopped:
                    break
        tokens, prompt_tokens = (None, None) if stopped else self._usage({"usage": usage})
        choice = {"text": "".join(text), "finish_reason": finish or "length",
                  "logprobs": {"token_logprobs": lps, "top_logprobs": tops, "tokens": toks} if lps else None,
                  "thinkgate": own}
        if reported:
            choice["stop_reason"] = stop_reason
        return self._generation(choice, params, tokens=tokens, streamed=True, prompt_tokens=prompt_tokens)

    def _generation(self, choice: dict, params: GenParams, tokens: int | None = None,
                    streamed: bool = False, prompt_tokens: int | None = None) -> Generation:
        """`tokens`: the engine's own count of what it wrote, when it gave one (else counted here);
        `prompt_tokens`: its count of the prompt's (`Generation.prompt_tokens`). A whole
        answer longer than `max_tokens` (an engine that ignores it) is cut to its first `max_tokens` tokens
        with finish reason "length"; a streamed one was cut as it came (`_stream_one`), and what was streamed
        stays."""
        text = choice.get("text") or ""
        finish = "stop" if choice.get("finish_reason") == "stop" else "length"
        stop = stop_said(choice)
        stop = stop if isinstance(stop, str) and stop in params.stop else None
        # an engine that does not say why it stopped (neither vLLM's stop_reason nor SGLang's matched_stop:
        # llama.cpp's servers) may have ended its turn or met a stop string: `_which_stops` asks
        unreported = (finish == "stop" and stop is None and bool(params.stop)
                      and "stop_reason" not in choice and "matched_stop" not in choice)
        counted_here = tokens is None or tokens > params.max_tokens
        if counted_here:
            tokens = self.count_tokens(text) + (self.count_tokens(stop) if stop else 0)
        # the text encoded again may take a token or two more than the engine generated: past that, the engine
        # wrote more than it was asked to
        if tokens > params.max_tokens + RECOUNT_SLACK:
            if not streamed:
                text, tokens = token_prefix(self.tokenizer, text, params.max_tokens)[0], params.max_tokens
            finish, stop = "length", None
        gen = Generation(text=text, tokens=tokens, finish_reason=finish, stop=stop, prompt_tokens=prompt_tokens)
        if unreported and finish == "stop":
            gen.extra["stop_unreported"] = {"counted_here": counted_here}
        lp = choice.get("logprobs")
        if lp and lp.get("token_logprobs"):
            keep = [k for k, x in enumerate(lp["token_logprobs"]) if x is not None][:params.max_tokens]
            chosen = [lp["token_logprobs"][k] for k in keep]
            gen.token_logprobs = chosen
            dicts = lp.get("top_logprobs") or []
            dicts = [dicts[k] if k < len(dicts) and isinstance(dicts[k], dict) else {} for k in keep]
            gen.top_logprobs = [max(d.values()) if d else c for d, c in zip(dicts, chosen)]
            names = lp.get("tokens") or []
            if all(k < len(names) and isinstance(names[k], str) for k in keep):
                gen.pieces = [names[k] for k in keep]
            if params.top_logprobs:
                gen.alternatives = [_best(d, params.top_logprobs) for d in dicts]
            # engines return log p of a few tokens, not the whole distribution: the self-certainty is there only
            # where the engine computed it itself (thinkgate serve says it)
            own = choice.get("thinkgate")
            sc = own.get("self_certainty") if isinstance(own, dict) else None
            gen.self_certainty = float(sc) if isinstance(sc, (int, float)) and math.isfinite(sc) else None
            gen.tokens = max(gen.tokens, len(chosen)) if not stop else gen.tokens
        return gen


def _best(alternatives: dict, k: int) -> list[tuple[str, float]]:
    """The `k` most likely of an engine's {token: log p} at one step, most likely first."""
    return sorted(alternatives.items(), key=lambda kv: -kv[1])[:k]


def _scored(lp: dict, k: int) -> list | None:
    """The tokens of one streamed chunk as a stream is told them (`sinks.Scored`), or None where the engine
    did not name them."""
    chosen, names, dicts = lp["token_logprobs"], lp.get("tokens"), lp.get("top_logprobs") or []
    if not isinstance(names, list) or len(names) != len(chosen) or not all(isinstance(t, str) for t in names):
        return None
    return [(t, x, _best(dicts[j], k) if k and j < len(dicts) and isinstance(dicts[j], dict) else [])
            for j, (t, x) in enumerate(zip(names, chosen)) if x is not None]


def stop_said(choice: dict):
    """The stop string (or stop token id) an engine says ended a choice: vLLM's `stop_reason`, SGLang's
    `matched_stop`; None where it says none (an end of sequence) or has no such field."""
    said = choice.get("stop_reason")
    return said if said is not None else choice.get("matched_stop")
