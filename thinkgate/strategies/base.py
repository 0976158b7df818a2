"""The strategy contract: `run_batch(requests, backend, fmt) -> results`, each with a trace of what it did.
The requests of one call share their sampling settings (`Gate.run_batch` groups them), so a strategy may
generate for all of them with the first one's; each result must be what the request alone would get.

`Gate.run` is one request through `run_batch`, so the CLI (one question), the bench (many) and the server
share one path. Parameters are a pydantic model per strategy (unknown fields are errors) and can be
written on a command line as `name:key=value,key=value`.
"""

from __future__ import annotations

import re
import time
from functools import cached_property
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ..backends.base import Backend, GenParams, MissingCapability
from ..confidence import score_answer
from ..formats import ThinkingFormat
from ..types import Generation, Mode, Request, Result, TraceEvent, Usage, check_text


class Params(BaseModel):
    # non-finite numbers (nan, inf, 1e309) are refused by name: no parameter means anything at them
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)  # (a strategy's spec is kept)

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        return check_text(data, "a strategy parameter")


class Limited(NamedTuple):
    """A strategy composed with a request's thinking limits (`Strategy.with_limits`), and how it was composed
    (the policy adds the request's field)."""

    strategy: Strategy
    how: str


class LimitsConflict(ValueError):
    """A request's thinking limits and a strategy's own cannot both hold (the policy names the request's
    field)."""


def limits_text(cap: int | None, floor: int | None) -> str:
    """A request's thinking limits in words: "at most 64, at least 16"."""
    return ", ".join(x for x in (f"at most {cap}" if cap is not None else "",
                                 f"at least {floor}" if floor is not None else "") if x)


class Strategy:
    name: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    # what a server bounds in a strategy a client names: parameters that repeat work per request (samples,
    # probes, extensions), parameters that are token counts, and parameters that name files on the machine
    LOOPS: ClassVar[tuple[str, ...]] = ()
    TOKENS: ClassVar[tuple[str, ...]] = ()
    PATHS: ClassVar[tuple[str, ...]] = ()
    # what the thinking policy reads (`thinkgate.policy`): whether the output has a thought; one that has
    # none serves a request with thinking off as it is, and a cap on thinking holds for it at no cost
    thinks: ClassVar[bool] = True
    # the models a strategy runs by role ("small", "large"), where it runs two (see `runs_several`)
    ROLES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Params | None = None, **kw: Any):
        try:
            self.params = params or self.Params(**kw)
        except ValidationError as e:
            raise ValueError(f"strategy {self.name!r}: bad parameters: {_short(e)}") from None

    @cached_property
    def spec(self) -> str:
        """Canonical `name:key=value,...` of the non-default parameters (a cache and report key), which
        `parse_strategy` reads back to the same strategy (a list as `text_list` reads it). Worked out once
        (the parameters are frozen): a served request reads it several times."""
        items = self.params.model_dump(exclude_defaults=True)
        return self.name + (":" + ",".join(f"{k}={_spelled(v)}" for k, v in sorted(items.items())) if items else "")

    def runs_several(self) -> bool:
        """Whether this strategy runs models of the roster besides (or instead of) the gate's primary: such a
        strategy is given the gate's roster (`models=`, a `thinkgate.roster.Roster`) in `run_batch`, `prepare`
        and `cache_key`, and names the members it runs in `resolve`. The two-model strategies (`ROLES`),
        `route` between models, and any strategy run on a named model (`SPEC@NAME`) do."""
        return bool(self.ROLES)

    def option_specs(self, backend: Backend, models=None) -> list[tuple[str, int | None]]:
        """The strategies whose rows a bench needs beside this one's to score it against its options (route
        between models: each option as a spec, with its answer cap or None); none by default."""
        return []

    def inner(self) -> list["Strategy"]:
        """The strategies this one runs others through (route's `then`)."""
        return []

    def without_thinking(self) -> "Strategy | None":
        """The strategy that serves a request with thinking off in this one's place: itself where it never
        thinks; None where it thinks and has no way to stop (the policy then refuses a request that names it,
        and serves one sent to it as a default as the model's own behaviour with thinking off)."""
        return None if self.thinks else self

    def with_limits(self, cap: int | None, floor: int | None) -> "Limited | None":
        """This strategy composed with a request's thinking limits: at most `cap` and at least `floor` thinking
        tokens (either may be None, not both), and how, for the policy's account. None where the strategy has
        no thinking limit of its own. Raises `LimitsConflict` where the limits and the strategy's own cannot
        both hold."""
        return None

    def parameters(self, kind: str, named_only: bool = False) -> dict[str, Any]:
        """The set parameters of one kind ("LOOPS", "TOKENS" or "PATHS"), here and in inner strategies,
        as {"strategy.parameter": value}; `named_only`: those the spec named, not defaults."""
        out = {f"{self.name}.{k}": getattr(self.params, k) for k in getattr(self, kind)
               if getattr(self.params, k) is not None and (not named_only or k in self.params.model_fields_set)}
        for s in self.inner():
            out.update(s.parameters(kind, named_only))
        return out

    def capped(self, limits: dict[str, int]) -> "Strategy":
        """This strategy with its own defaults of each kind ({"LOOPS": 8, ...}) brought down to the limit: an
        operator's limit holds for what a client never set, so a default is never the reason for a refusal.
        (Values the spec named are checked by the caller, in inner strategies too.)"""
        update = {k: limit for kind, limit in limits.items() for k in getattr(self, kind)
                  if k not in self.params.model_fields_set and isinstance(getattr(self.params, k), int)
                  and getattr(self.params, k) > limit}
        return type(self)(params=self.params.model_copy(update=update)) if update else self

    def prepare(self, backend: Backend, models=None) -> None:
        """Load what the strategy needs for this backend now (a router; the models of its roles, given
        `models`), so that a server fails at start-up rather than on its first request."""
        for s in self.inner():
            s.prepare(backend)

    def resolve(self, models) -> tuple:
        """The members of `models` (a roster) this strategy runs (those of its `ROLES`, in order), by name only
        (no model is asked anything); ValueError naming what is missing."""
        return ()

    def cache_key(self, backend: Backend, models=None) -> str:
        """What the bench cache keys this strategy's rows by: its spec, plus whatever else its results
        depend on (a router's weights, for `route`; the other models' fingerprints, for two-model ones)."""
        return self.spec

    def run_batch(self, requests: list[Request], backend: Backend, fmt: ThinkingFormat, models=None) -> list[Result]:
        """`models`: the gate's roster, given to a strategy that `runs_several` only."""
        raise NotImplementedError


