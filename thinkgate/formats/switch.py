"""A chat template's own thinking switch, found from the variables it reads rather than from a list of names.

Templates switch thinking by whatever variable their authors chose (`enable_thinking`, `thinking`,
`reasoning`, `enable_reasoning`, `disable_thinking`, ...). `find_switch` lists the variables a template reads
but never sets (jinja2's `meta.find_undeclared_variables`, parsed in the environment transformers renders
templates with), leaves out those transformers always passes (the conversation, tools, documents, the
generation flag, special tokens, its helper functions) and those the family already reads by name, and
renders the probe conversation with each remaining one set to true and to false. A variable is the switch
when one value makes the generation prompt open a thought or write a closed one and the other does not:

- a closed thought (`<think>\\n\\n</think>\\n\\n`) under one value: that value is thinking off, the other on;
- otherwise an opened thought (`<think>\\n`) under one value and none under the other: that value is
  thinking on, the other off, and thinking off has no closed thought of the template's (the family appends
  the empty closed thought, as for a template without a switch).

A variable whose values change other text (a date, a system prompt) but no thought markup is not a switch.
Of several switches, one whose off value closes a thought comes first, then the first by name.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

from .base import _PROBE

# what transformers gives every template (`render_jinja_template`: the conversation, tools, documents, the
# generation flag; its globals raise_exception and strftime_now; the special tokens, which a tokenizer
# without one of them leaves undefined)
PASSED = frozenset({"messages", "tools", "documents", "add_generation_prompt", "raise_exception", "strftime_now",
                    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
                    "additional_special_tokens"})


@dataclass(frozen=True)
class Switch:
    """A template variable that switches thinking, and its values."""

    name: str
    on: Any  # the value that opens (or permits) a thought
    off: Any  # the value that closes it, or opens none
    closes: bool  # the off value makes the template write a closed thought itself


def _environment() -> Any:
    """The jinja2 environment transformers compiles chat templates in (its `{% generation %}` tag and loop
    controls included); a sandbox with loop controls where that is not reachable."""
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        return _compile_jinja_template("").environment
    except Exception:  # noqa: BLE001 - a transformers without that helper: parse as plain jinja2
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])


def template_variables(template: str) -> set[str]:
    """The variables a template reads without setting them (its arguments); empty when it does not parse."""
    from jinja2 import meta

    env = _environment()
    try:
        names = meta.find_undeclared_variables(env.parse(template))
    except Exception:  # noqa: BLE001 - a template jinja2 cannot parse renders nothing either
        return set()
    return names - set(env.globals)


def candidates(tokenizer: Any, template: str, known: tuple[str, ...] = ()) -> list[str]:
    """The template's own arguments that may be a switch: what it reads, less what transformers always passes
    (`PASSED`, the special tokens, `apply_chat_template`'s own parameters) and the family's `known` ones."""
    passed = set(PASSED) | set(known) | set(getattr(tokenizer, "special_tokens_map", None) or {})
    return sorted(template_variables(template) - passed - _own_parameters(tokenizer))


def _own_parameters(tokenizer: Any) -> set[str]:
    """The parameters `apply_chat_template` takes itself (`continue_final_message`, ...): a template reading
    such a name never gets it."""
    names: set[str] = set()
    methods = [getattr(tokenizer, "apply_chat_template", None)]
    try:
        from transformers import PreTrainedTokenizerBase

        methods.append(PreTrainedTokenizerBase.apply_chat_template)
    except ImportError:
        pass
    for method in methods:
        try:
            names |= {p.name for p in inspect.signature(method).parameters.values()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        except (TypeError, ValueError):
            pass
    return names


def _state(text: str, open_tag: str, close_tag: str) -> str:
    """What a generation prompt's end does with a thought: "closed", "open" or "none"."""
    at = text.rfind(open_tag)
    if at < 0:
        return "none"
    return "closed" if close_tag in text[at:] else "open"


def _generation(tokenizer: Any, kwargs: dict[str, Any]) -> str | None:
    """What the generation prompt adds to the probe conversation with `kwargs`; None when the template cannot
    render it so."""
    try:
        base = tokenizer.apply_chat_template(_PROBE, tokenize=False, add_generation_prompt=False, **kwargs)
        full = tokenizer.apply_chat_template(_PROBE, tokenize=False, add_generation_prompt=True, **kwargs)
    except Exception:  # noqa: BLE001 - a value the template cannot take (a string method on a bool, ...)
        return None
    if not isinstance(base, str) or not isinstance(full, str):
        return None
    return full[len(os.path.commonprefix([base, full])):]


def switch_of(tokenizer: Any, name: str, open_tag: str, close_tag: str) -> Switch | None:
    """`name` as a switch of the template's thinking (see the module's docstring), or None."""
    states = {}
    for value in (True, False):
        text = _generation(tokenizer, {name: value})
        if text is None:
            return None
        states[value] = _state(text, open_tag, close_tag)
    if states[True] == states[False]:
        return None
    if "closed" in states.values():
        off = states[True] == "closed"  # the value under which the template closes the thought
        return Switch(name, on=not off, off=off, closes=True)
    on = states[True] == "open"  # the value under which it opens one
    return Switch(name, on=on, off=not on, closes=False)


def find_switch(tokenizer: Any, template: str, open_tag: str, close_tag: str,
                known: tuple[str, ...] = ()) -> Switch | None:
    """The template's thinking switch among its own arguments (`candidates`), or None where none switches."""
    found = [s for name in candidates(tokenizer, template, known)
             if (s := switch_of(tokenizer, name, open_tag, close_tag)) is not None]
    return min(found, key=lambda s: (not s.closes, s.name), default=None)
