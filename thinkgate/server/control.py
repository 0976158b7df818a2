"""Per-request thinking control: from the fields clients send to one decision (mode, budget, strategy).

Precedence, first that is present wins for the mode:
1. `thinking.mode` (thinkgate's own object: auto | on | off)
2. `chat_template_kwargs.enable_thinking` (vLLM / SGLang)
3. `reasoning_effort` (OpenAI: none | minimal | low | medium | high: the model family's own levels where its
   template has them, else the caps of `thinkgate.types.EFFORT_BUDGETS`; "none" is thinking off)
4. `think` (Ollama: true | false | low | medium | high, levels as `reasoning_effort`)
5. the soft switches `/think` and `/no_think` in user turns (the last one in the conversation wins)
6. the server's `--default-thinking`
`thinking.budget` / `thinking.min_budget` override an effort's cap; `thinking.strategy` overrides the
server's `--strategy`. An effort (3, 4) sent beside a field that turned thinking on or to auto (1, 2:
Anthropic's `thinking: {type: adaptive}` with `output_config.effort`) still sets the effort. When an
explicit field (1-4) decides, soft switches are taken out of the messages, so that the chat template follows
the decision instead of the switch. Each API face fills `Controls` from its own fields (`launch.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from ..types import Effort, Message, Mode
from .schemas import ChatCompletionRequest, ThinkingControl

_MODES: dict[str, Mode] = {"on": "think", "off": "nothink", "auto": "auto"}
# /think and /no_think as words of their own: not the end tag `</think>` a user may quote, nor part of a path
_SWITCH = re.compile(r"(?<![<\w/])/(no_think|think)(?![\w>/])")


@dataclass
class Decision:
    mode: Mode
    source: str
    budget: int | None = None
    min_budget: int | None = None
    strategy: str | None = None  # None: the server's default
    effort: Effort | None = None
    policy: str | None = None  # how the serving strategy was reached (thinkgate.policy), once planned
    fields: dict[str, str] = field(default_factory=dict)  # a library parameter -> the request field it came from


NOT_SENT = object()  # a field the request did not carry (where null is a value of its own)


@dataclass
class Controls:
    """A request's thinking controls in the core's words, whichever API they came in: each face (chat
    completions, Responses, Anthropic Messages, Ollama) fills the sources its API has, and `where` names the
    field that carries each in that API (errors name what the client sent: `reasoning.effort`, not
    `reasoning_effort`); `params` does the same for the library's own parameter names
    (`thinking.budget` -> Anthropic's `thinking.budget_tokens`)."""

    thinking: ThinkingControl | None = None  # thinkgate's own object (mode, budget, min_budget, strategy, verify)
    enable_thinking: Any = NOT_SENT  # chat_template_kwargs.enable_thinking, where sent (null is a 400)
    reasoning_effort: Effort | None = None
    think: bool | Literal["low", "medium", "high"] | None = None  # Ollama's switch
    where: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def extended(cls, own: ThinkingControl | None, thinking: ThinkingControl | None = None,
                 where: dict[str, str] | None = None, params: dict[str, str] | None = None, **sources) -> "Controls":
        """The controls of an API that carries thinkgate's own object as the `thinkgate` extension field
        (`own`): it wins field by field over `thinking`, the API's own switch in thinkgate's words (Anthropic's
        `thinking`), and errors about a field it set name `thinkgate.<field>`. `sources`: the API's other
        controls (`reasoning_effort`, `think`)."""
        given = own.model_dump(exclude_none=True) if own is not None else {}
        if own is not None or thinking is not None:
            thinking = ThinkingControl(**{**(thinking.model_dump(exclude_none=True) if thinking else {}), **given})
        where = {**(where or {}), **({"thinking": "thinkgate.mode"} if "mode" in given else {})}
        params = {**(params or {}), **{f"thinking.{k}": f"thinkgate.{k}" for k in given}}
        return cls(thinking=thinking, where=where, params=params, **sources)

    @classmethod
    def of_chat(cls, body: ChatCompletionRequest) -> "Controls":
        kwargs = body.chat_template_kwargs or {}
        return cls(thinking=body.thinking, enable_thinking=kwargs.get("enable_thinking", NOT_SENT),
                   reasoning_effort=body.reasoning_effort, think=body.think)


class BadField(ValueError):
    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


def soft_switch(messages: list[Message]) -> Mode | None:
    """The last /think or /no_think in a user turn, as the chat template reads it."""
    found: Mode | None = None
    for m in messages:
        if m.role == "user":
            hits = _SWITCH.findall(m.content)
            if hits:
                found = "think" if hits[-1] == "think" else "nothink"
    return found


def to_messages(body: ChatCompletionRequest) -> list[Message]:
    out = []
    for i, m in enumerate(body.messages):
        try:
            text = m.text()
        except ValueError as e:
            raise BadField(str(e), f"messages[{i}].content") from None
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role=role, content=text, reasoning_content=m.reasoning_content or m.reasoning,
                           tool_calls=m.tool_calls, tool_call_id=m.tool_call_id))
    return out


