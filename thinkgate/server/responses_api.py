"""OpenAI's Responses API: `POST /v1/responses`, the API of OpenAI's reasoning models and agent tools
(`client.responses.create`, `client.responses.stream`).

The body reads into the same `Ask` as chat completions and takes the same path (`launch`):
- `input`: a string (one user turn) or items: messages (`role` user | system | developer | assistant, content a
  string or `input_text` / `output_text` parts), `reasoning` items of earlier turns (their `reasoning_text`
  content, else their summary, given back to the chat template as the next assistant turn's thought),
  `function_call` and `function_call_output` items. Images, files and other items are a 400 naming the item;
- `instructions`: the system turn, before the input;
- `reasoning.effort`: none | minimal | low | medium | high (`xhigh` and `max` read as high), through the one
  thinking policy, as chat's `reasoning_effort`; `reasoning.summary` is accepted and there is **no summary**:
  thinkgate writes none, so a reasoning item's `summary` is empty and its whole thought is its `content`
  (`reasoning_text`), which is what the model wrote;
- `max_output_tokens` (thought and answer together), `temperature`, `top_p`;
- `tools` (function tools: `name`, `description`, `parameters`) and `tool_choice` auto or none (required or a
  named function cannot be enforced when thinkgate renders the prompt: a 400, as on chat completions); other
  tool types (web search, file search, ...) are a 400;
- `text.format`: `text` only (JSON modes need constrained decoding: a 400);
- `include: ["message.output_text.logprobs"]` with `top_logprobs`: the answer's tokens with their log
  probabilities, in the `output_text` part and its deltas;
- stateless: `store: true`, `previous_response_id`, `conversation` and `background: true` are a 400 that says
  this server keeps nothing between requests (the client sends the whole conversation as `input`);
- `thinkgate` (an extension): thinkgate's own `thinking` object of chat completions (mode, budget,
  min_budget, strategy, verify).
The response: `output` holds a `reasoning` item (when the model thought), a `message` item (`output_text`) and
a `function_call` item per call; `usage.output_tokens_details.reasoning_tokens`; `status: "incomplete"` with
`incomplete_details.reason: "max_output_tokens"` when the tokens ran out; `thinkgate`: the decision.
Streaming: `response.created`, `response.in_progress`, then per item `response.output_item.added`,
`response.content_part.added`, its deltas (`response.reasoning_text.delta`, `response.output_text.delta`,
`response.function_call_arguments.delta`), their `.done` events and `response.output_item.done`, then
`response.completed` (or `response.incomplete`), each with its `sequence_number`; a failure after the start is
an `error` event followed by `response.failed`.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..types import Message, Result
from .common import APIError, json_text, new_id
from .control import BadField, Controls
from .launch import Ask, Launched, Writer, content_logprobs, details, respond
from .schemas import MAX_MESSAGES, ThinkingControl, _Body

PATH = "/v1/responses"
_LOGPROBS = "message.output_text.logprobs"


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="allow")  # fields OpenAI adds later change nothing here

    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


class ResponsesRequest(_Body):
    """`POST /v1/responses`. Fields that change nothing here (`metadata`, `user`, `parallel_tool_calls`,
    `truncation`, `service_tier`, ...) are tolerated."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    reasoning: ReasoningConfig | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    background: bool | None = None
    include: list[str] | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    metadata: dict[str, Any] | None = None
    thinkgate: ThinkingControl | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _few_enough(cls, v: Any) -> Any:
        if isinstance(v, list) and len(v) > MAX_MESSAGES:
            raise ValueError(f"{len(v)} input items is more than this server takes ({MAX_MESSAGES})")
        if v == "" or v == []:
            raise ValueError("the input is empty")
        return v


def _text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise BadField("content must be a string or a list of parts", where)
    out = []
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "output_text", "text", "reasoning_text", "summary_text", "refusal") or \
                not isinstance(part.get("text", part.get("refusal")), str):
            raise BadField(f"content part type {kind!r} is not supported (text only: input_text, output_text)",
                           f"{where}[{k}]")
        out.append(part.get("text", part.get("refusal")))
    return "".join(out)


