"""Request bodies of the OpenAI-compatible API.

The OpenAI bodies tolerate fields real clients send that thinkgate does not use (`user`, `stream_options`,
`tools`, `logit_bias`, ...): extra fields are allowed and ignored for a local model, and passed through
intact to an upstream in chat fallback. What is thinkgate's own — the `thinking` object — forbids unknown
fields, so a typo is a 400 naming the field, not a silent default. Known fields are still validated.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..types import Effort, check_text

MAX_STOP = 16  # stop strings per request (OpenAI takes 4)
MAX_MESSAGES = 4096  # messages per chat request, refused before they are validated one by one
MAX_STOP_CHARS = 512


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
        stops = [v] if isinstance(v, str) else v or []
        if len(stops) > MAX_STOP:
            raise ValueError(f"at most {MAX_STOP} stop strings are taken, not {len(stops)}")
        if any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"a stop string is longer than {MAX_STOP_CHARS} characters")
        if any(not s for s in stops):
            raise ValueError("a stop string is empty")
        return v

    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))


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

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, tool in enumerate(v or []):
            fn = tool.get("function")
            if tool.get("type", "function") != "function" or not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise ValueError(f"tools[{i}] is not a function tool ({{'type': 'function', 'function': {{'name': ...}}}})")
        return v


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
