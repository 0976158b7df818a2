"""`solar_open`: Upstage Solar Open. Reasoning in a message of its own, `<|think|>` ... then
`<|end|><|begin|>assistant` opens the answer; the template's `reasoning_effort` ("minimal" or "low": an empty
thought, i.e. thinking off; "high" for thinking).
"""

from __future__ import annotations

from .base import TaggedFamily


class SolarOpenFormat(TaggedFamily):
    name = "solar_open"
    open_tag = "<|think|>"
    close_tag = "<|end|><|begin|>assistant"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"reasoning_effort": "high"}
    nothink_kwargs = {"reasoning_effort": "minimal"}
    answer_markup = ("<|end|>",)
