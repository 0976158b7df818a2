"""`kimi_k3`: Moonshot's Kimi K3. Reasoning in a think block (`<|open|>think<|sep|>` ... `<|close|>think<|sep|>`),
the answer in a response block (`<|open|>response<|sep|>` ... `<|close|>response<|sep|>`, taken off the
answer); the template's `thinking` switch (true by default) opens the think block itself. A request's effort
is sent as the template's `thinking_effort` (low | high | max, "max" by default): minimal and low as
"low", medium as "high", high as "max".
"""

from __future__ import annotations

from .base import TaggedFamily


class KimiK3Format(TaggedFamily):
    name = "kimi_k3"
    open_tag = "<|open|>think<|sep|>"
    close_tag = "<|close|>think<|sep|>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"thinking": True}
    nothink_kwargs = {"thinking": False}
    efforts = {"minimal": {"thinking_effort": "low"}, "low": {"thinking_effort": "low"},
               "medium": {"thinking_effort": "high"}, "high": {"thinking_effort": "max"}}
    answer_markup = ("<|open|>response<|sep|>", "<|close|>response<|sep|>")
