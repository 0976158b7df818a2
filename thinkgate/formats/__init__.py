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

from .base import FormatError, TaggedFamily, ThinkingFormat
from .cohere import CohereFormat
from .deepseek_r1 import DeepSeekR1Format
from .gpt_oss import GptOssFormat
from .hunyuan import HunyuanFormat
from .magistral import MagistralFormat
from .none import NoThinkingFamily
from .qwen3 import Qwen3Format
from .seed_oss import SeedOssFormat

FORMATS: dict[str, type[ThinkingFormat]] = {f.name: f for f in (
    Qwen3Format, DeepSeekR1Format, GptOssFormat, SeedOssFormat, MagistralFormat, CohereFormat, HunyuanFormat,
    NoThinkingFamily)}
# families told apart by their own markup in the template (or its rendered generation prompt): every piece of
# a key must be there
MARKUP: dict[tuple[str, ...], str] = {
    ("<|channel|>analysis",): "gpt_oss",
    ("<seed:think>",): "seed_oss",
    ("[THINK]", "[/THINK]"): "magistral",
    ("<|START_THINKING|>",): "cohere",
    ("<think:opensource>",): "hunyuan",
}

# reasoning markup of families thinkgate recognises but does not yet render (every piece of a key must be
# in the template or its rendered generation prompt): a template carrying one is refused by name rather
# than served as something it is not
UNSUPPORTED_MARKUP: dict[tuple[str, ...], str] = {
    ("<|channel>thought",): "Gemma 4 (thought channel)",
    ("<|open|>think",): "Kimi K3",
    ("<mm:think>",): "MiniMax M3",
    ("<|think|>",): "Solar Open",
    ("<|inner_prefix|>",): "Apertus (inner thoughts)",
    ("[BEGIN FINAL RESPONSE]",): "Apriel (reasoning steps, then [BEGIN FINAL RESPONSE])",
    ("<|start_of_role|>", "<think>"): "Granite 3.3 (<think> then <response>)",
}


def _template(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):  # several named templates: the default one renders chats
        template = template.get("default") or next(iter(template.values()), "")
    return template


def detect_format(tokenizer: Any) -> str:
    """The family of a tokenizer's chat template, by its markup; FormatError when it has reasoning markup
    of a family not registered here."""
    template = _template(tokenizer)
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
    for markers, family in UNSUPPORTED_MARKUP.items():
        if all(m in template or m in rendered for m in markers):
            raise FormatError(f"the chat template is {family}'s (it writes {' and '.join(map(repr, markers))}), a "
                              "family thinkgate does not "
                              f"render yet; known: {', '.join(FORMATS)} (--format none serves it as a model "
                              "without a thinking mode)")
    if "<think>" in template and "</think>" in template:  # switchable by `enable_thinking`, or always thinking
        return "qwen3" if Qwen3Format(tokenizer).can_skip else "deepseek_r1"
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


__all__ = ["FORMATS", "MARKUP", "UNSUPPORTED_MARKUP", "CohereFormat", "DeepSeekR1Format", "FormatError", "GptOssFormat",
           "HunyuanFormat", "MagistralFormat", "NoThinkingFamily", "Qwen3Format", "SeedOssFormat", "TaggedFamily",
           "ThinkingFormat", "detect_format", "family_of", "get_format"]
