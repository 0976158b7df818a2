"""Anthropic's Messages API: `POST /v1/messages`, for the clients that speak it (Anthropic's SDKs, coding agents
pointed at a local model).

The body reads into the same `Ask` as chat completions and takes the same path (`launch`):
- `system` (a string or text blocks); `messages` of `user` and `assistant` turns whose content is a string or
  blocks: `text`, `thinking` (a previous turn's thought: given back to the chat template as that turn's
  reasoning; its `signature` is not checked), `redacted_thinking` (dropped: nothing here can read it),
  `tool_use` (an assistant's call) and `tool_result` (the answer to one, a string or text blocks). Images,
  documents and other blocks are a 400 naming the block;
- `max_tokens` (required, as Anthropic's): thought and answer together; `stop_sequences`, `temperature`,
  `top_p`, `top_k`;
- `thinking`: `{"type": "enabled", "budget_tokens": N}` is thinking with a budget of N tokens through the
  policy (as `thinking.budget`), `{"type": "disabled"}` is thinking off, `{"type": "adaptive"}` leaves it to
  **the model** (thinkgate's mode `auto`; a client that wants thinkgate's calibrated router names it:
  `"thinkgate": {"strategy": "route"}`, or the operator serves `--strategy route`). Of Anthropic's rules on
  the budget thinkgate keeps one: `budget_tokens` below `max_tokens` (else the thought could take every
  token); Anthropic's minimum of 1024 is a floor for its own models, not kept (the models served here may
  need 50). `display: "omitted"` returns thinking blocks without their text; `summarized` (Anthropic's
  default) returns the whole thought (thinkgate writes no summaries). Absent: the server's
  `--default-thinking`, or the soft switches `/think` and `/no_think`;
- `output_config.effort` (low | medium | high | xhigh | max, the last two read as high) is an effort, as
  `reasoning_effort`, with `thinking` enabled or adaptive as well (the effort caps the thought);
  `output_config.format` needs constrained decoding: a 400;
- `tools`: custom tools (`name`, `description`, `input_schema`); server tools (web search, code execution,
  ...) are a 400. `tool_choice` auto or none; `any` and a named tool cannot be enforced when thinkgate renders
  the prompt: a 400, as on chat completions;
- `thinkgate` (an extension): thinkgate's own `thinking` object of chat completions (strategy, budget,
  min_budget, verify, mode), which wins over `thinking`.
The reply: `content` blocks `thinking` (with a `signature`: the SHA-256 of the thought's text, hex, so clients
that require the field have one — it is **not** a cryptographic signature and proves nothing), `text` and
`tool_use`; `stop_reason` end_turn | max_tokens | stop_sequence (with `stop_sequence`) | tool_use; `usage`
(`input_tokens`, `output_tokens` — every generated token — and `output_tokens_details.thinking_tokens`);
`thinkgate`: the decision. Streaming: `message_start`, per block `content_block_start`, its deltas
(`thinking_delta` then `signature_delta`, `text_delta`, `input_json_delta`) and `content_block_stop`, then
`message_delta` (stop reason, usage, `thinkgate`) and `message_stop`; a failure after the start is an `error`
event. Errors are Anthropic's shape (`{"type": "error", "error": {"type", "message"}}`).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..types import Message, Result
from .common import APIError, json_text, new_id
from .control import BadField, Controls
from .launch import Ask, Launched, Writer, arguments_of, details, respond
from .schemas import MAX_MESSAGES, ThinkingControl, _Body, check_stops

PATH = "/v1/messages"


class _Block(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control, citations: accepted, changing nothing here


class TextBlock(_Block):
    type: Literal["text"]
    text: str


class ThinkingBlock(_Block):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_Block):
    type: Literal["redacted_thinking"]
    data: str = ""


class ToolUseBlock(_Block):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = {}


class ToolResultBlock(_Block):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[TextBlock] | None = None
    is_error: bool | None = None

    def text(self) -> str:
        body = self.content if isinstance(self.content, str) or self.content is None else \
            "".join(b.text for b in self.content)
        return ("error: " if self.is_error else "") + (body or "")


Block = Annotated[TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock | ToolResultBlock,
                  Field(discriminator="type")]
_KINDS = ("text", "thinking", "redacted_thinking", "tool_use", "tool_result")


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str | list[Block]

    @model_validator(mode="before")
    @classmethod
    def _kinds(cls, data: Any) -> Any:
        blocks = data.get("content") if isinstance(data, dict) else None
        for b in blocks if isinstance(blocks, list) else []:
            kind = b.get("type") if isinstance(b, dict) else None
            if kind not in _KINDS:
                raise ValueError(f"content block type {kind!r} is not supported (text, thinking, tool_use and "
                                 "tool_result are)")
        return data


class ThinkingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = Field(default=None, ge=0)
    display: Literal["summarized", "omitted"] | None = None

    @model_validator(mode="after")
    def _budget(self) -> "ThinkingConfig":
        if self.type == "enabled" and self.budget_tokens is None:
            raise ValueError("thinking of type enabled needs budget_tokens")
        if self.type != "enabled" and self.budget_tokens is not None:
            raise ValueError(f"budget_tokens goes with thinking of type enabled, not {self.type}")
        return self


class OutputConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: dict[str, Any] | None = None


class AnthropicTool(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control and others: accepted

    type: str | None = None
    name: str
    description: str | None = None
    input_schema: dict[str, Any] | None = None


class MessagesRequest(_Body):
    """`POST /v1/messages`. Fields that change nothing here (`metadata`, `service_tier`, ...) are tolerated."""

    model: str
    max_tokens: int = Field(ge=1)
    messages: list[AnthropicMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    stream: bool = False
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: dict[str, Any] | None = None
    thinkgate: ThinkingControl | None = None

    @field_validator("stop_sequences")
    @classmethod
    def _stops(cls, v: list[str] | None) -> list[str] | None:
        return check_stops(v)



def _messages(body: MessagesRequest) -> list[Message]:
    out: list[Message] = []
    if body.system:
        system = body.system if isinstance(body.system, str) else "".join(b.text for b in body.system)
        out.append(Message(role="system", content=system))
    for m in body.messages:
        if isinstance(m.content, str):
            out.append(Message(role=m.role, content=m.content))
            continue
        text = "".join(b.text for b in m.content if isinstance(b, TextBlock))
        if m.role == "user":  # the answers to the assistant's calls come first, as tool turns
            out += [Message(role="tool", content=b.text(), tool_call_id=b.tool_use_id)
                    for b in m.content if isinstance(b, ToolResultBlock)]
            if text or not any(isinstance(b, ToolResultBlock) for b in m.content):
                out.append(Message(role="user", content=text))
            continue
        thought = "".join(b.thinking for b in m.content if isinstance(b, ThinkingBlock))
        calls = [{"id": b.id, "type": "function", "function": {"name": b.name, "arguments": json_text(b.input)}}
                 for b in m.content if isinstance(b, ToolUseBlock)]
        out.append(Message(role="assistant", content=text, reasoning_content=thought or None, tool_calls=calls or None))
    return out


def _tools(body: MessagesRequest) -> list[dict] | None:
    choice = (body.tool_choice or {}).get("type", "auto")
    if not body.tools or choice == "none":
        return None
    if choice != "auto":
        raise APIError(400, f"tool_choice {choice!r} cannot be enforced when thinkgate renders the prompt: use auto "
                            "or none", param="tool_choice", code="unsupported")
    out = []
    for i, t in enumerate(body.tools):
        if t.type not in (None, "custom"):
            raise APIError(400, f"tools[{i}] is a server tool ({t.type}); only custom tools (name, description, "
                                "input_schema) are served here", param=f"tools[{i}].type", code="unsupported")
        out.append({"type": "function", "function": {"name": t.name, "description": t.description or "",
                                                      "parameters": t.input_schema or {"type": "object"}}})
    return out


def to_ask(srv, body: MessagesRequest) -> Ask:
    srv.check_max_tokens(body.max_tokens, "max_tokens")
    out = body.output_config or OutputConfig()
    if out.format is not None:
        raise APIError(400, "output_config.format is not supported: structured output needs constrained decoding, "
                            "which thinkgate's generation does not do", param="output_config.format",
                       code="unsupported")
    t, own = body.thinking, body.thinkgate
    if t is not None and t.budget_tokens is not None and t.budget_tokens >= body.max_tokens:
        raise BadField(f"thinking.budget_tokens ({t.budget_tokens}) must be below max_tokens ({body.max_tokens}), or "
                       "the thought could take every token", "thinking.budget_tokens")
    mode = {"enabled": "on", "disabled": "off", "adaptive": "auto"}.get(t.type) if t else None
    effort = "high" if out.effort in ("xhigh", "max") else out.effort
    controls = Controls.extended(own, thinking=ThinkingControl(mode=mode, budget=t.budget_tokens) if t else None,
                                 where={"thinking": "thinking.type", "reasoning_effort": "output_config.effort"},
                                 params={"thinking.budget": "thinking.budget_tokens"}, reasoning_effort=effort)
    return Ask(messages=_messages(body), controls=controls, path=PATH, tools=_tools(body), max_tokens=body.max_tokens,
               temperature=body.temperature, top_p=body.top_p, top_k=body.top_k, stop=list(body.stop_sequences or []))


def signature(thought: str) -> str:
    """Not a cryptographic signature: the SHA-256 of the thought's text (hex), for clients that require the field."""
    return hashlib.sha256(thought.encode("utf-8", "surrogatepass")).hexdigest()


