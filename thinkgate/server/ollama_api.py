"""Ollama's native API: `POST /api/chat` and `GET /api/tags`, for the clients that speak Ollama (its Python
and JavaScript libraries, Open WebUI, editors' local-model plugins).

`/api/chat` reads into the same `Ask` as chat completions and takes the same path (`launch`):
- `think`: true | false | "low" | "medium" | "high" (a level is an effort: the family's own levels where its
  template has them, else `types.EFFORT_BUDGETS`' caps); absent: the server's default, or the soft switches;
- `options`: `temperature`, `top_p`, `top_k`, `seed`, `stop` and `num_predict` (the most tokens, thought and
  answer together; -1 or -2, Ollama's "no limit" and "fill the context", is the server's default) are
  honoured; options about the runtime (`num_ctx`, `num_gpu`, `num_thread`, `num_batch`, `main_gpu`,
  `low_vram`, `use_mmap`, `use_mlock`, `numa`, `f16_kv`, `vocab_only`, `logits_all`, `embedding_only`,
  `num_keep`, `repeat_last_n`) are accepted and change nothing here; sampling options thinkgate does not
  implement (`repeat_penalty` other than 1, `presence_penalty` / `frequency_penalty` other than 0, `min_p`,
  `typical_p` other than 1, `tfs_z` other than 1, `mirostat` other than 0) are a 400 naming the option, as is
  an option Ollama does not have (a typo is not ignored); `mirostat_tau`, `mirostat_eta` and
  `penalize_newline`, which act only with those on, are accepted (Ollama's default options carry them);
- `format` (JSON mode or a schema) and message `images` need what thinkgate's generation does not do: a 400;
- `tools` (OpenAI's function shape, as Ollama takes them); calls come back in `message.tool_calls` with their
  arguments as an object; a `tool` message answers them;
- `logprobs` / `top_logprobs`: the answer's tokens with their log probabilities;
- `keep_alive` is accepted (the model stays loaded as long as the server runs);
- `thinkgate` (an extension: thinkgate's own `thinking` object of chat completions) names a strategy, a
  budget or a verifier.
The reply: `message.content` the answer, `message.thinking` the thought (absent when there was none),
`done_reason` stop | length, the counts (`prompt_eval_count`, `eval_count`: every generated token),
durations in nanoseconds (`total_duration` and `eval_duration` are the request's wall time: thinkgate does not
time prompt evaluation apart, `load_duration` and `prompt_eval_duration` are 0), and `thinkgate`: the
decision. Streaming (Ollama's default: `stream` absent is true) is newline-delimited JSON: a line per run of
thought or answer text, then the last line with `done: true`; a failure after the first line is a line
`{"error": ...}`. Errors are Ollama's `{"error": message}` with the HTTP status.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from typing import Any, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..types import Message, Result
from .common import APIError, json_text
from .control import BadField, Controls
from .launch import Ask, Launched, Writer, arguments_of, content_logprobs, details, respond
from .schemas import MAX_MESSAGES, ThinkingControl, _Body, check_function_tools, check_stops

PATH = "/api/chat"
_RUNTIME = ("num_ctx", "num_gpu", "num_thread", "num_batch", "main_gpu", "low_vram", "use_mmap", "use_mlock", "numa",
            "f16_kv", "vocab_only", "logits_all", "embedding_only", "num_keep", "repeat_last_n")
# sampling options thinkgate does not implement, with the value that asks for nothing
_UNHONOURED = {"repeat_penalty": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0, "min_p": 0.0,
               "typical_p": 1.0, "tfs_z": 1.0, "mirostat": 0}
# options that act only with another one on (mirostat's rates, the newline penalty): accepted with any value
# while that one is off, as Ollama's default options send them


class OllamaOptions(BaseModel):
    """`options` of a chat request: Ollama's names; unknown ones are a 400."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=0)
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**64)
    num_predict: int | None = Field(default=None, ge=-2)
    stop: list[str] | None = None
    # accepted, changing nothing here (the runtime's own settings)
    num_ctx: int | None = None
    num_gpu: int | None = None
    num_thread: int | None = None
    num_batch: int | None = None
    main_gpu: int | None = None
    low_vram: bool | None = None
    use_mmap: bool | None = None
    use_mlock: bool | None = None
    numa: bool | None = None
    f16_kv: bool | None = None
    vocab_only: bool | None = None
    logits_all: bool | None = None
    embedding_only: bool | None = None
    num_keep: int | None = None
    repeat_last_n: int | None = None
    # refused unless they ask for nothing
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    tfs_z: float | None = None
    mirostat: int | None = None
    mirostat_tau: float | None = None
    mirostat_eta: float | None = None
    penalize_newline: bool | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: list[str] | None) -> list[str] | None:
        return check_stops(v)

    def unhonoured(self) -> str | None:
        for name, nothing in _UNHONOURED.items():
            value = getattr(self, name)
            if value is not None and value != nothing:
                return name
        return None  # mirostat_tau / _eta act only with mirostat, penalize_newline only with repeat_penalty


