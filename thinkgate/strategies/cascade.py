"""`cascade`: answer without thinking first; think only where that answer's confidence is low.

Sources: model cascades that defer on the first model's token-level confidence (Gupta et al., "Language Model
Cascades: Token-Level Uncertainty and Beyond", ICLR 2024: the answer's token log-probabilities, aggregated,
decide whether the larger model is asked), here inside one reasoning model: its no-thinking mode is the cheap
model and its thinking mode the costly one; and confidence as what reasoning models express well ("Reasoning
Models Better Express Their Confidence", 2025).

Per query: the answer without thinking (the format's empty think block, the request's sampling) and a
score of how sure it is, by `signal`: "least" (default), the probability of the answer's least likely token,
exp(min log p), the aggregate the cascades paper found to defer better than the mean, and better here too
(AUROC against that answer's correctness on the calibration split: 0.942 over + under, 0.831 on under,
against 0.923 / 0.773 for the mean); or "mean", the answer's confidence (`Result.confidence`, exp of the mean
log p). Both over the same tokens (`thinkgate.confidence`). Score >= threshold: that answer. Else the query
thinks through `then`, from the question (the first answer is not shown to it). The tokens of both attempts
are counted (`usage.completion_tokens`, and the prompt's twice in `usage.prompt_tokens`); the thinking
tokens are the second attempt's.

Parameters (defaults): `signal` ("least"), `threshold` (None: the signal's calibrated one,
`<model>/router/cascade.json`, written by `thinkgate calibrate` with the router's objectives: F1_otb,
`--objective drop:D`, `--target-think-rate R`;
or a number in [0, 1]); `then` ("think": any one-model strategy spec for the thinking attempt, parameters
separated by `;`, as `route`'s: `then=budget;max=256`, `then=early_exit`); `dir` (None: `<model>/router`).

Where the papers are silent, chosen here: an answer with no confidence (an empty answer, a backend without
log probabilities) thinks; an answer cut at `max_tokens` without thinking is judged by its confidence like
any other; the calibrated threshold is refused for another model (content fingerprints).

Each result's trace starts with a `route` event (router "cascade", score = the first answer's signal,
threshold, decision, the first answer and its tokens), so the bench scores it as a router (its rows'
decision and score; accuracy against think rate as the threshold sweeps, APGR). To a stream the first
attempt is a draft: nothing of it is shown until its confidence is known; kept, it leaves with the result,
dropped, the thinking attempt streams live. To the thinking policy: thinking off is `nothink`; a request's
cap holds for the thinking attempt, composed as `then` composes with it (`then=think` under a cap of 64 is
`then=budget;max=64`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..errors import RouterError
from ..types import TraceEvent, Usage
from .base import Limited, Params, Strategy, single_pass

FILE = "cascade.json"


def least_probability(result) -> float | None:
    """The probability of the answer's least likely token (None without the answer's tokens)."""
    return math.exp(min(t.logprob for t in result.logprobs)) if result.logprobs else None


# a first answer's score by signal (the `signal` parameter); `thinkgate calibrate` sets a threshold for each
SIGNALS = {"least": least_probability, "mean": lambda result: result.confidence}


class CascadeParams(Params):
    signal: Literal["least", "mean"] = "least"
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    then: str = "think"
    dir: str | None = None

    @model_validator(mode="after")
    def _check(self):
        then_of(self.then)  # a bad `then` is an error now, not at the first request
        return self


def then_of(spec: str) -> Strategy:
    """The strategy of the thinking attempt."""
    from .route import then_strategy

    if spec.strip() == "budget":
        raise ValueError("then=budget needs its budget here (then=budget;max=N): cascade has no budgets of its own")
    inner = then_strategy(spec)
    if inner.name == Cascade.name:
        raise ValueError(f"then={spec} would cascade twice")
    return inner


class Cascade(Strategy):
    name = "cascade"
    PATHS = ("dir",)
    Params = CascadeParams

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._calibrated: dict[str, dict] = {}

    def inner(self) -> list[Strategy]:
        return [then_of(self.params.then)]

    def without_thinking(self) -> Strategy:
        from .nothink import NoThink

        return NoThink()

    def with_limits(self, cap, floor):
        from .route import then_capped, then_spelling

        thinking = None if floor is not None else then_capped(self.spec, then_of(self.params.then), cap)
        if thinking is None:
            return None
        return Limited(Cascade(params=self.params.model_copy(update={"then": then_spelling(thinking)})),
                       f"cascade: thinking, where the answer is unsure, through {thinking.spec}")

    def calibration(self, backend) -> dict:
        """The calibrated threshold's record for this backend's model, loaded once; `RouterError` naming the
        file and what to run where there is none or it is another model's."""
        from ..routers.router import content_fingerprint, router_dir

        model_dir = Path(backend.model_id)
        folder = Path(self.params.dir) if self.params.dir else router_dir(model_dir)
        key = f"{folder}|{model_dir}"
        if key not in self._calibrated:
            path = folder / FILE
            if not path.exists():
                raise RouterError(f"strategy {self.spec!r}: no calibrated threshold at {path}; run `thinkgate "
                                  f"calibrate --model {model_dir}` (or give cascade:threshold=T)")
            try:
                record = json.loads(path.read_text())
                threshold = float(record["thresholds"][self.params.signal])
            except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
                raise RouterError(f"{path} is not a cascade calibration ({type(e).__name__}: {e}); run thinkgate "
                                  "calibrate again") from None
            if not math.isfinite(threshold):
                raise RouterError(f"{path}: threshold {threshold} is not a number; run thinkgate calibrate again")
            if model_dir.is_dir() and record.get("model_fingerprint") != content_fingerprint(model_dir):
                raise RouterError(f"{path} was calibrated on another model than {model_dir} (its files changed); run "
                                  f"`thinkgate calibrate --model {model_dir}` again")
            self._calibrated[key] = record
        return self._calibrated[key]

    def threshold(self, backend) -> float:
        p = self.params
        return p.threshold if p.threshold is not None else float(self.calibration(backend)["thresholds"][p.signal])

    def prepare(self, backend, models=None) -> None:
        self.threshold(backend)
        super().prepare(backend)

    def cache_key(self, backend, models=None) -> str:
        return f"{self.spec}@threshold={self.threshold(backend)!r}"

    def first_attempts(self, requests, backend, fmt) -> tuple[list, list[float | None]]:
        """The answers without thinking and their scores by `signal` (None: no answer's tokens, or no log
        probabilities): what a threshold is held to (`thinkgate calibrate` scores its items with this)."""
        # the score needs the answer's log probabilities from every backend (an engine's too, which returns
        # them only where they are needed: `GenParams.score`): asked for where the request did not ask itself
        nothink = [r.model_copy(update={"thinking": r.thinking.model_copy(update={"mode": "nothink"}),
                                        "logprobs": r.logprobs or 0})
                   for r in requests]
        # a draft to a stream: its text shows only once its score is known (with the result, if kept)
        firsts = single_pass(self, nothink, backend, fmt, lambda r: "nothink", draft=True)
        scores = [SIGNALS[self.params.signal](f) for f in firsts]
        # the tokens go back where the request did not ask for them
        firsts = [f if r.logprobs is not None else f.model_copy(update={"logprobs": None})
                  for f, r in zip(firsts, requests)]
        return firsts, scores

    def run_batch(self, requests, backend, fmt):
        threshold = self.threshold(backend)
        then = then_of(self.params.then)
        firsts, scores = self.first_attempts(requests, backend, fmt)
        if not fmt.has_thinking:  # a model without a thinking mode has no second attempt to make
            return firsts
        unsure = [i for i, s in enumerate(scores) if s is None or s < threshold]
        seconds = dict(zip(unsure, then.run_batch(
            [r.model_copy(update={"thinking": r.thinking.model_copy(update={"mode": "think"})})
             for r in (requests[i] for i in unsure)], backend, fmt))) if unsure else {}
        results = []
        for i, first in enumerate(firsts):
            second = seconds.get(i)
            detail = {"router": "cascade", "signal": self.params.signal,
                      "score": None if scores[i] is None else round(scores[i], 4), "threshold": round(threshold, 4),
                      "decision": "think" if second else "nothink",
                      "via": then.spec if second else "nothink", "first_answer": first.answer[:80],
                      "first_tokens": first.usage.completion_tokens}
            route = TraceEvent(kind="route", detail=detail)
            if second is None:
                results.append(first.model_copy(update={"strategy": self.spec, "mode": "nothink",
                                                        "trace": [route] + list(first.trace)}))
                continue
            a, b = first.usage, second.usage
            usage = Usage(prompt_tokens=a.prompt_tokens + b.prompt_tokens, reasoning_tokens=b.reasoning_tokens,
                          answer_tokens=b.answer_tokens, completion_tokens=a.completion_tokens + b.completion_tokens)
            attempt = TraceEvent(kind="first_attempt", detail={"answer": first.answer[:80], "score": detail["score"],
                                                                "confidence": first.confidence,
                                                                "tokens": a.completion_tokens, "kept": False})
            results.append(second.model_copy(update={
                "strategy": self.spec, "mode": "think", "usage": usage, "wall_s": first.wall_s + second.wall_s,
                "trace": [route, attempt] + list(second.trace)}))
        return results
