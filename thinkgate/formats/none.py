"""`none`: a model without a thinking mode (Llama 3, Mistral Nemo, Gemma 2, Phi-3.5, Qwen2.5, SmolLM2, ...).

Every mode renders the same plain prompt; everything the model writes is the answer, whatever tags it
contains; results say that no thinking happened (`Result.thinking_mode` False). A strategy that needs a
thought (a budget, early exit, a prefilled thought) refuses such a model, naming the missing capability.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..types import Message, Mode, ThinkingSpec
from .base import FormatError, Probe, ThinkingFormat


class NoThinkingFamily(ThinkingFormat):
    name = "none"
    open_tag = ""
    close_tag = ""
    has_thinking = False

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        return {}

    def render(self, messages: list[Message], mode: Mode, spec: ThinkingSpec | None = None,
               tools: list[dict] | None = None) -> str:
        return self._apply([m.model_dump(exclude_none=True) for m in messages], "think", tools=tools)

    @cached_property
    def _probe(self) -> Probe:
        try:
            return super()._probe
        except FormatError:  # a template that cannot render a plain chat (tools required): no header to find
            return Probe("", "", "", switch=False)

    @property
    def supports_auto(self) -> bool:
        return True  # nothing to decide: the model answers

    def check_mode(self, mode: Mode, who: str) -> None:
        return None

    def split(self, text: str) -> tuple[str, str, bool]:
        return "", text.strip(), True