ESCAPES = {"n": "\n", "s": " ", "c": ",", ";": ";", "\\": "\\"}
_ESCAPE = re.compile(r"\\([nsc;\\])")
_TOKEN = re.compile(r"\\.|.", re.DOTALL)  # an escape (a backslash and what follows), or one character


def unescape(text: str) -> str:
    r"""A parameter's text as written on a command line: `\n` a line break, `\s` a space (a value is stripped,
    so a space that ends one is written so), `\c` a comma (which separates parameters), `\;` a semicolon and
    `\\` a backslash. Any other backslash stays as written."""
    return _ESCAPE.sub(lambda m: ESCAPES[m.group(1)], text)


def text_item(value: Any) -> Any:
    """A text parameter from its command-line spelling (`unescape`); a value that is not text as it is."""
    return unescape(value) if isinstance(value, str) else value


def text_list(value: Any) -> tuple[str, ...]:
    """A list parameter from its command-line spelling: items separated by unescaped `;`, each stripped, then
    read by `unescape`; a list given as a list is taken as it is. An empty list is an error."""
    if isinstance(value, str):
        raw = [""]
        for token in _TOKEN.findall(value):  # split at each `;` that is not escaped
            if token == ";":
                raw.append("")
            else:
                raw[-1] += token
        value = [unescape(item.strip()) for item in raw]
    items = tuple(w for w in value if w)
    if not items:
        raise ValueError("give at least one item")
    return items


def _spelled(value: Any) -> str:
    """A parameter's value as a spec writes it: a list as `text_list` reads it back, a text that holds what a
    spec cannot (a line break, a comma, a space at an end) as `text_item` does."""
    if isinstance(value, (list, tuple)):
        return ";".join(_escaped(str(w)).replace(";", "\\;").replace("@", "\\@") for w in value)
    if isinstance(value, str) and (value.strip() != value or "\n" in value or "," in value):
        return _escaped(value).replace("@", "\\@")
    return str(value).replace("@", "\\@")  # an @ in a value names no model (`SPEC@NAME`)