def _stop(result: Result) -> tuple[str, str | None]:
    if result.tool_calls:
        return "tool_use", None
    if result.finish_reason == "length":
        return "max_tokens", None
    if result.stop_sequence is not None:
        return "stop_sequence", result.stop_sequence
    return "end_turn", None


def _usage(result: Result) -> dict:
    u = result.usage
    return {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens,
            "output_tokens_details": {"thinking_tokens": u.reasoning_tokens}}


def _tool_use(call: dict) -> dict:
    return {"type": "tool_use", "id": call["id"].replace("call_", "toolu_", 1), "name": call["function"]["name"],
            "input": arguments_of(call)}


def whole(srv, run: Launched, result: Result, omitted: bool) -> dict:
    content: list[dict] = []
    if result.reasoning:
        content.append({"type": "thinking", "thinking": "" if omitted else result.reasoning,
                        "signature": signature(result.reasoning)})
    if result.answer or (result.closed and not result.tool_calls):  # a thought cut by max_tokens: no text block
        content.append({"type": "text", "text": result.answer})
    content += [_tool_use(c) for c in result.tool_calls or []]
    reason, sequence = _stop(result)
    return {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": srv.model_name,
            "content": content, "stop_reason": reason, "stop_sequence": sequence, "usage": _usage(result),
            "thinkgate": details(run, result)}


