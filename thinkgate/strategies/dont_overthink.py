"""`dont_overthink`: the prompt-instruction baseline (OptimalThinkingBench, Aggarwal et al. 2025).

A sentence asking the model not to overthink is appended to the last user turn; the model then thinks as
usual. The paper reports about 23% fewer tokens at no accuracy loss. Parameters: `instruction`
(default "Don't overthink." — the paper's exact wording is not given in our sources; this is our choice).
"""

from __future__ import annotations

from ..types import Message
from .base import Params, Strategy, single_pass


class DontOverthinkParams(Params):
    instruction: str = "Don't overthink."


class DontOverthink(Strategy):
    name = "dont_overthink"
    Params = DontOverthinkParams

    def run_batch(self, requests, backend, fmt):
        def with_instruction(r):
            msgs = list(r.messages)
            last = max(i for i, m in enumerate(msgs) if m.role == "user")
            msgs[last] = Message(role="user", content=f"{msgs[last].content} {self.params.instruction}")
            return r.model_copy(update={"messages": msgs})

        return single_pass(self, [with_instruction(r) for r in requests], backend, fmt, lambda r: "think")
