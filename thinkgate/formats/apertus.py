"""`apertus`: Swiss AI's Apertus. Reasoning between `<|inner_prefix|>` and `<|inner_suffix|>`; the template's
`enable_thinking` switch.
"""

from __future__ import annotations

from .base import TaggedFamily


class ApertusFormat(TaggedFamily):
    name = "apertus"
    open_tag = "<|inner_prefix|>"
    close_tag = "<|inner_suffix|>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"enable_thinking": True}
    nothink_kwargs = {"enable_thinking": False}