def _escaped(text: str) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\c")
    body = out.strip(" ")
    lead = len(out) - len(out.lstrip(" "))
    return "\\s" * lead + body + "\\s" * (len(out) - lead - len(body))


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}" for err in e.errors())


def group_indices(keys) -> dict:
    """Indices grouped by key, in first-seen order: requests that can share one generate call (same
    sampling, same cap) or one strategy."""
    groups: dict = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return groups


def gen_params(request: Request, max_tokens: int | None = None, decides: bool = False, **kw: Any) -> GenParams:
    """A generate call's parameters for `request`: its sampling; the answer scored (`GenParams.score`:
    `thinkgate.confidence`); log probabilities with the alternatives per token where the request asked for
    them, or where the strategy `decides` by them."""
    s = request.sampling
    kw = {"logprobs": decides or request.logprobs is not None, "score": True, "top_logprobs": request.logprobs or 0,
          **kw}
    return GenParams(max_tokens=max_tokens or s.max_tokens, temperature=s.temperature, top_p=s.top_p,
                     top_k=s.top_k, seed=s.seed, **kw)


def assistant_prefill(fmt: ThinkingFormat, prompt: str, request: Request, mode: Mode) -> str:
    """The part of the rendered prompt after the assistant tag: what the template prefilled. The text after
    the template's assistant header (rendered once per format); a template whose header cannot be found
    in the prompt is rendered again without a mode, and the difference is the prefill."""
    part = fmt.assistant_part(prompt)
    if part is not None:
        return part
    bare = fmt.tokenizer.apply_chat_template([m.model_dump(exclude_none=True) for m in request.messages],
                                             tokenize=False, add_generation_prompt=True, **fmt.template_kwargs("auto"))
    return prompt[len(bare):] if prompt.startswith(bare) else ""


def finish(request: Request, strategy: str, mode: Mode, fmt: ThinkingFormat, backend: Backend, prompt: str,
           assistant_text: str, written: int, finish_reason: str, trace: list[TraceEvent],
           started: float, injected: list[str] = (), reasoning_tokens: int | None = None,
           gens: list[Generation] = (), before: str = "", prompt_tokens: int | None = None) -> Result:
    """Split an assistant turn into reasoning and answer (cut at the request's stop strings), account its
    tokens, and score its answer.

    `injected` lists text the strategy (not the model) put inside the thought — a prefilled thought, a
    budget stop message, a "Wait": its tokens are not counted as thinking the model did. `gens` are the
    generations that wrote the end of the turn, in order, and `before` the turn's text before them: the
    answer's confidence and log probabilities are read from their tokens (`thinkgate.confidence`).
    `prompt_tokens`: the prompt's count where the backend gave it (`Generation.prompt_tokens`), else counted."""
    reasoning, answer, closed = fmt.split(assistant_text)
    raw = fmt.thought_of(assistant_text) if reasoning_tokens is None and reasoning else ""
    n_prompt, n_answer, n_raw, *n_injected = backend.count_tokens_many(
        ["" if prompt_tokens is not None else prompt, answer, raw] + (list(injected) if raw else []))
    n_prompt = prompt_tokens if prompt_tokens is not None else n_prompt
    think = reasoning_tokens if reasoning_tokens is not None else n_raw - sum(n_injected)
    usage = Usage(prompt_tokens=n_prompt, reasoning_tokens=max(0, think), answer_tokens=n_answer,
                  completion_tokens=written)
    calls = None
    if request.tools:  # the calls the model wrote, out of the answer (their tokens are the answer's)
        answer, calls = fmt.tool_calls_of(answer)
    # the request's stop strings end the answer's text (not a call's arguments); what the model wrote after
    # one was generated, and its tokens are counted
    answer, stopped = request.sampling.cut(answer)
    if stopped is not None:
        finish_reason = "stop"
    confidence, logprobs = score_answer(fmt, before, list(gens), request.logprobs,
                                        cut=len(answer) if stopped is not None else None) if closed else (
        None, [] if request.logprobs is not None else None)
    return Result(reasoning=reasoning, answer=answer, closed=closed, finish_reason=finish_reason, usage=usage,
                  strategy=strategy, mode=mode, trace=trace, wall_s=time.time() - started,
                  thinking_mode=fmt.has_thinking, tool_calls=calls or None, confidence=confidence,
                  logprobs=logprobs, stop_sequence=stopped)


