"""`budget`: a maximum and/or a minimum thinking budget, in tokens the model writes.

Sources: the Qwen3 thinking budget (Qwen3 technical report, 2025) for the maximum — generate up to the
budget; if thinking has not closed, append a stop message and `</think>` and let the model answer with the
tokens left — and s1 budget forcing (Muennighoff et al. 2025) for the minimum — when the model closes its
thinking before the minimum, drop the end tag, append "Wait" and let it continue.

Parameters (defaults):
- `max` (None): most thinking tokens the model may write; None means no cap.
- `min` (None): fewest thinking tokens; None or 0 means no extension.
- `stop_message` (Qwen3's): injected at the cap, before `</think>`.
- `wait` ("Wait"): the phrase that replaces an early `</think>`.
- `max_extensions` (4): at most this many "Wait" extensions per request, so a model that keeps closing
  early cannot loop. Chosen here; s1 reports 2-6 extensions as useful.

Without either limit the strategy is plain thinking: one generate call, exactly `think`'s (so the bench
scores it once: its cache key is `think`'s). Chosen here: the two-call path (think to the end tag, then
answer) costs a second call and can differ only where the end tag is re-tokenized.

Accounting: thinking tokens are what the model wrote before its (possibly forced) `</think>`; injected
text (the stop message, "Wait") is shown in the trace and not counted as written. The answer may use
what is left of the request's `max_tokens` after thinking, at least `answer_tokens` (default 64).

To the thinking policy: a request's cap and floor compose with the strategy's own, the tighter of each
(`budget:max=128` under a cap of 64 is `budget:max=64`); a floor above the cap is a conflict. Without limits
of its own it is `think`, and takes the request's as `think` does.
"""

from __future__ import annotations

import time

from pydantic import Field, model_validator

from ..backends.base import RAW_PREFIX
from ..types import TraceEvent
from .base import (Limited, LimitsConflict, Params, Strategy, assistant_prefill, finish, gen_params,
                   generate_forced, group_indices, limits_text, require_thinking, single_pass)

QWEN3_STOP = ("\n\nConsidering the limited time by the user, I have to give the solution based on the thinking "
              "directly now.\n")


