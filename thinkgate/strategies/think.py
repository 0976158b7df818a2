"""`think`: let the model think as long as it wants (the format's thinking mode).

Source: the default behaviour of reasoning models (Qwen3 `enable_thinking=True`; DeepSeek-R1's template
opens `<think>` itself). Parameters: none. Limits come from the request's `max_tokens` alone. A request
whose ThinkingSpec says `auto` is rendered with nothing after the assistant tag, so the model itself
decides whether to open a thought.

To the thinking policy: with thinking off it is `nothink` (it is the model's own behaviour, which the
request's mode steers); with a cap or a floor it is `budget:max=CAP,min=FLOOR`.
"""

from __future__ import annotations

from .base import Strategy, single_pass
from .budget import thinking_within
from .nothink import NoThink


class Think(Strategy):
    name = "think"

    def run_batch(self, requests, backend, fmt):
        if any(r.thinking.mode == "auto" for r in requests):
            fmt.check_mode("auto", "mode auto")
        return single_pass(self, requests, backend, fmt, lambda r: "auto" if r.thinking.mode == "auto" else "think")

    def without_thinking(self):
        return NoThink()

    def with_limits(self, cap, floor):
        return thinking_within(cap, floor)
