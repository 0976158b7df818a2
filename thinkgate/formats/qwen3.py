"""`qwen3`: `<think>...</think>` reasoning with a template switch, `enable_thinking` (Qwen3, Qwen3.5, QwQ as
llama.cpp ships it, SmolLM3, MiniCPM, GLM-4.5+, Nemotron 3, DeepSeek V3.1+ where the template also reads
it, thinkgate's own model). Thinking is the default; `enable_thinking=False` makes the template write an
empty closed thought (or, in GLM's, add `/nothink` to the user turn), so the model can skip thinking and
"the model decides" (auto) is served by leaving the turn open after the assistant header.

thinkgate's own template has a switch for that too (`auto_think`); other templates are rendered in thinking
mode with the thinking prefill taken off. Soft switches (`/think`, `/no_think`) are left to the template.
"""

from __future__ import annotations

from typing import Any

from ..types import Mode
from .base import ThinkingFormat, template_text


class Qwen3Format(ThinkingFormat):
    name = "qwen3"

    @property
    def template_has_auto(self) -> bool:
        return "auto_think" in template_text(self.tokenizer)

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        if mode == "auto":
            return {"auto_think": True} if self.template_has_auto else {"enable_thinking": True}
        return {"enable_thinking": mode == "think"}
