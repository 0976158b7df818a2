"""`thinkless`: end the thought early and restore the answer format (ThinkLess, Li et al. 2025).

Answer tokens attend mostly to the `</think>` token, so inserting it early keeps much of thinking's
benefit at a fraction of its cost. The strategy lets the model think for `at` tokens (or, with
`fraction`, that share of `max_tokens`), then injects the terminator preceded by a short
post-regulation instruction that restores the answer format, and lets the model answer.

Parameters (defaults): `at` (32 tokens; the paper leaves the insertion point open, so it is a parameter
here), `fraction` (None; when set it overrides `at`), `instruction` ("Now I will give the final answer
directly." — our wording; it sits inside the thought, just before `</think>`). A thought that closes by
itself before the insertion point is kept as it is.
"""

from __future__ import annotations

from pydantic import Field

from .base import Params, Strategy, group_indices, require_thinking
from .budget import Budget, BudgetParams


class ThinkLessParams(Params):
    at: int = Field(default=32, ge=0)
    fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    instruction: str = "Now I will give the final answer directly."


class ThinkLess(Strategy):
    """Runs `budget` with the insertion point as its maximum and the instruction as its stop message."""

    name = "thinkless"
    TOKENS = ("at",)
    Params = ThinkLessParams

    def run_batch(self, requests, backend, fmt):
        require_thinking(fmt, "strategy 'thinkless'")
        p = self.params
        out = []
        caps = [int(p.fraction * r.sampling.max_tokens) if p.fraction else p.at for r in requests]
        for cap, idx in group_indices(caps).items():
            inner = Budget(BudgetParams(max=cap, stop_message=f"\n{p.instruction}\n"))
            res = inner.run_batch([requests[i] for i in idx], backend, fmt)
            out.extend(zip(idx, res))
        return [r.model_copy(update={"strategy": self.spec}) for _, r in sorted(out, key=lambda t: t[0])]