def _messages(body: ResponsesRequest) -> list[Message]:
    out: list[Message] = [Message(role="system", content=body.instructions)] if body.instructions else []
    if isinstance(body.input, str):
        return out + [Message(role="user", content=body.input)]
    thought: str | None = None  # a reasoning item's text, for the assistant turn that follows it

    def assistant() -> Message:
        """The assistant turn the next call or thought belongs to: the last one, if nothing came after it."""
        nonlocal thought
        if not out or out[-1].role != "assistant":
            out.append(Message(role="assistant", content=""))
        if thought:
            out[-1] = out[-1].model_copy(update={"reasoning_content": thought})
            thought = None
        return out[-1]

    for i, item in enumerate(body.input):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise BadField("an input item must be an object", where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise BadField(f"role {role!r} is not one of user, system, developer, assistant", f"{where}.role")
            text = _text(item.get("content"), f"{where}.content")
            if role == "assistant":
                if thought is None and out and out[-1].role == "assistant" and not out[-1].content:
                    out[-1] = out[-1].model_copy(update={"content": text})  # after its own calls' turn
                else:
                    out.append(Message(role="assistant", content=text, reasoning_content=thought))
                    thought = None
            else:
                out.append(Message(role="system" if role == "developer" else role, content=text))
        elif kind == "reasoning":
            parts = item.get("content") or item.get("summary") or []
            thought = (thought or "") + _text(parts, f"{where}.content")
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise BadField("a function_call item needs call_id, name and arguments (strings)", where)
            turn = assistant()
            calls = list(turn.tool_calls or []) + [{"id": item["call_id"], "type": "function", "function": {
                "name": item["name"], "arguments": item["arguments"]}}]
            out[-1] = turn.model_copy(update={"tool_calls": calls})
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise BadField("a function_call_output item needs its call_id", where)
            output = item.get("output")
            text = output if isinstance(output, str) else _text(output, f"{where}.output")
            out.append(Message(role="tool", content=text, tool_call_id=item["call_id"]))
        else:
            raise BadField(f"input item type {kind!r} is not supported (message, reasoning, function_call, "
                           "function_call_output are)", f"{where}.type")
    if not any(m.role != "system" for m in out):
        raise BadField("the input has no turn to answer (a message, a call or its output)", "input")
    return out


def _tools(body: ResponsesRequest) -> list[dict] | None:
    if not body.tools or body.tool_choice == "none":
        return None
    if body.tool_choice not in (None, "auto"):
        raise APIError(400, "tool_choice other than auto or none cannot be enforced when thinkgate renders the prompt",
                       param="tool_choice", code="unsupported")
    out = []
    for i, t in enumerate(body.tools):
        if t.get("type") != "function" or not isinstance(t.get("name"), str):
            raise APIError(400, f"tools[{i}] is not a function tool ({{'type': 'function', 'name': ...}}); other tool "
                                "types are not served here", param=f"tools[{i}]", code="unsupported")
        out.append({"type": "function", "function": {"name": t["name"], "description": t.get("description") or "",
                                                      "parameters": t.get("parameters") or {"type": "object"}}})
    return out


def _refuse_state(body: ResponsesRequest) -> None:
    for name, asked in (("store", body.store is True), ("previous_response_id", body.previous_response_id is not None),
                        ("conversation", body.conversation is not None), ("background", body.background is True)):
        if asked:
            raise APIError(400, f"{name} is not supported: this server is stateless and keeps no responses; send "
                                "the whole conversation as input (with store false or absent)", param=name,
                           code="unsupported")


def to_ask(srv, body: ResponsesRequest) -> Ask:
    _refuse_state(body)
    fmt = (body.text or {}).get("format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise APIError(400, "text.format other than text is not supported: JSON modes need constrained decoding, "
                            "which thinkgate's generation does not do", param="text.format", code="unsupported")
    srv.check_max_tokens(body.max_output_tokens, "max_output_tokens")
    effort = body.reasoning.effort if body.reasoning else None
    effort = "high" if effort in ("xhigh", "max") else effort
    controls = Controls.extended(body.thinkgate, where={"reasoning_effort": "reasoning.effort"},
                                 reasoning_effort=effort)
    logprobs = (body.top_logprobs or 0) if _LOGPROBS in (body.include or []) else None
    return Ask(messages=_messages(body), controls=controls, path=PATH, tools=_tools(body),
               max_tokens=body.max_output_tokens, temperature=body.temperature, top_p=body.top_p, logprobs=logprobs)


def _reasoning_item(rid: str, text: str, status: str = "completed") -> dict:
    return {"type": "reasoning", "id": rid, "summary": [], "status": status,
            "content": [{"type": "reasoning_text", "text": text}]}


def _message_item(mid: str, text: str, logprobs: list, status: str = "completed") -> dict:
    return {"type": "message", "id": mid, "role": "assistant", "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}]}


def _call_item(call: dict) -> dict:
    return {"type": "function_call", "id": "fc_" + call["id"].removeprefix("call_"), "call_id": call["id"],
            "name": call["function"]["name"], "arguments": call["function"]["arguments"], "status": "completed"}


class _Shell:
    """The response object around its output, as every event and the whole response write it."""

    def __init__(self, srv, body: ResponsesRequest):
        self.id, self.created = new_id("resp_"), int(time.time())
        reasoning = body.reasoning.model_dump(exclude_none=True) if body.reasoning else {}
        self.base = {"id": self.id, "object": "response", "created_at": self.created, "model": srv.model_name,
                     "instructions": body.instructions, "max_output_tokens": body.max_output_tokens,
                     "parallel_tool_calls": True, "previous_response_id": None,
                     "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
                     "store": False, "temperature": body.temperature, "top_p": body.top_p,
                     "text": {"format": {"type": "text"}}, "tool_choice": body.tool_choice or "auto",
                     "tools": body.tools or [], "truncation": "disabled", "metadata": body.metadata or {}}

    def shell(self, status: str = "in_progress") -> dict:
        return {**self.base, "status": status, "error": None, "incomplete_details": None, "output": [], "usage": None}

    def final(self, run: Launched, result: Result, output: list[dict]) -> dict:
        u = result.usage
        cut = result.finish_reason == "length"
        return {**self.base, "status": "incomplete" if cut else "completed", "error": None,
                "incomplete_details": {"reason": "max_output_tokens"} if cut else None, "output": output,
                "usage": {"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens": u.completion_tokens,
                          "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
                          "total_tokens": u.prompt_tokens + u.completion_tokens},
                "thinkgate": details(run, result)}


def whole(shell: _Shell, run: Launched, result: Result) -> dict:
    output: list[dict] = []
    if result.reasoning:
        output.append(_reasoning_item(new_id("rs_"), result.reasoning))
    if result.answer or not result.tool_calls:
        lps = content_logprobs(t.scored() for t in result.logprobs or [])
        output.append(_message_item(new_id("msg_"), result.answer, lps,
                                    "incomplete" if result.finish_reason == "length" else "completed"))
    output += [_call_item(c) for c in result.tool_calls or []]
    return shell.final(run, result, output)


class ResponsesWriter(Writer):
    """The Responses API's typed events, numbered: an item per run of thought or answer, opened, filled and
    closed, in the order the official SDK's stream accumulator checks."""

    def __init__(self, shell: _Shell, run: Launched):
        self.shell, self.run = shell, run
        self.seq = 0
        self.output: list[dict] = []  # the items closed so far, as the final response lists them
        self.open: str | None = None  # reasoning | content: the item being written
        self.item_id = ""
        self.text = ""
        self.lps: list = []

    def _event(self, kind: str, **fields) -> str:
        obj = {"type": kind, **fields, "sequence_number": self.seq}
        self.seq += 1
        return f"event: {kind}\ndata: {json_text(obj)}\n\n"

    def begin(self) -> str:
        return (self._event("response.created", response=self.shell.shell())
                + self._event("response.in_progress", response=self.shell.shell()))

    def _add(self, kind: str) -> str:
        self.open, self.text, self.lps = kind, "", []
        at = len(self.output)
        if kind == "reasoning":
            self.item_id = new_id("rs_")
            item = {**_reasoning_item(self.item_id, "", "in_progress"), "content": []}
            part = {"type": "reasoning_text", "text": ""}
        else:
            self.item_id = new_id("msg_")
            item = {**_message_item(self.item_id, "", [], "in_progress"), "content": []}
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return (self._event("response.output_item.added", output_index=at, item=item)
                + self._event("response.content_part.added", item_id=self.item_id, output_index=at, content_index=0,
                              part=part))

    def _close(self, status: str = "completed") -> str:
        if self.open is None:
            return ""
        at, ids = len(self.output), {"item_id": self.item_id, "output_index": len(self.output), "content_index": 0}
        if self.open == "reasoning":
            item = _reasoning_item(self.item_id, self.text)
            out = self._event("response.reasoning_text.done", **ids, text=self.text)
        else:
            item = _message_item(self.item_id, self.text, self.lps, status)
            out = self._event("response.output_text.done", **ids, text=self.text, logprobs=self.lps)
        out += self._event("response.content_part.done", **ids, part=item["content"][0])
        out += self._event("response.output_item.done", output_index=at, item=item)
        self.output.append(item)
        self.open = None
        return out

    def delta(self, kind: str, text: str, scored: list) -> str:
        out = self._close() + self._add(kind) if self.open != kind else ""
        self.text += text
        ids = {"item_id": self.item_id, "output_index": len(self.output), "content_index": 0}
        if kind == "reasoning":
            return out + self._event("response.reasoning_text.delta", **ids, delta=text)
        lps = content_logprobs(scored)
        scored.clear()
        self.lps += lps
        return out + self._event("response.output_text.delta", **ids, delta=text, logprobs=lps)

    def done(self, result: Result, scored: list) -> str:
        status = "incomplete" if result.finish_reason == "length" else "completed"
        out = []
        if scored:  # log probabilities of text already sent: they belong to the message's part
            if self.open != "content":
                out.append(self._close() + self._add("content"))
            self.lps += content_logprobs(scored)
            scored.clear()
        if not result.tool_calls and self.open != "content" and not any(i["type"] == "message" for i in self.output):
            out.append(self._close() + self._add("content"))  # an answer item, even an empty one, as `whole` has
        out.append(self._close(status))
        for call in result.tool_calls or []:
            item, at = _call_item(call), len(self.output)
            out.append(self._event("response.output_item.added", output_index=at, item={**item, "arguments": "",
                                                                                       "status": "in_progress"}))
            out.append(self._event("response.function_call_arguments.delta", item_id=item["id"], output_index=at,
                                   delta=item["arguments"]))
            out.append(self._event("response.function_call_arguments.done", item_id=item["id"], output_index=at,
                                   arguments=item["arguments"], name=item["name"]))
            out.append(self._event("response.output_item.done", output_index=at, item=item))
            self.output.append(item)
        final = self.shell.final(self.run, result, self.output)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        out.append(self._event(kind, response=final))
        return "".join(out)

    def error(self, e: APIError) -> str:
        return (self._event("error", code=e.code, message=e.message, param=e.param)
                + self._event("response.failed", response={**self.shell.shell("failed"), "output": self.output,
                                                           "error": {"code": e.code or "server_error",
                                                                     "message": e.message}}))


def add_routes(app: FastAPI, srv, errors: dict) -> None:
    """This API's routes on `app` (`errors`: the error statuses the OpenAPI document lists)."""
    @app.post(PATH, responses=errors)
    async def responses(body: ResponsesRequest, request: Request):
        srv.check_model(body.model)
        srv.refuse_chat_fallback(PATH)
        shell = _Shell(srv, body)
        return await respond(srv, request, to_ask(srv, body), body.stream,
                             lambda run, result: whole(shell, run, result), lambda run: ResponsesWriter(shell, run))