class OllamaFunction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = {}
    index: int | None = None


class OllamaToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    function: OllamaFunction


class OllamaMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[OllamaToolCall] | None = None
    tool_name: str | None = None


class OllamaChatRequest(_Body):
    """`POST /api/chat`. Fields Ollama has that change nothing here (`keep_alive`) are accepted; others a
    client sends are tolerated, as on the OpenAI routes."""

    model: str
    messages: list[OllamaMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    tools: list[dict[str, Any]] | None = None
    stream: bool = True
    think: bool | Literal["low", "medium", "high"] | None = None
    format: Any = None
    options: OllamaOptions | None = None
    keep_alive: float | str | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    thinkgate: ThinkingControl | None = None

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return check_function_tools(v)


def _messages(body: OllamaChatRequest) -> list[Message]:
    """Ollama's turns as thinkgate's. Its calls carry no ids: each gets one, and a `tool` turn answers the
    call of the last assistant turn with its `tool_name` (else the next unanswered one, in order)."""
    out = []
    waiting: list[dict] = []  # the last assistant turn's calls not answered yet
    for i, m in enumerate(body.messages):
        if m.images:
            raise BadField("images are not supported (text only)", f"messages[{i}].images")
        calls = [{"id": f"call_{i}_{k}", "type": "function",
                  "function": {"name": c.function.name, "arguments": json_text(c.function.arguments)}}
                 for k, c in enumerate(m.tool_calls or [])] or None
        answers = None
        if m.role == "assistant":
            waiting = list(calls or [])
        elif m.role == "tool" and waiting:
            call = next((c for c in waiting if c["function"]["name"] == m.tool_name), waiting[0])
            waiting.remove(call)
            answers = call["id"]
        out.append(Message(role=m.role, content=m.content or "", reasoning_content=m.thinking, tool_calls=calls,
                           tool_call_id=answers))
    return out


def to_ask(srv, body: OllamaChatRequest) -> Ask:
    if body.format not in (None, ""):
        raise APIError(400, f"format={json_text(body.format)[:60]} is not supported: JSON mode and "
                            "schemas need constrained decoding, which thinkgate's generation does not do",
                       param="format", code="unsupported")
    o = body.options or OllamaOptions()
    if (name := o.unhonoured()) is not None:
        raise APIError(400, f"options.{name}={getattr(o, name)} is not supported by thinkgate's generation",
                       param=f"options.{name}", code="unsupported")
    max_tokens = o.num_predict if o.num_predict is not None and o.num_predict > 0 else None
    if o.num_predict == 0:
        raise APIError(400, "options.num_predict=0 asks for nothing: give at least 1 (or -1 for the server's "
                            "default)", param="options.num_predict", code="invalid_value")
    srv.check_max_tokens(max_tokens, "options.num_predict")
    controls = Controls.extended(body.thinkgate, think=body.think)
    return Ask(messages=_messages(body), controls=controls, path=PATH, tools=body.tools or None,
               max_tokens=max_tokens, temperature=o.temperature, top_p=o.top_p, top_k=o.top_k, seed=o.seed,
               stop=list(o.stop or []), logprobs=(body.top_logprobs or 0) if body.logprobs else None)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _calls(result: Result) -> list[dict]:
    return [{"function": {"index": i, "name": c["function"]["name"], "arguments": arguments_of(c)}}
            for i, c in enumerate(result.tool_calls or [])]


def _end(srv, run: Launched, result: Result) -> dict:
    wall = int((time.perf_counter() - run.started) * 1e9)
    return {"done": True, "done_reason": "length" if result.finish_reason == "length" else "stop",
            "total_duration": wall, "load_duration": 0, "prompt_eval_count": result.usage.prompt_tokens,
            "prompt_eval_duration": 0, "eval_count": result.usage.completion_tokens, "eval_duration": wall,
            "thinkgate": details(run, result)}


def whole(srv, run: Launched, result: Result) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": result.answer}
    if result.reasoning:
        message["thinking"] = result.reasoning
    if result.tool_calls:
        message["tool_calls"] = _calls(result)
    out = {"model": srv.model_name, "created_at": _now(), "message": message, **_end(srv, run, result)}
    if result.logprobs is not None:
        out["logprobs"] = content_logprobs((t.scored() for t in result.logprobs), with_bytes=False)
    return out


class OllamaWriter(Writer):
    """Newline-delimited JSON: a line per run of text, the last with `done: true`."""

    media_type = "application/x-ndjson"

    def __init__(self, srv, run: Launched):
        self.srv, self.run = srv, run

    def _line(self, message: dict, scored: list | None = None, **more) -> str:
        obj = {"model": self.srv.model_name, "created_at": _now(), "message": {"role": "assistant", **message},
               "done": False, **more}
        if scored:
            obj["logprobs"] = content_logprobs(scored, with_bytes=False)
            scored.clear()
        return json_text(obj) + "\n"

    def delta(self, kind: str, text: str, scored: list) -> str:
        return self._line({"content": "", "thinking": text} if kind == "reasoning" else {"content": text}, scored)

    def done(self, result: Result, scored: list) -> str:
        out = ""
        if result.tool_calls or scored:
            out = self._line({"content": "", **({"tool_calls": _calls(result)} if result.tool_calls else {})}, scored)
        return out + self._line({"content": ""}, None, **_end(self.srv, self.run, result))

    def error(self, e: APIError) -> str:
        return e.body(PATH).decode() + "\n"  # Ollama's error shape (`guard.error_body`), as a line


def add_routes(app: FastAPI, srv, errors: dict) -> None:
    """This API's routes on `app` (`errors`: the error statuses the OpenAPI document lists)."""
    started = _now()

    def check_model(name: str) -> None:
        if name not in (srv.model_name, f"{srv.model_name}:latest"):
            raise APIError(404, f"model {name!r} not found; this server serves {srv.model_name!r}", param="model",
                           code="model_not_found")

    @app.post(PATH, responses=errors)
    async def ollama_chat(body: OllamaChatRequest, request: Request):
        check_model(body.model)
        srv.refuse_chat_fallback(PATH)
        return await respond(srv, request, to_ask(srv, body), body.stream, lambda run, result: whole(srv, run, result),
                             lambda run: OllamaWriter(srv, run))

    @app.get("/api/tags", responses=errors)
    async def ollama_tags():
        fmt = srv.fmt.name if srv.fmt is not None else "unknown"
        digest = hashlib.sha256(f"{srv.model_name}|{fmt}".encode()).hexdigest()
        return {"models": [{"name": srv.model_name, "model": srv.model_name, "modified_at": started, "size": 0,
                            "digest": digest,
                            "details": {"parent_model": "", "format": "thinkgate", "family": fmt, "families": [fmt],
                                        "parameter_size": "", "quantization_level": ""}}]}

