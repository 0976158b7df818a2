"""`qwen3`: `<think>...</think>` reasoning with a template switch, `enable_thinking` (Qwen3, Qwen3.5, QwQ as
llama.cpp ships it, SmolLM3, MiniCPM, GLM-4.5+, Nemotron 3, DeepSeek V3.1+ where the template also reads
it, thinkgate's own model). Thinking is the default; `enable_thinking=False` makes the template write an
empty closed thought (or, in GLM's, add `/nothink` to the user turn), so the model can skip thinking and
"the model decides" (auto) is served by leaving the turn open after the assistant header.

A template whose `enable_thinking` changes nothing may switch thinking by a variable of its own (`thinking`,
`reasoning`, `enable_reasoning`, `disable_thinking`, ...): that switch is found from the template's own
variables (`formats.switch`) and asked for by its name and values. Where its off value opens no thought
and closes none, thinking off is the empty closed thought appended after the template's prompt.

thinkgate's own template has a switch for auto too (`auto_think`); other templates are rendered in thinking
mode with the thinking prefill taken off. Soft switches (`/think`, `/no_think`) are left to the template.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..types import Mode
from .base import _PROBE, ThinkingFormat, template_text
from .switch import Switch, find_switch

NAMED = Switch("enable_thinking", on=True, off=False, closes=True)  # the family's own switch, by its name


class Qwen3Format(ThinkingFormat):
    name = "qwen3"

    @property
    def template_has_auto(self) -> bool:
        return "auto_think" in template_text(self.tokenizer)

    @cached_property
    def switch(self) -> Switch:
        """`enable_thinking` where it changes the template's rendering; else the switch found among the
        template's own variables; else `enable_thinking` (which then switches nothing: `can_skip` is False)."""
        def rendered(value: bool) -> str | None:
            try:
                return self.tokenizer.apply_chat_template(_PROBE, tokenize=False, add_generation_prompt=True,
                                                          enable_thinking=value)
            except Exception:  # noqa: BLE001 - the probe's own rendering says what is wrong, later
                return None

        if rendered(True) != rendered(False):
            return NAMED
        found = find_switch(self.tokenizer, template_text(self.tokenizer), self.open_tag, self.close_tag,
                            known=("enable_thinking", "auto_think"))
        return found or NAMED

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        if mode == "auto" and self.template_has_auto:
            return {"auto_think": True}
        s = self.switch
        return {s.name: s.off if mode == "nothink" else s.on}

    @property
    def template_closes_off(self) -> bool:
        return self.can_skip and self.switch.closes
