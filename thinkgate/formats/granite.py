"""`granite`: IBM Granite 3.3. With the template's `thinking` switch its system prompt asks for the reasoning
in `<think>` ... `</think>` and the answer in `<response>` ... `</response>` (taken off the answer).
"""

from __future__ import annotations

from .base import TaggedFamily


class GraniteFormat(TaggedFamily):
    name = "granite"
    open_tag = "<think>"
    close_tag = "</think>"
    think_kwargs = {"thinking": True}
    nothink_kwargs = {"thinking": False}
    answer_markup = ("<response>", "</response>")