def require_thinking(fmt: ThinkingFormat, who: str) -> None:
    """Refuse a model without a thinking mode for a strategy that works on the thought, naming both."""
    if not fmt.has_thinking:
        raise MissingCapability(f"{who} works on the model's thought, and this model has none (its family is "
                                f"{fmt.name!r}: no thinking mode); use think, nothink or parallel")


def generate_forced(backend: Backend, fmt: ThinkingFormat, prompts: list[str],
                    params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
    """`backend.generate`, with thinking forced where a prompt ends in the template's thinking prefill (the
    model may not close the thought at once: `ThinkingFormat.forced_thinking`); one call per group of
    prompts that need the same ban (a soft switch can turn thinking off for one of them), rows in prompt
    order. `sinks`: the caller's own, one per (prompt, sample), prompt-major (see `Backend.generate`)."""
    bans = [tuple(fmt.forced_thinking(p)) for p in prompts]
    out: list[list[Generation]] = [[] for _ in prompts]
    n = params.n
    for ban, idx in group_indices(bans).items():
        call = params.model_copy(update={"ban_first": list(ban)}) if ban else params
        own = None if sinks is None else [sinks[i * n + k] for i in idx for k in range(n)]
        for i, g in zip(idx, backend.generate([prompts[i] for i in idx], call, **({"sinks": own} if own else {}))):
            out[i] = g
    return out


def single_pass(strategy: Strategy, requests: list[Request], backend: Backend, fmt: ThinkingFormat,
                mode_of, extra_prefill=None, draft: bool = False) -> list[Result]:
    """Render each request in its mode (plus an optional prefill: a function of the rendered prompt whose
    text is not counted as the model's thinking), generate once, split. Batched. `draft`: the caller may
    throw the results away (`GenParams.draft`: a stream does not show them live)."""
    started = time.time()
    modes = [mode_of(r) for r in requests]
    prompts = [fmt.render(r.messages, m, r.thinking, r.tools) for r, m in zip(requests, modes)]
    if extra_prefill:
        prompts = [p + extra_prefill(p) for p in prompts]
    # one generate call serves them all: the requests share their sampling (`Gate.run_batch`)
    gens = generate_forced(backend, fmt, prompts, gen_params(requests[0], draft=draft))
    # what the template prefilled, worked out once the requests have left (the result needs it, the engine not)
    prefills = [assistant_prefill(fmt, p, r, m) for p, r, m in zip(prompts, requests, modes)]
    results = []
    for i, g in enumerate(gens):
        gen = g[0]
        trace = [TraceEvent(kind="generate", detail={"tokens": gen.tokens, "finish": gen.finish_reason,
                                                     "prefill": prefills[i]})]
        results.append(finish(requests[i], strategy.spec, modes[i], fmt, backend, prompts[i], prefills[i] + gen.text,
                              gen.tokens, gen.finish_reason, trace, started, injected=[_reasoning_part(fmt, prefills[i])],
                              reasoning_tokens=thought_tokens(fmt, backend, gen, _opened(fmt, prefills[i])),
                              gens=[gen], before=prefills[i], prompt_tokens=gen.prompt_tokens))
    return results


def thought_tokens(fmt: ThinkingFormat, backend: Backend, gen: Generation, opened: bool) -> int | None:
    """How many tokens of `gen` are the model's thinking, without tokenizing its thought again where the
    family's markup is special tokens: from its ids, or from the count the backend reported less the text
    around the thought (`ThinkingFormat.thought_tokens_written`; a stop string that ended it was written
    too). None where the markup is ordinary text: the caller counts the thought's text."""
    if gen.token_ids is not None:
        return fmt.thought_tokens(gen.token_ids, opened)
    return fmt.thought_tokens_written(gen.text + (gen.stop or ""), gen.tokens, opened, backend.count_tokens_many)


def _opened(fmt: ThinkingFormat, prefill: str) -> bool:
    """The prefill leaves a thought open: what the model writes first is thinking."""
    if not fmt.has_thinking or not fmt.open_tag:
        return False
    return prefill.rfind(fmt.open_tag) > prefill.rfind(fmt.close_tag) if fmt.close_tag in prefill else fmt.open_tag in prefill


def _reasoning_part(fmt: ThinkingFormat, prefill: str) -> str:
    """The part of a prefill (the template's, plus what a strategy injected) that lands inside the thought,
    cut as `finish` cuts the model's thought."""
    return fmt.thought_of(prefill) if fmt.has_thinking and fmt.open_tag in prefill else ""
