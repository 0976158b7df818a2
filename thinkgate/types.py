"""The small contracts every face shares: what is asked (Request), how to think (ThinkingSpec), what came
back (Result, Usage, TraceEvent), and what a backend produces (Generation)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InvalidText  # noqa: F401 - raised here, defined with the others

Mode = Literal["think", "nothink", "auto"]
# how much to think, by the levels clients send (OpenAI's reasoning_effort, Ollama's think levels)
Effort = Literal["none", "minimal", "low", "medium", "high"]
# an effort level's cap on thinking tokens, for a model family without effort levels of its own (None: no
# cap; "none" is thinking off). A family with its own levels (gpt-oss, Hunyuan, Kimi K3) gets them instead.
EFFORT_BUDGETS: dict[str, int | None] = {"minimal": 32, "low": 128, "medium": 512, "high": None}

# Below this a temperature is greedy decoding: dividing logits by 1e-300 overflows to inf and the
# probabilities become NaN. The cut is vLLM's (its _SAMPLING_EPS).
GREEDY_BELOW = 1e-5
# a sampling temperature: 0 is greedy, and so is anything below GREEDY_BELOW
Temperature = Annotated[float, Field(ge=0.0), AfterValidator(lambda t: 0.0 if t < GREEDY_BELOW else t)]


def invalid_text_at(value: Any, path: str = "") -> str | None:
    """The path (`messages[0].content`) of the first string in a JSON-like value that is not valid Unicode
    text (a lone surrogate, which JSON's `\\ud800` escape and surrogate-escaped command-line bytes can carry
    and no tokenizer or encoder takes), or None when every string is valid. Keys are checked too, each
    before its value. Walked without recursion, so a value nested however deep is no RecursionError; a value
    that orjson can write as JSON (which it refuses for a lone surrogate) is not walked at all: a request
    body is checked on every request, and the walk cost about 4 us of a short chat body (0.3 us here)."""
    try:
        orjson.dumps(value)
        return None
    except TypeError:  # a lone surrogate, or what is not plain JSON (an integer past 64 bits, deep nesting, a key
        pass  # that is not a string, another type): the walk tells
    stack: list[tuple[Any, str, bool]] = [(value, path, False)]  # (value, its path, is a key)
    while stack:
        node, where, key = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return where if key else where or "value"
        elif isinstance(node, dict):
            for k, v in reversed(node.items()):
                at = f"{where}.{k}" if where else str(k)
                stack.append((v, at, False))
                if isinstance(k, str):
                    stack.append((k, at, True))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, f"{where}[{i}]", False) for i, v in reversed(list(enumerate(node))))
    return None


def check_text(value: Any, what: str = "text") -> Any:
    """`value` unchanged, or `InvalidText` naming `what` when a string in it is not valid Unicode text."""
    where = invalid_text_at(value)
    if where is not None:
        raise InvalidText(what, where)
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThinkingSpec(_Strict):
    """How much to think. `budget` caps thinking tokens; `min_budget` asks for at least that many; `effort`
    is a level: the family's own levels where its template has them (gpt-oss's `reasoning_effort`), else the
    cap of `EFFORT_BUDGETS` (an explicit `budget` wins). Effort "none" is thinking off."""

    mode: Mode = "think"
    budget: int | None = Field(default=None, ge=0)
    min_budget: int | None = Field(default=None, ge=0)
    effort: Effort | None = None

    @model_validator(mode="after")
    def _effort(self) -> "ThinkingSpec":
        if self.effort == "none":
            if "mode" in self.model_fields_set and self.mode != "nothink":
                raise ValueError(f"effort 'none' is thinking off, but mode is {self.mode!r}")
            self.mode = "nothink"
        elif self.effort is not None and self.mode == "nothink":
            raise ValueError(f"effort {self.effort!r} asks for thinking, but mode is 'nothink'")
        return self

    def effort_budget(self) -> int | None:
        """The cap this spec puts on thinking: `budget`, else its effort's (None: no cap)."""
        if self.budget is not None:
            return self.budget
        return EFFORT_BUDGETS.get(self.effort) if self.effort else None