def _event(name: str, obj: dict) -> str:
    return f"event: {name}\ndata: {json_text(obj)}\n\n"


class MessagesWriter(Writer):
    """Anthropic's event sequence: a block per run of thought or answer, each started, filled and stopped."""

    def __init__(self, srv, run: Launched, omitted: bool):
        self.srv, self.run, self.omitted = srv, run, omitted
        self.index = -1
        self.open: str | None = None  # the kind of the block being written
        self.thought = ""
        self.texts = 0  # text blocks opened

    def begin(self) -> str:
        return _event("message_start", {"type": "message_start", "message": {
            "id": new_id("msg_"), "type": "message", "role": "assistant", "model": self.srv.model_name,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0}}})

    def _close(self) -> str:
        out = ""
        if self.open == "reasoning":
            out = _event("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                 "delta": {"type": "signature_delta", "signature": signature(self.thought)}})
        if self.open is not None:
            out += _event("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.open = None
        return out

    def _start(self, block: dict) -> str:
        self.index += 1
        return _event("content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block})

    def delta(self, kind: str, text: str, scored: list) -> str:
        scored.clear()  # this API has no log probabilities
        out = ""
        if self.open != kind:
            self.texts += kind == "content"
            out = self._close() + self._start({"type": "thinking", "thinking": "", "signature": ""} if kind == "reasoning"
                                              else {"type": "text", "text": ""})
            self.open = kind
        if kind == "reasoning":
            self.thought += text
            if self.omitted:
                return out
            delta = {"type": "thinking_delta", "thinking": text}
        else:
            delta = {"type": "text_delta", "text": text}
        return out + _event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def done(self, result: Result, scored: list) -> str:
        scored.clear()
        out = [self._close()]
        if result.closed and not result.tool_calls and not self.texts:  # an empty answer: its block, as `whole`
            out.append(self._start({"type": "text", "text": ""}) + _event("content_block_stop", {
                "type": "content_block_stop", "index": self.index}))
        for call in result.tool_calls or []:
            block = _tool_use(call)
            out.append(self._start({**block, "input": {}}))
            out.append(_event("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": {
                "type": "input_json_delta", "partial_json": json_text(block["input"])}}))
            out.append(_event("content_block_stop", {"type": "content_block_stop", "index": self.index}))
        reason, sequence = _stop(result)
        out.append(_event("message_delta", {"type": "message_delta",
                                            "delta": {"stop_reason": reason, "stop_sequence": sequence},
                                            "usage": _usage(result), "thinkgate": details(self.run, result)}))
        out.append(_event("message_stop", {"type": "message_stop"}))
        return "".join(out)

    def error(self, e: APIError) -> str:
        return f"event: error\ndata: {e.body(PATH).decode()}\n\n"


def add_routes(app: FastAPI, srv, errors: dict) -> None:
    """This API's routes on `app` (`errors`: the error statuses the OpenAPI document lists)."""
    @app.post(PATH, responses=errors)
    async def messages(body: MessagesRequest, request: Request):
        srv.check_model(body.model)
        srv.refuse_chat_fallback(PATH)
        omitted = body.thinking is not None and body.thinking.display == "omitted"
        return await respond(srv, request, to_ask(srv, body), body.stream,
                             lambda run, result: whole(srv, run, result, omitted),
                             lambda run: MessagesWriter(srv, run, omitted))
