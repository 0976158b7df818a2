"""`minimax_m3`: MiniMax M3. Reasoning in `<mm:think>` ... `</mm:think>`; the template's `thinking_mode`
is the family's own switch: "enabled", "disabled" and "adaptive" (the model decides: thinkgate's auto).
"""

from __future__ import annotations

from .base import TaggedFamily


class MiniMaxM3Format(TaggedFamily):
    name = "minimax_m3"
    open_tag = "<mm:think>"
    close_tag = "</mm:think>"
    think_kwargs = {"thinking_mode": "enabled"}
    nothink_kwargs = {"thinking_mode": "disabled"}
    auto_kwargs = {"thinking_mode": "adaptive"}
