"""`muse`: the Muse "glimmer" format. The assistant addresses its reasoning to itself — a message
`<|start|>assistant to=self<|message|>` ... `<|eom|>` — and its answer to the user
(`<|start|>assistant to=user<|message|>` ...). The generation prompt stops at `<|start|>assistant`, so the
thought opens with ` to=self<|message|>` and closes where the message to the user begins. The template has
no switch: thinking off is an empty message to itself (NoThinking).
"""

from __future__ import annotations

from .base import TaggedFamily


class MuseFormat(TaggedFamily):
    name = "muse"
    open_tag = " to=self<|message|>"
    close_tag = "<|eom|><|start|>assistant to=user<|message|>"
    empty_gap = ""
    after_thought = ""
    answer_markup = ("<|eot|>", "<|eom|>")
