"""Model families: how each family's chat template asks for a thinking mode and writes its reasoning.

One class per family, registered by name (`FORMATS`). `detect_format(tokenizer)` reads the chat template and
the tokenizer's special tokens for each family's own markup (never a loose word such as "Assistant"), and
`--format NAME` (CLI, bench, serve) overrides it. A template with reasoning markup that no registered family
describes is an error that says what was found and what the choices are; a template with no reasoning
markup at all is the family `none` (a model without a thinking mode).

    from thinkgate.formats import family_of
    fmt = family_of("path/to/model")            # or a tokenizer
    prompt = fmt.render(messages, "nothink")
    reasoning, answer, closed = fmt.split(text)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .apertus import ApertusFormat
from .apriel import AprielFormat
from .base import FormatError, TaggedFamily, ThinkingFormat, template_text
from .cohere import CohereFormat
from .deepseek_r1 import DeepSeekR1Format
from .gemma4 import Gemma4Format
from .gpt_oss import GptOssFormat
from .granite import GraniteFormat
from .hunyuan import HunyuanFormat
from .kimi_k3 import KimiK3Format
from .magistral import MagistralFormat
from .minimax_m3 import MiniMaxM3Format
from .muse import MuseFormat
from .none import NoThinkingFamily
from .qwen3 import Qwen3Format
from .seed_oss import SeedOssFormat
from .solar_open import SolarOpenFormat

FORMATS: dict[str, type[ThinkingFormat]] = {f.name: f for f in (
    Qwen3Format, DeepSeekR1Format, GptOssFormat, SeedOssFormat, MagistralFormat, CohereFormat, HunyuanFormat,
    Gemma4Format, GraniteFormat, KimiK3Format, MiniMaxM3Format, ApertusFormat, SolarOpenFormat, AprielFormat,
    MuseFormat, NoThinkingFamily)}
# families told apart by their own markup in the template (or its rendered generation prompt): every piece of
# a key must be there
MARKUP: dict[tuple[str, ...], str] = {
    ("<|channel|>analysis",): "gpt_oss",
    ("<seed:think>",): "seed_oss",
    ("[THINK]", "[/THINK]"): "magistral",
    ("<|START_THINKING|>",): "cohere",
    ("<think:opensource>",): "hunyuan",
    ("<|channel>thought",): "gemma4",
    ("<|open|>think",): "kimi_k3",
    ("<mm:think>",): "minimax_m3",
    ("<|think|>",): "solar_open",
    ("<|inner_prefix|>",): "apertus",
    ("[BEGIN FINAL RESPONSE]",): "apriel",
    ("<|start_of_role|>", "<think>"): "granite",
    ("assistant to=self<|message|>",): "muse",
}

# what suggests a template can reason when no family's markup matched: an error says so rather than serving
# it as a model without a thinking mode
REASONING_HINTS = ("<think", "reasoning_content", "reasoning_effort")


def detect_format(tokenizer: Any) -> str:
    """The family of a tokenizer's chat template, by its markup; FormatError when it has reasoning markup
    of a family not registered here."""
    template = template_text(tokenizer)
    if not template:
        raise FormatError("the tokenizer has no chat template, so no family can render it; give the model "
                          "folder a chat_template.jinja (or tokenizer_config.json's chat_template)")
    try:  # markup a template assembles from pieces shows only once rendered
        rendered = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False,
                                                 add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - a template that needs more (tools, ...) to render: its source must do
        rendered = ""
    for markers, name in MARKUP.items():
        if all(m in template or m in rendered for m in markers):
            return name
    if "<think>" in template and "</think>" in template:  # switchable (by `enable_thinking` or a switch of its
        return "qwen3" if Qwen3Format(tokenizer).can_skip else "deepseek_r1"  # own), or always thinking
    if "<think>" in template and rendered and Qwen3Format(tokenizer).can_skip:  # an opening its switch writes
        return "qwen3"
    hints = [h for h in REASONING_HINTS if h in template]
    if hints:
        raise FormatError(f"the chat template has reasoning markup ({', '.join(map(repr, hints))}) that no family "
                          f"describes; looked for each family's own markup; known: {', '.join(FORMATS)} (--format NAME "
                          "picks one; --format none serves the model without a thinking mode)")
    return "none"


def get_format(name: str | None, tokenizer: Any) -> ThinkingFormat:
    """The family named `name` (None: detected) for this tokenizer."""
    name = name or detect_format(tokenizer)
    if name not in FORMATS:
        raise FormatError(f"unknown model family {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name](tokenizer)


def family_of(model: Any, name: str | None = None) -> ThinkingFormat:
    """The family of a tokenizer, or of a model or tokenizer folder (its tokenizer is loaded)."""
    if isinstance(model, (str, Path)):
        from transformers import AutoTokenizer

        model = AutoTokenizer.from_pretrained(str(model))
    return get_format(name, model)


__all__ = ["FORMATS", "MARKUP", "REASONING_HINTS", "DeepSeekR1Format", "FormatError", "NoThinkingFamily",
           "Qwen3Format", "TaggedFamily", "ThinkingFormat", "detect_format", "family_of", "get_format"]
