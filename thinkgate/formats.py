"""Chat formats: how a conversation is rendered for a thinking mode, and how output splits into reasoning
and answer.

The prompt comes from the tokenizer's own chat template (`apply_chat_template`), so a model folder that
ships a template is rendered exactly as its authors intended. What differs between model families is how
the thinking mode is asked for and how output is parsed; that is one small class per family, registered
by name, like an inference engine's reasoning parsers.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from .types import Message, Mode


class ThinkingFormat:
    """Base: `<think>...</think>` reasoning. Subclasses set the template switches and the parser rule."""

    name: ClassVar[str]
    open_tag: ClassVar[str] = "<think>"
    close_tag: ClassVar[str] = "</think>"
    # When output has no tags at all: is it an answer (False) or unclosed reasoning (True)?
    untagged_is_reasoning: ClassVar[bool] = False

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        raise NotImplementedError

    def render(self, messages: list[Message], mode: Mode) -> str:
        """The prompt text, ending where the assistant (after any prefill) continues."""
        dicts = [m.model_dump(exclude_none=True) for m in messages]
        return self.tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True,
                                                  **self.template_kwargs(mode))

    @cached_property
    def assistant_header(self) -> str:
        """What the template writes to open the assistant turn, before any thinking prefill (rendered once
        per format, on a probe conversation): the rendered prompt's text after its last occurrence is the
        prefill. Empty when the template's generation prompt cannot be told apart."""
        msgs = [{"role": "user", "content": "x"}]
        tok = self.tokenizer
        with_prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                              **self.template_kwargs("auto"))
        without = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=False)
        return with_prompt[len(without):] if with_prompt.startswith(without) else ""

    def assistant_part(self, prompt: str) -> str | None:
        """The text of a rendered prompt after its last assistant header (the prefill, plus anything a
        strategy appended), or None when the header is not in it."""
        header = self.assistant_header
        return prompt.rsplit(header, 1)[1] if header and header in prompt else None

    @cached_property
    def prefills(self) -> tuple[str, str]:
        """(thinking prefill, no-thinking prefill): what the template writes after the assistant header in
        each mode, from a probe conversation rendered three ways; ("", "") when the modes do not extend
        the auto rendering."""
        msgs = [{"role": "user", "content": "x"}]
        auto, think, nothink = (self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                                                   **self.template_kwargs(m))
                                for m in ("auto", "think", "nothink"))
        if not (think.startswith(auto) and nothink.startswith(auto)):
            return "", ""
        return think[len(auto):], nothink[len(auto):]

    def forced_thinking(self, prompt: str) -> list[str]:
        """What the model may not write first after `prompt` for its thinking to be forced (a backend's
        `GenParams.ban_first`). A template whose thinking prefill is the start of its no-thinking one
        (thinkgate's and Qwen3's hybrid templates, `<think>\n` against `<think>\n\n</think>\n\n`) leaves the
        choice open after the prefill, and a model trained to choose (`tiny-auto`) may close the thought
        at once; banning the first token of the rest of the no-thinking prefill makes it think. Empty when
        the prompt does not end in the thinking prefill (a soft switch turned thinking off, text was
        injected after it) or the template forces nothing (an empty thinking prefill)."""
        think, nothink = self.prefills
        if not think or not nothink.startswith(think) or len(nothink) == len(think):
            return []
        return [nothink[len(think):]] if self.assistant_part(prompt) == think else []

    def split(self, text: str) -> tuple[str, str, bool]:
        """(reasoning, answer, closed) of an assistant turn's text, including any prefill."""
        head, sep, tail = text.partition(self.close_tag)
        if sep:
            return head.replace(self.open_tag, "", 1).strip(), tail.strip(), True
        if self.open_tag in text:
            return text.split(self.open_tag, 1)[1].strip(), "", False
        if self.untagged_is_reasoning:
            return text.strip(), "", False
        return "", text.strip(), True


class Qwen3Format(ThinkingFormat):
    """Qwen3 (and thinkgate's embedded model): `enable_thinking` in the template; thinking by default.
    The template's /think and /no_think soft switches are left to the template and the model."""

    name = "qwen3"

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        if mode == "auto":
            return {"auto_think": True}
        return {"enable_thinking": mode == "think"}


class DeepSeekR1Format(ThinkingFormat):
    """DeepSeek-R1 distills: the template opens `<think>\\n` itself, so output without tags is reasoning
    that never closed. No template switch exists; no-thinking is a prefill (see the nothinking strategy)."""

    name = "deepseek_r1"
    untagged_is_reasoning = True

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        return {}


FORMATS: dict[str, type[ThinkingFormat]] = {f.name: f for f in (Qwen3Format, DeepSeekR1Format)}


def detect_format(tokenizer: Any) -> str:
    """Pick the format from the chat template: `enable_thinking` means Qwen3-style, else R1-style."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if "enable_thinking" in template:
        return "qwen3"
    if "<think>" in template or "Assistant" in template:
        return "deepseek_r1"
    return "qwen3"


def get_format(name: str | None, tokenizer: Any) -> ThinkingFormat:
    name = name or detect_format(tokenizer)
    if name not in FORMATS:
        raise KeyError(f"unknown chat format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name](tokenizer)
