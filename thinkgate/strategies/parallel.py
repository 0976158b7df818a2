"""`parallel`: N independent answers, aggregated by a confidence-weighted vote (NoThinking + parallel scaling,
Ma et al. 2025; with `mode=think`, self-consistency over thinking traces, Wang et al. 2023, the baseline
DeepConf is measured against).

Each request gets `n` samples in the format's no-thinking mode at `temperature`. Samples are ranked by
their certainty and the sample at rank r (0 = most certain) gets (n - r) ** `power` votes (a Borda count);
votes are summed per distinct answer and the answer with most votes wins. The certainty is one quantity
whatever the backend, chosen by `certainty`: "self" is the paper's self-certainty (`Generation.self_certainty`,
the mean over tokens of KL(uniform || p), which needs the whole distribution: the transformers and llama.cpp
backends, or an engine that reports it); "top" is the mean log probability of the most likely token
(`Generation.mean_top_logprob`), which any backend with log probabilities gives. Where the backend cannot
give the chosen certainty, `vote=auto` is a majority vote (the trace says which vote ran).

Verifier selection (the paper's choice where a verifier exists, e.g. a proof checker or unit tests):
with `select=verifier` each request must carry `Request.verifier`; the samples are checked in the vote's
order (most certain first) and the first one the verifier accepts is the answer. When it accepts none, the
vote decides. With a verifier that is exact, this is pass@n; the bench's tasks pass their exact checkers,
so its `parallel:select=verifier` row is that upper bound, not a vote.

With `mode=think` each sample thinks first (its thought forced open where the template leaves the choice to
the model) and only the answers after the thoughts are compared (a sample cut off inside its thought does not vote, unless none
closed); the certainty is the whole sample's (thought and answer). A request with thinking off is served
by the same vote over no-thinking samples. The result's thought is the chosen sample's, and its reasoning tokens count every sample's
thinking (the cost of the method: what a bench compares it by).

Parameters (defaults): `n` (8), `temperature` (0.7), `power` (0.5, the paper's), `certainty` ("self"; or
"top"), `vote` ("auto": borda when the backend gives the certainty, else majority; "borda" fails on a
backend without it), `select` ("vote"; "verifier" as above), `mode` ("nothink"; or "think"). Chosen where the paper is silent: answers are compared after collapsing
whitespace and dropping a final period; ties go to the answer whose best sample is most certain; a
verifier's order among accepted samples is the certainty order; sample k uses the request's seed + k, and
a greedy request without a seed gets seed 0, so that asking for greedy decoding gives the same answer every
time (a sampled request without a seed gets fresh samples).
Usage: `completion_tokens` counts all n samples; `answer_tokens` is the chosen answer's; `reasoning_tokens`,
with `mode=think`, all n thoughts.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Literal

from pydantic import Field

from ..backends.base import LOGPROBS, SELF_CERTAINTY
from ..types import TraceEvent
from .base import (Params, Strategy, _opened, _reasoning_part, assistant_prefill, finish, gen_params, generate_forced,
                   require_thinking, thought_tokens)


class ParallelParams(Params):
    n: int = Field(default=8, ge=1)
    temperature: float = Field(default=0.7, ge=0.0)
    power: float = Field(default=0.5, ge=0.0)
    certainty: Literal["self", "top"] = "self"
    vote: Literal["auto", "borda", "majority"] = "auto"
    select: Literal["vote", "verifier"] = "vote"
    mode: Literal["nothink", "think"] = "nothink"


def normalize(answer: str) -> str:
    return " ".join(answer.split()).rstrip(".")


def borda(answers: list[str], certainty: list[float], power: float) -> tuple[str, dict[str, float]]:
    order = sorted(range(len(answers)), key=lambda i: -certainty[i])
    votes: dict[str, float] = defaultdict(float)
    best: dict[str, int] = {}
    for rank, i in enumerate(order):
        key = normalize(answers[i])
        votes[key] += (len(answers) - rank) ** power
        best.setdefault(key, rank)
    winner = max(votes, key=lambda k: (votes[k], -best[k]))
    return winner, dict(votes)


class Parallel(Strategy):
    name = "parallel"
    thinks = False  # the policy serves thinking off with it as it is; a cap holds
    LOOPS = ("n",)
    Params = ParallelParams

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self.thinks = self.params.mode == "think"  # type: ignore[misc]  (what the policy reads, per instance)

    def without_thinking(self):
        """With thinking: the same vote over no-thinking samples."""
        return self if not self.thinks else Parallel(params=self.params.model_copy(update={"mode": "nothink"}))

    def run_batch(self, requests, backend, fmt):
        p = self.params
        if p.mode == "think":
            require_thinking(fmt, "strategy 'parallel' with mode=think")
        needs = {LOGPROBS} | ({SELF_CERTAINTY} if p.certainty == "self" else set())
        use_lp = p.vote == "borda" or (p.vote == "auto" and needs <= backend.capabilities)
        if p.vote == "borda":
            for cap in sorted(needs):
                backend.require(cap, f"strategy 'parallel' with vote=borda and certainty={p.certainty}")
        if p.select == "verifier" and any(r.verifier is None for r in requests):
            raise ValueError("strategy 'parallel' with select=verifier needs a verifier on every request "
                             "(library: Request.verifier; CLI: --verify REGEX; server: thinking.verify)")
        started = time.time()
        prompts = [fmt.render(r.messages, p.mode, r.thinking, r.tools) for r in requests]
        prefills = [assistant_prefill(fmt, pr, r, p.mode) for pr, r in zip(prompts, requests)]
        results = [None] * len(requests)
        # one call for all: the requests share their sampling (Gate.run_batch)
        first = requests[0].sampling
        seed = 0 if first.seed is None and first.temperature == 0 else first.seed
        params = gen_params(requests[0], n=p.n, decides=use_lp).model_copy(
            update={"temperature": p.temperature, "seed": seed})
        for i, samples in enumerate(generate_forced(backend, fmt, prompts, params)):
            split = [fmt.split(prefills[i] + g.text) for g in samples]
            answers = [x[1] for x in split]
            # with thinking, a sample cut off inside its thought has no answer: it does not vote (unless none closed)
            pool = [k for k, x in enumerate(split) if x[2]] if p.mode == "think" else []
            pool = pool or list(range(len(samples)))
            if use_lp:
                of = (lambda g: g.self_certainty) if p.certainty == "self" else (lambda g: g.mean_top_logprob)
                certainty = [c if c is not None else float("-inf") for c in map(of, samples)]
            else:
                certainty = [0.0] * len(samples)
            # power 0 without certainties: one vote each
            winner, votes = borda([answers[k] for k in pool], [certainty[k] for k in pool], p.power if use_lp else 0.0)
            chosen = next(k for k in pool if normalize(answers[k]) == winner)
            trace = [TraceEvent(kind="samples", detail={"n": p.n, "answers": [a[:40] for a in answers], "voted": len(pool),
                                                         "certainty": [round(c, 3) for c in certainty]}),
                     TraceEvent(kind="vote", detail={"method": "borda" if use_lp else "majority",
                                                      "certainty": p.certainty if use_lp else None,
                                                      "votes": {k[:40]: round(v, 3) for k, v in votes.items()},
                                                      "winner": winner[:40]})]
            if p.select == "verifier":
                order = sorted(range(len(answers)), key=lambda k: -certainty[k])  # stable: sample order on ties
                accepted = [bool(requests[i].verifier(a)) for a in answers]
                first = next((k for k in order if accepted[k]), None)
                trace.append(TraceEvent(kind="verify", detail={"accepted": accepted, "chosen": first,
                                                                "fallback": "vote" if first is None else None}))
                if first is not None:
                    chosen = first
            total = sum(g.tokens for g in samples)
            finish_reason = samples[chosen].finish_reason
            thinking = self._thinking(samples, fmt, backend, prefills[i]) if p.mode == "think" else None
            if thinking is not None:
                trace[0].detail["thinking_tokens"] = thinking
            results[i] = finish(requests[i], self.spec, p.mode, fmt, backend, prompts[i],
                                prefills[i] + samples[chosen].text, total, finish_reason, trace, started,
                                reasoning_tokens=sum(thinking) if thinking is not None else None,
                                gens=[samples[chosen]], before=prefills[i])
        return results

    @staticmethod
    def _thinking(samples, fmt, backend, prefill: str) -> list[int]:
        """Each sample's thinking tokens: without its thought tokenized again where the markup is special
        tokens (`thought_tokens`), else its thought's text counted (what the template prefilled inside the
        thought is not the model's)."""
        opened = _opened(fmt, prefill)
        counted = [thought_tokens(fmt, backend, g, opened) for g in samples]
        if all(c is not None for c in counted):
            return counted  # type: ignore[return-value]
        texts = [fmt.thought_of(prefill + g.text) for g in samples] + [_reasoning_part(fmt, prefill)]
        *own, injected = backend.count_tokens_many(texts)
        return [max(0, c if c is not None else k - injected) for c, k in zip(counted, own)]
