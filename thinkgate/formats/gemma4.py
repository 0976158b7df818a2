"""`gemma4`: Google's Gemma 4. Reasoning in the thought channel (`<|channel>thought` ... `<channel|>`);
`enable_thinking` puts the thinking switch in the system turn; without it the template writes an empty
thought channel (thinking off).
"""

from __future__ import annotations

from .base import TaggedFamily


class Gemma4Format(TaggedFamily):
    name = "gemma4"
    open_tag = "<|channel>thought"
    close_tag = "<channel|>"
    empty_gap = "\n"
    after_thought = ""
    think_kwargs = {"enable_thinking": True}
    nothink_kwargs = {"enable_thinking": False}
