"""`deepconf`: parallel thinking traces that stop when their confidence falls, and a vote weighted by it.

Source: DeepConf, "Deep Think with Confidence" (Fu, Wang, Tian, Zhao; arXiv 2508.15260). A token's confidence
is C_i = -(1/k) sum_j log P_i(j) over the k most likely tokens at its step (high: a peaked distribution); a
group's is the mean C over a sliding window of tokens; a trace's is its lowest group confidence.

- offline (`mode=offline`): N traces in full; the top `eta` percent by confidence are kept (and any tied
  with the last one kept), and vote with their confidence as weight.
- online (`mode=online`, the default): `warmup` traces in full set the stopping threshold s, the
  (100 - eta)-th percentile of their confidences (eta 10: "DeepConf-low", the 90th percentile; eta 90:
  "DeepConf-high", the 10th); later traces, `warmup` at a time, stop as soon as the group confidence of their
  last `window` tokens falls below s, and those stopped do not vote; sampling ends once the leading answer
  holds at least `tau` of the vote's weight (consensus), or `n` traces were started.

Parameters (defaults; the paper's in brackets): `n` (16 [512]), `warmup` (8 [16]), `eta` (90 [10 or 90]),
`window` (32 [2048]), `k` (5 [its top log probabilities]), `tau` (0.95 [0.95]), `temperature` (0.7), `mode`
(online). Scaled to the embedded model, whose thoughts are 100-300 tokens: a window of 2048 tokens would be
longer than any trace (so no trace could ever be stopped), and 16 traces are the budget of the self-
consistency baseline it is measured against (`parallel:mode=think`).

What the paper leaves open, chosen here: the warm-up traces vote where their confidence clears s (as the
traces after them must), weighted like them; a trace shorter than `window` has one group, all its tokens; a
trace whose thought never closed has no answer and does not vote; where no trace votes, every finished trace
does with weight 1; confidences within 1e-4 are equal (`TIE`: a batch of another shape moves the logits by
float rounding, and a stop or a vote must not flip on it); the answer kept is the most confident trace that
gave the winning answer (its tokens make
the result's reasoning, answer and confidence). Each trace is sampled with its own seed (the request's seed +
its index). Every token written counts: `completion_tokens` is all the traces' tokens, `reasoning_tokens`
their thinking. Stopping a trace early needs per-token log probabilities as they are written: backends with
the `stream` capability (transformers, llama.cpp, an engine in raw-prefix mode, whose stream is closed).
The trace of the result has the threshold, each trace's confidence, whether it was stopped, and the vote.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Literal

from pydantic import Field, model_validator

from ..backends.base import LOGPROBS, RAW_PREFIX, STREAM
from ..types import Generation, TraceEvent
from .base import Params, Strategy, assistant_prefill, finish, gen_params, generate_forced, require_thinking
from .parallel import Parallel, normalize


class DeepConfParams(Params):
    mode: Literal["online", "offline"] = "online"
    n: int = Field(default=16, ge=1, le=512)
    warmup: int = Field(default=8, ge=1, le=512)
    eta: float = Field(default=90.0, gt=0.0, le=100.0)
    window: int = Field(default=32, ge=1)
    k: int = Field(default=5, ge=1, le=20)
    tau: float = Field(default=0.95, gt=0.0, le=1.0)
    temperature: float = Field(default=0.7, gt=0.0, le=2.0)

    @model_validator(mode="after")
    def _check(self):
        if self.mode == "online" and self.warmup > self.n:
            raise ValueError(f"warmup ({self.warmup}) is more traces than the budget n ({self.n})")
        return self


# confidences closer than this are equal: a batch of another shape moves the logits by float rounding, and a
# stop or a vote must not flip on it (traces that write the same tokens have the same confidence)
TIE = 1e-4


def token_confidence(alternatives: list[float]) -> float:
    """C_i: minus the mean log p of the most likely tokens at one step."""
    return -sum(alternatives) / len(alternatives) if alternatives else 0.0


def lowest_group(conf: list[float], window: int) -> float | None:
    """The lowest mean of `window` consecutive token confidences (one group for a shorter trace); None for
    no tokens."""
    if not conf:
        return None
    if len(conf) <= window:
        return sum(conf) / len(conf)
    return min(sum(conf[i:i + window]) for i in range(len(conf) - window + 1)) / window  # as `Monitor` sums


class Monitor:
    """A trace's sink (`backends/sinks.py`): it reads each token's alternatives as the backend writes it and
    stops the trace (`cancelled`) once the group confidence of its last `window` tokens is below the
    threshold. The request's own cancellation (a client that left) stops it too."""

    wants_scores = True  # a backend passes each token's log probabilities even though nothing is shown
    live = False

    def __init__(self, threshold: float | None, window: int, k: int, outer=None):
        self.threshold, self.window, self.k, self.outer = threshold, window, k, outer
        self.conf: list[float] = []
        self.stopped = False

    @property
    def cancelled(self) -> bool:
        return self.stopped or (self.outer is not None and self.outer.cancelled)

    def on_cancel(self, callback):
        return self.outer.on_cancel(callback) if self.outer is not None else (lambda: None)

    def opened(self) -> None:
        pass

    def write(self, piece: str, scored=None) -> None:
        if self.outer is not None:
            self.outer.write("")  # counted as the request's tokens
        for _, _, alts in scored or ():
            self.conf.append(token_confidence([v for _, v in alts[:self.k]]))
            if (self.threshold is not None and len(self.conf) >= self.window
                    and sum(self.conf[-self.window:]) / self.window < self.threshold - TIE):
                self.stopped = True