def tools_of(body: ChatCompletionRequest) -> list[dict] | None:
    """The tools the chat template is given: none for `tool_choice: "none"`; a choice raw-prefix rendering
    cannot enforce (`required`, a named function) is refused."""
    if not body.tools or body.tool_choice == "none":
        return None
    if body.tool_choice not in (None, "auto"):
        raise BadField("tool_choice other than auto or none cannot be enforced when thinkgate renders the prompt "
                       "(raw-prefix); use the chat fallback (--upstream-chat), where the engine enforces it",
                       "tool_choice")
    return body.tools


# where each source of the thinking mode lives in a request
_SOURCE_FIELDS = {"thinking": "thinking.mode", "chat_template_kwargs": "chat_template_kwargs.enable_thinking",
                  "reasoning_effort": "reasoning_effort", "think": "think", "soft_switch": "messages"}


def client_field(param: str, decision: "Decision") -> str:
    """The request field a library error's `param` (`thinking.mode`, `thinking.effort`) came from in this
    request: the effort from `reasoning_effort` or Ollama's `think`, the mode from whichever field set it."""
    return decision.fields.get(param, param)


def decide(controls: Controls, messages: list[Message], default: str) -> tuple[Decision, list[Message]]:
    t = controls.thinking
    where = {**_SOURCE_FIELDS, **controls.where}
    effort: Effort | None = None
    if t and t.mode:
        mode, source = _MODES[t.mode], "thinking"
    elif controls.enable_thinking is not NOT_SENT:
        on = controls.enable_thinking
        if not isinstance(on, bool):
            raise BadField(f"{where['chat_template_kwargs']} must be true or false", where["chat_template_kwargs"])
        mode, source = ("think" if on else "nothink"), "chat_template_kwargs"
    elif controls.reasoning_effort:
        effort, source = controls.reasoning_effort, "reasoning_effort"
        mode = "nothink" if effort == "none" else "think"
    elif controls.think is not None:
        if isinstance(controls.think, bool):
            mode = "think" if controls.think else "nothink"
        else:
            effort, mode = controls.think, "think"
        source = "think"
    elif (switch := soft_switch(messages)) is not None:
        mode, source = switch, "soft_switch"
    else:
        mode, source = _MODES[default], "default"
    if source not in ("soft_switch", "default"):
        messages = [m.model_copy(update={"content": _SWITCH.sub("", m.content).strip()}) if m.role == "user" else m
                    for m in messages]
    fields = {"thinking.mode": where.get(source, "thinking.mode"), **controls.params}
    if effort is not None:
        fields["thinking.effort"] = where[source]
    elif mode != "nothink":  # a field that turned thinking on (or to auto) decided: an effort beside it still caps
        for name, value in (("reasoning_effort", controls.reasoning_effort), ("think", controls.think)):
            if isinstance(value, str) and value != "none":
                effort, fields["thinking.effort"] = value, where[name]
                break
    budget = t.budget if t else None
    if t and t.min_budget is not None and t.budget is not None and t.min_budget > t.budget:
        low, high = (fields.get(f"thinking.{k}", f"thinking.{k}") for k in ("min_budget", "budget"))
        raise BadField(f"{low} ({t.min_budget}) is above {high} ({t.budget})", low)
    if mode == "nothink":
        budget, effort = None, None
    return Decision(mode=mode, source=source, budget=budget, min_budget=t.min_budget if t and mode != "nothink" else None,
                    strategy=t.strategy if t else None, effort=effort, fields=fields), messages