class BudgetParams(Params):
    max: int | None = Field(default=None, ge=0)
    min: int | None = Field(default=None, ge=0)
    stop_message: str = QWEN3_STOP
    wait: str = "Wait"
    max_extensions: int = Field(default=4, ge=0)
    answer_tokens: int = Field(default=64, ge=1)

    @model_validator(mode="after")
    def _order(self):
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class Budget(Strategy):
    name = "budget"
    LOOPS = ("max_extensions",)
    TOKENS = ("max", "min", "answer_tokens")
    Params = BudgetParams

    @property
    def unlimited(self) -> bool:
        return self.params.max is None and not self.params.min

    def cache_key(self, backend, models=None) -> str:
        return "think" if self.unlimited else self.spec

    def with_limits(self, cap, floor):
        if self.unlimited:
            return thinking_within(cap, floor)
        p = self.params
        tight_max = p.max if cap is None else cap if p.max is None else min(p.max, cap)
        tight_min = p.min if floor is None else floor if p.min is None else max(p.min, floor)
        if tight_max is not None and tight_min is not None and tight_min > tight_max:
            raise LimitsConflict(f"at least {tight_min} and at most {tight_max} thinking tokens: the request's "
                                 f"limits and strategy {self.spec!r} do not fit together")
        return Limited(Budget(params=p.model_copy(update={"max": tight_max, "min": tight_min})),
                       f"{self.spec} with the request's limits")

    def run_batch(self, requests, backend, fmt):
        if self.unlimited:
            return single_pass(self, requests, backend, fmt, lambda r: "think")
        backend.require(RAW_PREFIX, "strategy 'budget'")
        require_thinking(fmt, "strategy 'budget'")
        p = self.params
        started = time.time()
        close = fmt.close_tag
        # the cap reaches a template that takes one (Seed-OSS's thinking_budget), so the model plans for it
        prompts = [fmt.render(r.messages, "think", r.thinking.model_copy(update={"budget": p.max}), r.tools)
                   for r in requests]
        prefills = [assistant_prefill(fmt, pr, r, "think") for pr, r in zip(prompts, requests)]
        texts = [""] * len(requests)  # what follows the prompt (and its prefill) so far
        written = [0] * len(requests)  # tokens the model wrote while thinking, its own end tag included
        thought = [0] * len(requests)  # thinking tokens: the same without the end tag
        extensions = [0] * len(requests)
        traces: list[list[TraceEvent]] = [[] for _ in requests]
        open_ = list(range(len(requests)))
        while open_:
            caps = []
            for i in open_:
                room = requests[i].sampling.max_tokens - written[i]
                caps.append(max(1, min(room, (p.max - thought[i]) if p.max is not None else room)))
            # one generate call per distinct cap keeps the batch simple and exact (the first one forces the
            # thought open)
            nxt = []
            for cap, pos in group_indices(caps).items():
                idx = [open_[k] for k in pos]
                gens = generate_forced(backend, fmt, [prompts[i] + texts[i] for i in idx],
                                       gen_params(requests[idx[0]], max_tokens=cap, stop=[close]))
                for i, g in zip(idx, gens):
                    gen = g[0]
                    texts[i] += gen.text
                    written[i] += gen.tokens
                    thought[i] += gen.tokens - (backend.count_tokens(gen.stop) if gen.stop else 0)
                    closed_early = gen.finish_reason == "stop"
                    traces[i].append(TraceEvent(kind="think", detail={"tokens": gen.tokens, "closed": closed_early}))
                    if closed_early and p.min and thought[i] < p.min and extensions[i] < p.max_extensions:
                        extensions[i] += 1
                        texts[i] += ("\n" if not texts[i].endswith("\n") else "") + p.wait
                        traces[i].append(TraceEvent(kind="extend", detail={"at": thought[i], "inject": p.wait}))
                        nxt.append(i)
                    elif closed_early:
                        texts[i] += close
                    elif p.max is not None and thought[i] >= p.max:
                        texts[i] += p.stop_message + close
                        traces[i].append(TraceEvent(kind="budget_stop", detail={"at": thought[i],
                                                                                "inject": p.stop_message + close}))
                    # else: the request's max_tokens ran out inside thinking; it stays unclosed
            open_ = nxt
        # every closed thought gets its answer, with what is left of the request's budget
        closed = [i for i in range(len(requests)) if texts[i].endswith(close)]
        rooms = [max(p.answer_tokens, requests[i].sampling.max_tokens - written[i]) for i in closed]
        answers = {}
        for room, pos in group_indices(rooms).items():
            idx = [closed[k] for k in pos]
            gens = backend.generate([prompts[i] + texts[i] for i in idx], gen_params(requests[idx[0]], max_tokens=room))
            answers.update((i, g[0]) for i, g in zip(idx, gens))
        results = []
        for i, r in enumerate(requests):
            gen = answers.get(i)
            text = prefills[i] + texts[i] + (gen.text if gen else "")
            total = written[i] + (gen.tokens if gen else 0)
            reason = gen.finish_reason if gen else "length"
            if gen:
                traces[i].append(TraceEvent(kind="answer", detail={"tokens": gen.tokens}))
            results.append(finish(r, self.spec, "think", fmt, backend, prompts[i], text, total, reason,
                                  traces[i], started, reasoning_tokens=thought[i], gens=[gen] if gen else [],
                                  before=prefills[i] + texts[i]))
        return results


def thinking_within(cap: int | None, floor: int | None) -> Limited:
    """The model's own thinking held to a request's limits: `budget:max=CAP,min=FLOOR` (what `think` and an
    unlimited `budget` become under them)."""
    return Limited(Budget(max=cap, min=floor), f"think with {limits_text(cap, floor)} thinking tokens")
