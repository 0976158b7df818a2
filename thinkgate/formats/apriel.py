"""`apriel`: ServiceNow's Apriel thinkers. The template opens the reasoning with "Here are my reasoning
steps:" and the model ends it with `[BEGIN FINAL RESPONSE]`; the answer runs to `[END FINAL RESPONSE]`
(taken off the answer). No switch: thinking off is the empty closed thought (NoThinking).
"""

from __future__ import annotations

from .base import TaggedFamily


class AprielFormat(TaggedFamily):
    name = "apriel"
    open_tag = "Here are my reasoning steps:"
    close_tag = "[BEGIN FINAL RESPONSE]"
    empty_gap = "\n"
    after_thought = "\n"
    answer_markup = ("[END FINAL RESPONSE]", "<|end|>")
