"""Request bodies of the OpenAI-compatible API.

The OpenAI bodies tolerate fields real clients send that do not change what is generated (`user`,
`metadata`, `store`, `service_tier`, `parallel_tool_calls`, ...): extra fields are allowed, ignored when
thinkgate generates, and passed through intact to an upstream in chat fallback. What is thinkgate's own —
the `thinking` object — forbids unknown fields, so a typo is a 400 naming the field, not a silent default.
Known fields are still validated.

A field that would change what is generated but that thinkgate's own generation cannot honour is refused,
not ignored — as `tools` a template cannot take and `tool_choice` it cannot enforce are: a 400 `unsupported`
naming it, on a chat request that thinkgate's strategies serve (a local model, or an engine in raw-prefix
mode) and on `/v1/completions`. Each is accepted with the value that asks for nothing (in brackets):
- chat: `response_format` (absent, or type `text`: `json_object` and `json_schema` need constrained
  decoding);
- completions: `suffix` (empty), `best_of` (equal to `n`);
- both: `logit_bias` (empty), `presence_penalty` and `frequency_penalty` (0), and vLLM's sampling extras
  `repetition_penalty` (1), `min_p` (0), `min_tokens` (0), `guided_json`, `guided_regex`, `guided_choice`
  and `guided_grammar` (absent).
In chat fallback (`--upstream-chat`) these go to the engine, which honours them, so they are not refused
there. `UNHONOURED` is the list; `unhonoured()` names the first a request asks for. Chat's `stop` is
honoured: it ends the answer (`types.Sampling.stop`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..types import Effort, check_text

MAX_STOP = 16  # stop strings per request (OpenAI takes 4)
MAX_MESSAGES = 4096  # messages per chat request, refused before they are validated one by one
MAX_STOP_CHARS = 512


_NOTHING = (None, False, 0, "", {}, [])


def _asked(*nothing: Any) -> Callable[[Any, Any], bool]:
    """A field asks for something unless its value is one of `nothing` (absent, false, 0 or empty)."""
    nothing = nothing or _NOTHING
    # by value (0.0 is 0), except that true is not 1
    return lambda v, body: not any(v is x or (v == x and type(v) is not bool) for x in nothing)


def _format_asked(v: Any, body: Any) -> bool:
    return v is not None and not (isinstance(v, dict) and v.get("type") == "text")


_SAMPLING_EXTRAS = {"logit_bias": _asked(), "presence_penalty": _asked(), "frequency_penalty": _asked(),
                    "repetition_penalty": _asked(None, 1), "min_p": _asked(), "min_tokens": _asked(),
                    "guided_json": _asked(None), "guided_regex": _asked(None), "guided_choice": _asked(None),
                    "guided_grammar": _asked(None)}
# the fields thinkgate's own generation does not honour, each with when its value asks for something
UNHONOURED: dict[str, dict[str, Callable[[Any, Any], bool]]] = {
    "chat": {"response_format": _format_asked, **_SAMPLING_EXTRAS},
    "completions": {"suffix": _asked(), "best_of": lambda v, body: v is not None and v != body.n, **_SAMPLING_EXTRAS},
}


def check_stops(v: str | list[str] | None) -> str | list[str] | None:
    """Stop strings within the server's bounds (every API's stop field)."""
    stops = [v] if isinstance(v, str) else v or []
    if len(stops) > MAX_STOP:
        raise ValueError(f"at most {MAX_STOP} stop strings are taken, not {len(stops)}")
    if any(len(s) > MAX_STOP_CHARS for s in stops):
        raise ValueError(f"a stop string is longer than {MAX_STOP_CHARS} characters")
    if any(not s for s in stops):
        raise ValueError("a stop string is empty")
    return v


def check_function_tools(v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tools in OpenAI's chat shape (`{"type": "function", "function": {"name": ...}}`), as chat completions
    and Ollama take them."""
    for i, tool in enumerate(v or []):
        fn = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ValueError(f"tools[{i}] is not a function tool ({{'type': 'function', 'function': {{'name': ...}}}})")
    return v


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Body(_Open):
    """A whole request body: every string in it, extra fields included, must be valid Unicode text (a lone
    surrogate, which JSON's escapes can carry, fails every tokenizer and encoder downstream)."""

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return check_text(data, "the request body")


class ThinkingControl(BaseModel):
    """thinkgate's per-request thinking control. Unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"] | None = None
    budget: int | None = Field(default=None, ge=0)
    min_budget: int | None = Field(default=None, ge=0)
    strategy: str | None = None
    verify: str | None = None  # a regular expression the whole answer must match (verifier selection)


class ContentPart(_Open):
    type: str
    text: str | None = None


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        bad = [p.type for p in self.content if p.type != "text"]
        if bad:
            raise ValueError(f"content part type {bad[0]!r} is not supported (text only)")
        return "".join(p.text or "" for p in self.content)


class _Sampling(_Body):
    model: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1)
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**64)
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        return check_stops(v)

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))

    def unhonoured(self, endpoint: str) -> str | None:
        """The first field of `UNHONOURED[endpoint]` this request asks for (None: none)."""
        sent = self.model_extra
        if not sent:
            return None
        return next((name for name, asks in UNHONOURED[endpoint].items()
                     if name in sent and asks(sent[name], self)), None)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _few_enough(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("messages"), list) and len(data["messages"]) > MAX_MESSAGES:
            raise ValueError(f"{len(data['messages'])} messages is more than this server takes ({MAX_MESSAGES})")
        return data
    max_completion_tokens: int | None = Field(default=None, ge=1)
    thinking: ThinkingControl | None = None
    reasoning_effort: Effort | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    think: bool | Literal["low", "medium", "high"] | None = None  # Ollama's switch
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    # the answer's tokens with their log probabilities in `choices[].logprobs.content` (OpenAI's), each with
    # `top_logprobs` alternatives; the thought's tokens are not listed
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    @model_validator(mode="after")
    def _logprobs(self) -> "ChatCompletionRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def logprobs_asked(self) -> int | None:
        """The alternatives per answer token the client asked for (`Request.logprobs`); None: none asked."""
        return (self.top_logprobs or 0) if self.logprobs else None

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        return check_function_tools(v)


class CompletionRequest(_Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str | list[str]) -> str | list[str]:
        prompts = [v] if isinstance(v, str) else v
        if not prompts:
            raise ValueError("no prompt: give a string or a list of strings")
        if any(not p for p in prompts):
            raise ValueError("a prompt is empty")
        return v
    logprobs: int | None = Field(default=None, ge=0, le=20)
    echo: bool = False


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error this server sends, OpenAI's shape."""

    error: ErrorDetail
