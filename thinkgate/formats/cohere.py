"""`cohere`: Cohere's reasoning models (Command A reasoning, Cohere2 MoE). Reasoning in `<|START_THINKING|>`
... `<|END_THINKING|>`, the answer in `<|START_RESPONSE|>` ... `<|END_RESPONSE|>` (taken off the answer).
The template opens the thought; `reasoning_effort="none"` closes it empty (thinking off).
"""

from __future__ import annotations

from .base import TaggedFamily


class CohereFormat(TaggedFamily):
    name = "cohere"
    open_tag = "<|START_THINKING|>"
    close_tag = "<|END_THINKING|>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"enable_thinking": True}  # Command R7B's switch; Cohere2 thinks by default
    nothink_kwargs = {"enable_thinking": False, "reasoning_effort": "none"}
    answer_markup = ("<|START_RESPONSE|>", "<|END_RESPONSE|>")
