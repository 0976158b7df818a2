"""`seed_oss`: ByteDance Seed-OSS. Reasoning in `<seed:think>` ... `</seed:think>`; the template's
`thinking_budget` argument is the model's own budget (0 turns thinking off: the template writes a closed
thought with the model's budget reflection). Inside a thought the model may write budget reflections
(`<seed:cot_budget_reflect>`), which are part of the reasoning. A request's cap (its budget, or its effort's)
is given to the template as `thinking_budget`, so the model plans for it, and enforced by budget forcing.
"""

from __future__ import annotations

from .base import TaggedFamily


class SeedOssFormat(TaggedFamily):
    name = "seed_oss"
    open_tag = "<seed:think>"
    close_tag = "</seed:think>"
    think_kwargs = {}
    nothink_kwargs = {"thinking_budget": 0}
    budget_kwarg = "thinking_budget"
