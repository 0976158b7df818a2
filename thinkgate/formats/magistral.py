"""`magistral`: Mistral's reasoning models (Magistral, Ministral reasoning). Reasoning in `[THINK]` ...
`[/THINK]`, asked for by the template's system prompt; the template has no switch, so thinking off is the
empty closed thought `[THINK][/THINK]` (NoThinking).
"""

from __future__ import annotations

from .base import TaggedFamily


class MagistralFormat(TaggedFamily):
    name = "magistral"
    open_tag = "[THINK]"
    close_tag = "[/THINK]"
    empty_gap = ""
    after_thought = ""
