"""`nothink`: skip thinking with the format's own empty think block.

Source: Qwen3's hard switch (`enable_thinking=False`, which prefills `<think>\\n\\n</think>\\n\\n`).
Parameters: none. For formats without such a switch (DeepSeek-R1 distills) use `nothinking`, which
prefills a finished thought instead.
"""

from __future__ import annotations

from .base import Strategy, single_pass


class NoThink(Strategy):
    name = "nothink"
    thinks = False  # the policy serves thinking off with it as it is; a cap holds

    def run_batch(self, requests, backend, fmt):
        return single_pass(self, requests, backend, fmt, lambda r: "nothink")
