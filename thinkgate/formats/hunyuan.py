"""`hunyuan`: Tencent Hunyuan 3. Reasoning in `<think:opensource>` ... `</think:opensource>`; the
template's `reasoning_effort` ("high" or "low" to think, "no_think", its default, for an empty closed
thought). A request's effort is sent on the template's two thinking levels: minimal and low as "low",
medium and high as "high" (the template has no third).
"""

from __future__ import annotations

from .base import TaggedFamily


class HunyuanFormat(TaggedFamily):
    name = "hunyuan"
    open_tag = "<think:opensource>"
    close_tag = "</think:opensource>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"reasoning_effort": "high"}
    nothink_kwargs = {"reasoning_effort": "no_think"}
    efforts = {"minimal": {"reasoning_effort": "low"}, "low": {"reasoning_effort": "low"},
               "medium": {"reasoning_effort": "high"}, "high": {"reasoning_effort": "high"}}