class DeepConf(Strategy):
    name = "deepconf"
    LOOPS = ("n",)
    TOKENS = ("window",)
    Params = DeepConfParams

    def without_thinking(self) -> Strategy:
        p = self.params
        return Parallel(n=p.n, temperature=p.temperature)

    def run_batch(self, requests, backend, fmt):
        from ..backends.sinks import sinks_for

        backend.require(LOGPROBS, f"strategy {self.name!r} (token confidences)")
        backend.require(RAW_PREFIX, f"strategy {self.name!r}")
        if self.params.mode == "online":  # a trace stops on tokens as they are written
            backend.require(STREAM, f"strategy {self.name!r} (mode=online; mode=offline needs no stream)")
        require_thinking(fmt, f"strategy {self.name!r}")
        p = self.params
        started = time.time()
        prompts = [fmt.render(r.messages, "think", r.thinking, r.tools) for r in requests]
        prefills = [assistant_prefill(fmt, pr, r, "think") for pr, r in zip(prompts, requests)]
        # the requests share their sampling (`Gate.run_batch`): one seed, trace j sampled with seed + j
        seed = requests[0].sampling.seed or 0
        traces: list[list[dict]] = [[] for _ in requests]
        thresholds: list[float | None] = [None] * len(requests)

        def wave(idx: list[int], count: int) -> None:
            """`count` more traces for each request of `idx` (all have as many so far), in one call."""
            start = len(traces[idx[0]])
            outer = sinks_for([prompts[i] for i in idx], 1, draft=True) or [None] * len(idx)
            monitors = [Monitor(thresholds[i], p.window, p.k, o) for i, o in zip(idx, outer) for _ in range(count)]
            params = gen_params(requests[idx[0]], top_logprobs=max(p.k, requests[idx[0]].logprobs or 0), n=count,
                                draft=True, decides=True).model_copy(
                update={"temperature": p.temperature, "seed": seed + start})
            rows = generate_forced(backend, fmt, [prompts[i] for i in idx], params, sinks=monitors)
            for a, (i, gens) in enumerate(zip(idx, rows)):
                for g, m in zip(gens, monitors[a * count:(a + 1) * count]):
                    conf = m.conf or [token_confidence([v for _, v in alts[:p.k]]) for alts in g.alternatives or []]
                    _, answer, closed = fmt.split(prefills[i] + g.text)
                    traces[i].append({"gen": g, "confidence": lowest_group(conf, p.window), "stopped": m.stopped,
                                      "closed": closed, "answer": answer})

        everyone = list(range(len(requests)))
        if p.mode == "offline":
            wave(everyone, p.n)
            for i, ts in enumerate(traces):  # the confidence of the trace ranked at the top eta percent
                ranked = sorted((t["confidence"] for t in ts if t["confidence"] is not None), reverse=True)
                thresholds[i] = ranked[max(1, math.ceil(len(ranked) * p.eta / 100)) - 1] if ranked else None
        else:
            wave(everyone, min(p.warmup, p.n))
            for i, ts in enumerate(traces):
                confs = sorted(t["confidence"] for t in ts if t["confidence"] is not None)
                thresholds[i] = percentile(confs, 100 - p.eta) if confs else None
            while True:
                going = [i for i in everyone if len(traces[i]) < p.n and consensus(traces[i], thresholds[i]) < p.tau]
                if not going:
                    break
                wave(going, min(p.warmup, p.n - len(traces[going[0]])))
        return [self._result(requests[i], traces[i], thresholds[i], prompts[i], prefills[i], backend, fmt, started)
                for i in everyone]

    def _result(self, request, traces, threshold, prompt, prefill, backend, fmt, started):
        p = self.params
        votes, voters = vote(traces, threshold)
        winner = max(votes, key=votes.get) if votes else ""
        chosen = max((i for i in voters if normalize(traces[i]["answer"]) == winner),
                     key=lambda i: traces[i]["confidence"] or 0.0, default=None)
        if chosen is None:  # nothing voted: the most confident trace
            chosen = max(range(len(traces)), key=lambda i: traces[i]["confidence"] or float("-inf"))
        gens: list[Generation] = [t["gen"] for t in traces]
        trace = [TraceEvent(kind="deepconf", detail={
            "mode": p.mode, "threshold": None if threshold is None else round(threshold, 4), "traces": len(traces),
            "confidence": [None if t["confidence"] is None else round(t["confidence"], 3) for t in traces],
            "stopped": [t["stopped"] for t in traces], "voted": len(voters),
            "consensus": round(consensus(traces, threshold), 4)}),
            TraceEvent(kind="vote", detail={"method": "confidence-weighted", "winner": winner[:40],
                                             "votes": {a[:40]: round(v, 3) for a, v in votes.items()}})]
        thinking = sum(Parallel._thinking(gens, fmt, backend, prefill))
        g = gens[chosen]
        return finish(request, self.spec, "think", fmt, backend, prompt, prefill + g.text, sum(x.tokens for x in gens),
                      g.finish_reason, trace, started, reasoning_tokens=thinking, gens=[g], before=prefill)


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of sorted values, linear between neighbours (numpy's default)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    at = (len(sorted_values) - 1) * q / 100
    lo = math.floor(at)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (at - lo)


def vote(traces: list[dict], threshold: float | None) -> tuple[dict[str, float], list[int]]:
    """The confidence-weighted vote of the traces that finished with an answer and clear the threshold (every
    finished one, weight 1, where none does): ({normalized answer: weight}, the voters)."""
    voters = [i for i, t in enumerate(traces) if not t["stopped"] and t["closed"] and t["confidence"] is not None
              and (threshold is None or t["confidence"] >= threshold - TIE)]
    weight = lambda i: traces[i]["confidence"]  # noqa: E731
    if not voters:
        voters = [i for i, t in enumerate(traces) if not t["stopped"] and t["closed"]]
        weight = lambda i: 1.0  # noqa: E731
    votes: dict[str, float] = defaultdict(float)
    for i in voters:
        votes[normalize(traces[i]["answer"])] += weight(i)
    return dict(votes), voters


def consensus(traces: list[dict], threshold: float | None) -> float:
    """The leading answer's share of the vote's weight (0 where nothing votes)."""
    votes, _ = vote(traces, threshold)
    total = sum(votes.values())
    return max(votes.values()) / total if total > 0 else 0.0

