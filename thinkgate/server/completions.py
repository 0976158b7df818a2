"""`POST /v1/completions`: continue raw prompts, engine-style (no chat template, no strategy), through the
same backend (batched on a local model) — so that a thinkgate server can itself be another's engine."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import Request

from ..backends.base import GenParams
from ..backends.sinks import Cancellation
from .common import EventStream, Relay, as_api_error, new_id, sse, sse_pump, wait_or_cancel, whole_response
from .schemas import CompletionRequest


class _PieceSink:
    """A raw completion's sink: pieces go to the event loop as they are generated (`live`: a streamed
    request), and every token is counted; a cancelled request stops the backend (the sink contract:
    `backends/sinks.py`)."""

    def __init__(self, push, index: int, cancel: Cancellation, on_token, live: bool = True):
        self.push, self.index, self.cancel, self.on_token, self.live = push, index, cancel, on_token, live

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def on_cancel(self, callback):
        return self.cancel.on_cancel(callback)

    def opened(self) -> None:
        """An engine backend says its engine answered; a raw completion's response starts with its first
        piece, so there is nothing to do (the sink contract: `backends/sinks.py`)."""

    def write(self, piece: str, scored=None) -> None:
        """A streamed raw completion's log probabilities leave whole with its last chunk (`scored` unused)."""
        self.on_token()
        if piece and self.live:
            self.push(("piece", (self.index, piece)))


async def raw_completion(srv, body: CompletionRequest, prompts: list[str], params: GenParams,
                          request: Request):
    m = srv.metrics
    relay = Relay(asyncio.get_running_loop())
    push = relay.put
    cancel = Cancellation()
    started = time.perf_counter()

    live = body.stream and params.n == 1
    # one sink a prompt whenever a continuation is one (a client that leaves stops the work at once, streamed
    # or not); pieces go out only when streamed
    sinks = [_PieceSink(push, i, cancel, m.generated_tokens.inc, live) for i in range(len(prompts))] \
        if params.n == 1 else [None] * len(prompts)

    def work():
        try:
            out = srv.backend.generate(prompts, params, sinks=sinks)
            push(("done", out))
        except BaseException as e:  # noqa: BLE001 - handed to the response
            push(("error", e))
        finally:
            srv.release()

    srv.pool.submit(work)
    rid, created = new_id("cmpl-"), int(time.time())

    def choices(gens) -> list[dict]:
        out = []
        for i, row in enumerate(gens):
            for j, g in enumerate(row):
                c: dict[str, Any] = {"index": i * params.n + j, "text": g.text, "finish_reason": g.finish_reason,
                                     "stop_reason": g.stop, "logprobs": None}
                if params.logprobs and g.token_logprobs is not None:
                    tok = srv.backend.tokenizer
                    toks = g.pieces or [tok.decode([t]) for t in g.token_ids or []] or [""] * len(g.token_logprobs)
                    if g.alternatives:  # the `logprobs` most likely tokens at each step (at least the chosen one)
                        top = [dict(alts) for alts in g.alternatives]
                    else:
                        names = [tok.decode([t]) for t in g.top_ids or []] or toks
                        top = [{t: v} for t, v in zip(names, g.top_logprobs or [])]
                    offsets, at = [], 0
                    for t in toks:
                        offsets.append(at)
                        at += len(t)
                    c["logprobs"] = {"tokens": toks, "token_logprobs": g.token_logprobs, "top_logprobs": top,
                                     "text_offset": offsets}
                    c["thinkgate"] = {"self_certainty": g.self_certainty}
                out.append(c)
        return out

    def usage(gens) -> dict:
        pt = sum(srv.backend.count_tokens(p) for p in prompts)
        ct = sum(g.tokens for row in gens for g in row)
        return {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}

    base = {"id": rid, "object": "text_completion", "created": created, "model": srv.model_name}
    if not body.stream:
        kind, payload = await wait_or_cancel(relay, request, cancel.set, m.cancelled)
        if kind == "error":
            raise as_api_error(payload)
        m.requests.labels("/v1/completions", "200").inc()
        m.latency.labels("/v1/completions").observe(time.perf_counter() - started)
        return whole_response({**base, "choices": choices(payload), "usage": usage(payload)})

    first = True

    def render(batch: list) -> tuple[str, bool]:
        nonlocal first
        out: list[str] = []
        for kind, payload in batch:
            if kind == "piece":
                if first:
                    m.ttft.labels("/v1/completions").observe(time.perf_counter() - started)
                    first = False
                out.append(sse({**base, "choices": [{"index": payload[0], "text": payload[1],
                                                      "finish_reason": None, "logprobs": None}]}))
            elif kind == "done":
                m.requests.labels("/v1/completions", "200").inc()
                m.latency.labels("/v1/completions").observe(time.perf_counter() - started)
                for c in choices(payload):
                    if live:  # the text went out already; the last chunk says why it ended
                        c["text"] = ""
                    out.append(sse({**base, "choices": [c]}))
                if body.include_usage():
                    out.append(sse({**base, "choices": [], "usage": usage(payload)}))
                out.append("data: [DONE]\n\n")
                return "".join(out), True
        return "".join(out), False

    return EventStream(sse_pump(relay.bursts(), render, cancel.set, m, "/v1/completions"))
