"""`deepseek_r1`: `<think>...</think>` reasoning in a template with no switch (DeepSeek-R1 distills, and
llama.cpp's R1 template): the template opens `<think>\\n` itself and the model always thinks.

Thinking off is NoThinking's empty closed thought appended after the template's opening (`<think>\\n\\n
</think>\\n\\n`); the model cannot decide by itself (auto is refused). Output without any tag is reasoning that
never closed, since the opening was the template's.
"""

from __future__ import annotations

from typing import Any

from ..types import Mode
from .base import ThinkingFormat


class DeepSeekR1Format(ThinkingFormat):
    name = "deepseek_r1"
    untagged_is_reasoning = True

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        return {}