class Sampling(_Strict):
    """Decoding settings. temperature 0 is greedy; top_k 0 means no top-k cut. `stop`: strings that end the
    answer (OpenAI's chat `stop`): the answer is cut where the first of them begins and ends with finish
    reason "stop"; the thought is not cut (a model's reasoning may hold any text), and streams hold back
    what may be the start of one."""

    temperature: Temperature = 0.0
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)
    seed: int | None = None
    max_tokens: int = Field(default=1024, ge=1)
    stop: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list, max_length=16)

    def cut(self, answer: str) -> tuple[str, str | None]:
        """`answer` up to the first `stop` string in it, and that string (None where none is in it)."""
        at = first_stop(answer, self.stop)
        if at < 0:
            return answer, None
        return answer[:at], next(s for s in sorted(self.stop, key=len) if answer.startswith(s, at))


def first_stop(text: str, stop: list[str]) -> int:
    """Where the first of the `stop` strings in `text` begins, or -1 where none is in it."""
    return min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)


class Message(_Strict):
    """A chat turn. `tool_calls` (an assistant's, OpenAI's shape) and `tool_call_id` (a tool's answer) are
    given to the chat template as they are."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    reasoning_content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content", "reasoning_content")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        return check_text(v, "message text")


class Request(_Strict):
    """`verifier`: an optional check of a final answer that needs no reference (unit tests, a proof checker,
    a format rule; see `thinkgate.verify`); strategies that choose among samples (`parallel:select=verifier`)
    prefer an answer it accepts. It is code, so it is not serialized."""

    messages: list[Message] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None  # OpenAI's tool definitions, given to the chat template
    thinking: ThinkingSpec = ThinkingSpec()
    sampling: Sampling = Sampling()
    verifier: Callable[[str], bool] | None = Field(default=None, exclude=True, repr=False)
    # return the answer's tokens with their log probabilities (`Result.logprobs`), each with this many of the
    # most likely tokens at its step (0: none); None: not asked (the confidence is computed all the same)
    logprobs: int | None = Field(default=None, ge=0, le=20)

    @classmethod
    def of(cls, prompt: str, mode: Mode = "think", **kw: Any) -> "Request":
        return cls(messages=[Message(role="user", content=prompt)], thinking=ThinkingSpec(mode=mode), **kw)


class Usage(_Strict):
    prompt_tokens: int = 0
    reasoning_tokens: int = 0
    answer_tokens: int = 0
    completion_tokens: int = 0  # every token the model wrote for this request, injected text excluded
    # tokens each model wrote ({name: tokens}; `thinkgate.roster`): one entry where one model served the
    # request, one per model for two-model strategies (their sum is completion_tokens)
    by_model: dict[str, int] = Field(default_factory=dict)
    # generation GFLOPs, 2 x parameters x tokens written summed over the models (`Roster.cost_of`); None
    # where a model that wrote has no known parameter count
    cost: float | None = None


class TopLogprob(_Strict):
    token: str
    logprob: float


class TokenLogprob(_Strict):
    """One generated token of an answer: its text, its log probability, and the most likely tokens at its
    step (as many as `Request.logprobs` asked)."""

    token: str
    logprob: float
    top: list[TopLogprob] = Field(default_factory=list)

    def scored(self) -> tuple[str, float, list[tuple[str, float]]]:
        """As a stream carries it (`backends.sinks.Scored`): (text, log p, [(alternative, log p), ...])."""
        return self.token, self.logprob, [(a.token, a.logprob) for a in self.top]


def confidence_of(logprobs: list[float]) -> float | None:
    """The confidence of an answer (`Result.confidence`): the geometric mean of its generated tokens'
    probabilities, exp(mean log p), in (0, 1]; None for no tokens (or a log p that is not a number). One
    definition for every backend and strategy: the tokens are those the model generated after its thought
    closed (`thinkgate.confidence`)."""
    import math

    mean = sum(logprobs) / len(logprobs) if logprobs else math.nan
    return math.exp(mean) if math.isfinite(mean) else None


class TraceEvent(_Strict):
    """One thing a strategy did: a generation segment, an injected phrase, a probe, a budget event."""

    kind: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Result(_Strict):
    reasoning: str
    answer: str
    closed: bool  # False when thinking never reached its end tag
    finish_reason: Literal["stop", "length"]
    usage: Usage
    strategy: str
    mode: Mode
    trace: list[TraceEvent] = Field(default_factory=list)
    wall_s: float = 0.0
    thinking_mode: bool = True  # False: the model has no thinking mode (its family is "none"); nothing was thought
    tool_calls: list[dict[str, Any]] | None = None  # calls the model wrote (OpenAI's shape), taken out of `answer`
    # how sure the model is of its answer: `confidence_of` its answer's tokens. None where no answer was
    # written (a thought that never closed) or the backend gave no log probabilities
    confidence: float | None = None
    logprobs: list[TokenLogprob] | None = None  # the answer's tokens, where `Request.logprobs` asked
    stop_sequence: str | None = None  # the request's stop string that ended the answer, if one did

    @property
    def thought(self) -> bool:
        """The model thought: its reasoning has text, or its thought never closed. An empty thought (a model
        that writes `<think>\n\n</think>` itself, its way of not thinking) is not thinking, though the tokens
        that wrote it count in `usage.reasoning_tokens` (OptimalThinkingBench counts the text before the
        end tag too)."""
        return bool(self.reasoning.strip()) or (self.thinking_mode and not self.closed)

    @property
    def model(self) -> str | None:
        """The model that answered: the one that wrote the answer where the trace says (two-model strategies,
        routing between models), else the only one that wrote."""
        named = self.route().get("model") or next(
            (e.detail.get("answered_by") for e in self.trace if e.kind == "written"), None)
        if named:
            return named
        return next(iter(self.usage.by_model)) if len(self.usage.by_model) == 1 else None

    def route(self) -> dict:
        """The routing decision in the trace (a router's, or the model's own under `self`), or {}."""
        return next((e.detail for e in self.trace if e.kind == "route"), {})


@dataclass
class Generation:
    """One continuation of a raw text prefix."""

    text: str
    tokens: int
    finish_reason: Literal["stop", "length"]
    stop: str | None = None  # the stop string that ended it, if one did (cut from `text`)
    token_ids: list[int] | None = None  # the ids of the `tokens` generated tokens, where the backend has them
    # with GenParams.logprobs:
    token_logprobs: list[float] | None = None  # log p of each chosen token
    top_logprobs: list[float] | None = None  # log p of the most likely token at each step
    top_ids: list[int] | None = None  # the id of that most likely token, where the backend has ids
    pieces: list[str] | None = None  # each generated token's text (a part of a character may show as U+FFFD)
    # the GenParams.top_logprobs most likely tokens at each step, as (text, log p), most likely first
    alternatives: list[list[tuple[str, float]]] | None = None
    # self-certainty (Ma et al. 2025): the mean over the generated tokens of KL(uniform || p), which needs the
    # whole distribution at each step; None where the backend sees only log p of a few tokens (an engine
    # upstream, unless the engine reports it: another thinkgate serve does). Never a stand-in of another kind.
    self_certainty: float | None = None
    # the prompt's tokens as the backend counted them, where it says (an engine's usage): the prompt need not be
    # tokenized again to account the request (a long one costs milliseconds)
    prompt_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_top_logprob(self) -> float | None:
        """The mean over the generated tokens of the most likely token's log p; None without log probs."""
        return sum(self.top_logprobs) / len(self.top_logprobs) if self.top_logprobs else None
