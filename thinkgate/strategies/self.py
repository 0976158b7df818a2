"""`self`: the model decides whether to think — nothing is prefilled after the assistant tag.

Source: the auto mode of models trained to choose their own mode (R-4B's BPO, AdaptThink, Qwen3's hybrid
training): the turn is rendered with the format's `auto` switch (for thinkgate's template
`auto_think=True`), so the prompt ends right after the assistant tag and the model writes either
`<think>\\n\\n</think>\\n\\n` and answers, or `<think>\\n` and thinks. Meant for a model trained to choose
(`tiny-auto`, from `thinkgate train bpo`); a model that never learnt to open its own think block may
write no tags at all, which the format's parser then treats as a bare answer (Qwen3) or as unclosed
reasoning (DeepSeek-R1). Parameters: none.

Each result's trace starts with a `route` event whose `decision` is what the model chose (think when it
wrote any thinking: `Result.thought`), so the bench can show the model's own think rate and where it thought.
"""

from __future__ import annotations

from ..types import TraceEvent
from .base import Strategy, single_pass


class SelfDecide(Strategy):
    name = "self"

    def run_batch(self, requests, backend, fmt):
        fmt.check_mode("auto", "strategy 'self'")
        results = single_pass(self, requests, backend, fmt, lambda r: "auto")
        out = []
        for res in results:
            route = TraceEvent(kind="route", detail={"router": "model", "decision": "think" if res.thought else "nothink"})
            out.append(res.model_copy(update={"trace": [route] + list(res.trace)}))
        return out
