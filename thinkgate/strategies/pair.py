"""What the two-model strategies share (`speculative`, `specreason`, `foreal`): one assistant turn written by
two models in turns, handed over as text.

Each model continues its own prompt: the request rendered by its own chat template in thinking mode, then
the turn so far — the thought, and once the thought is closed that model's own end tag and the answer so
far. So the models may have different tokenizers and different families' tags; nothing but text passes
between them. Each call is batched over the requests that are at the same point with the same room.

Accounting: every token a model generated counts for that model (`Usage.by_model`), in its own tokenizer,
drafts thrown away included (they were generated); thinking tokens are the thought's tokens each model
wrote, its end tag excluded. A request's `max_tokens` bounds all the tokens written, by both models.

Streaming: calls whose text may be thrown away (a draft a strategy judges first) ask for log probabilities,
which makes them speculative to a stream (`thinkgate.streaming`): the text kept reaches the stream with the
next call. The final result is split by the gate's format: the thought, its tags, the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import RAW_PREFIX, Generation
from ..types import Request, Result, TraceEvent
from .base import (Params, Strategy, _opened, assistant_prefill, finish, gen_params, generate_forced, group_indices,
                   require_thinking)


class PairParams(Params):
    """The models of the pair, by name in the gate's roster (`thinkgate.roster`); None: the smaller and the
    larger of the roster's two models by parameter count."""

    small: str | None = None
    large: str | None = None


class PairStrategy(Strategy):
    """A strategy of two models, a small and a large one, writing one turn (`Strategy.ROLES`). What is common
    to all of them is here: the roles from the roster, the cache key with both models' fingerprints, and
    `run_batch` — each request's `Turn`, both models' `Side`s, the results — around `write_turns`, where each
    strategy decides who writes what."""

    ROLES = ("small", "large")
    Params = PairParams

    def resolve(self, models):
        return models.pair(self.params.small, self.params.large, f"strategy {self.name!r}")

    def prepare(self, backend, models=None) -> None:
        self.check(*self.resolve(models))

    def check(self, small, large) -> None:
        """What the strategy needs of its two members beyond their names (a capability); raises
        `MissingCapability`. Nothing by default."""

    def cache_key(self, backend, models=None) -> str:
        small, large = self.resolve(models)
        return f"{self.spec}@small={small.name}:{small.fingerprint()}@large={large.name}:{large.fingerprint()}"

    def run_batch(self, requests, backend, fmt, models=None):
        started = time.time()
        members = self.resolve(models)
        self.check(*members)
        who = f"strategy {self.name!r}"
        small, large = (Side(m, requests, who) for m in members)
        turns = [Turn(room=r.sampling.max_tokens) for r in requests]
        self.write_turns(requests, small, large, turns)
        return results(self.spec, requests, turns, backend, fmt, started, {"small": small.name, "large": large.name})

    def write_turns(self, requests: list[Request], small: "Side", large: "Side", turns: list["Turn"]) -> None:
        """Write every request's turn (a thought, then its answer), the small and the large model in turn."""
        raise NotImplementedError


class Side:
    """One model of the pair for one batch of requests: its prompts (the request in its own template, thinking
    on) and how it continues a turn."""

    def __init__(self, member: Any, requests: list[Request], who: str):
        self.name = member.name
        self.backend = member.backend
        self.fmt = member.format
        self.backend.require(RAW_PREFIX, who)
        require_thinking(self.fmt, f"{who} (model {self.name!r})")
        self.prompts = [self.fmt.render(r.messages, "think", r.thinking, r.tools) for r in requests]
        # whether the template's prefill opens the thought; where it does not, the turn's text opens it
        self.opens = [_opened(self.fmt, assistant_prefill(self.fmt, p, r, "think"))
                      for p, r in zip(self.prompts, requests)]
        self.close = self.fmt.close_tag

    def text(self, i: int, turn: "Turn") -> str:
        """Request i's prompt for this model, continuing `turn`."""
        head = self.prompts[i] + ("" if self.opens[i] else self.fmt.open_tag + "\n") + turn.thought
        return head + self.close + turn.answer if turn.closed else head


@dataclass
class Turn:
    """One request's assistant turn as the two models write it."""

    room: int  # tokens left to write, both models together
    thought: str = ""
    closed: bool = False  # the thought's end tag was written
    answer: str = ""  # the raw text after the end tag
    ended: bool = False  # nothing more is written (answered, or out of room)
    finish_reason: str = "length"
    answered_by: str | None = None
    written: dict[str, int] = field(default_factory=dict)  # tokens each model generated
    thinking: dict[str, int] = field(default_factory=dict)  # thought tokens each model wrote (end tag excluded)
    trace: list[TraceEvent] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)  # text put in the thought by the strategy, not a model
    answer_gens: list[Generation] = field(default_factory=list)  # the generations that wrote `answer`

    def count(self, side: Side, gen: Generation, kept_thought: int) -> None:
        self.written[side.name] = self.written.get(side.name, 0) + gen.tokens
        self.thinking[side.name] = self.thinking.get(side.name, 0) + kept_thought
        self.room -= gen.tokens

    def inject(self, text: str) -> None:
        self.thought += text
        self.injected.append(text)


def write(side: Side, turns: list[Turn], idx: list[int], requests: list[Request], most: int | None,
          stop: list[str] = (), speculative: bool = False) -> dict[int, Generation]:
    """Continue requests `idx` on `side` — their thought, or their answer where the thought is closed — at
    most `most` tokens each (None: the room left), stopping at any of `stop` (and, in a thought, at the
    model's end tag); one generate call per distinct (room, phase). Returns each request's generation; the
    turns are not changed (see `keep` and `discard`), except that a turn with no room left in this model's
    context ends ("length"). A row whose context leaves it less than its room is called alone, so that the
    backend's own context cap (the longest prompt of a call) never binds another row of the call."""
    keys, texts = [], {}
    for i in idx:
        turn, text = turns[i], side.text(i, turns[i])
        cap = max(1, min(turn.room, most) if most is not None else turn.room)
        left = _context_left(side, text, cap)
        if left is not None and left <= 0:
            turn.ended, turn.finish_reason = True, "length"
            turn.trace.append(TraceEvent(kind="context_full", detail={"model": side.name}))
            continue
        texts[i] = text
        alone = left is not None and left < cap
        keys.append(((min(cap, left) if alone else cap, turn.closed, i if alone else None), i))
    out: dict[int, Generation] = {}
    for (cap, closed, _), pos in group_indices(k for k, _ in keys).items():
        rows = [keys[k][1] for k in pos]
        params = gen_params(requests[rows[0]], max_tokens=cap, draft=speculative,
                            stop=list(stop) + ([] if closed else [side.close]))
        for i, g in zip(rows, generate_forced(side.backend, side.fmt, [texts[i] for i in rows], params)):
            out[i] = g[0]
    return out


def _context_left(side: Side, text: str, cap: int) -> int | None:
    """Tokens `side`'s model can still write after `text` in its context; None where that is unknown, or is
    surely more than `cap` (a token covers at least one byte, so a text of fewer bytes than the context less
    `cap` leaves `cap` free: only texts near the limit are tokenized)."""
    ctx = side.backend.context_length
    if ctx is None or len(text.encode("utf-8", "surrogatepass")) + cap + 1 < ctx:
        return None
    return ctx - side.backend.count_tokens(text) - 1


def written_text(side: Side, gen: Generation) -> str:
    """What the generation wrote, a stop string it ended at included (not the thought's end tag): the decoded
    tokens where the backend gives them, so a token that held the stop string and more (a "\n\n" token
    cut at "\n") is kept whole."""
    if gen.stop is None or gen.stop == side.close:
        return gen.text
    if gen.token_ids:
        whole = side.backend.tokenizer.decode(gen.token_ids, skip_special_tokens=False)
        if whole.startswith(gen.text + gen.stop):
            return whole
    return gen.text + gen.stop


def keep(side: Side, turn: Turn, gen: Generation, kind: str, **detail: Any) -> str:
    """Add a generation to the turn — to the thought, or to the answer once the thought is closed — with its
    tokens and a trace event of `kind` naming the model. Ending at the thought's end tag closes it; ending
    where the model stopped by itself (end of sequence) ends the turn, as running out of room does. Returns
    the text kept."""
    text = written_text(side, gen)
    closes = not turn.closed and gen.stop == side.close
    if turn.closed:
        turn.answer += text
        turn.answer_gens.append(gen)
        turn.count(side, gen, 0)
        turn.answered_by = side.name
    else:
        turn.thought += text
        turn.count(side, gen, gen.tokens - (side.backend.count_tokens(side.close) if closes else 0))
    turn.trace.append(TraceEvent(kind=kind, detail={"model": side.name, "tokens": gen.tokens, **detail}))
    if closes:
        turn.closed = True
    elif gen.finish_reason == "stop" and gen.stop is None and not gen.extra.get("stop_unknown"):
        turn.ended, turn.finish_reason = True, "stop"  # the model ended its turn (a stop string it met, unnamed
        # by its engine, is not that: the turn goes on from the text, and the model writes the stop again)
    if (turn.room <= 0 or gen.tokens == 0) and not turn.ended and not closes:
        # out of room; or nothing written and nothing stopped (the backend's own cap): no call would move on
        turn.ended, turn.finish_reason = True, "length"
    return text


def discard(side: Side, turn: Turn, gen: Generation, kind: str, **detail: Any) -> None:
    """Count a generation that is not kept (a rejected draft): its tokens were written all the same."""
    turn.count(side, gen, 0)
    turn.trace.append(TraceEvent(kind=kind, detail={"model": side.name, "tokens": gen.tokens, "kept": False, **detail}))
    if turn.room <= 0 or gen.tokens == 0:
        turn.ended, turn.finish_reason = True, "length"


def answer(side: Side, turns: list[Turn], requests: list[Request]) -> None:
    """Every closed, unended turn's answer, written by `side` with the room left."""
    idx = [i for i, t in enumerate(turns) if t.closed and not t.ended]
    for i, gen in write(side, turns, idx, requests, None).items():
        keep(side, turns[i], gen, "answer")
        turns[i].ended, turns[i].finish_reason = True, gen.finish_reason


def results(strategy_spec: str, requests: list[Request], turns: list[Turn], backend, fmt, started: float,
            pair: dict[str, str]) -> list[Result]:
    """The turns as results, split by the gate's format (`fmt`, its `backend` counting prompt and answer);
    the trace starts with the pair's roles."""
    out = []
    for r, turn in zip(requests, turns):
        prompt = fmt.render(r.messages, "think", r.thinking, r.tools)
        prefill = assistant_prefill(fmt, prompt, r, "think")
        opened = "" if _opened(fmt, prefill) else fmt.open_tag + "\n"
        thought = prefill + opened + turn.thought
        before = thought + fmt.close_tag
        text = before + turn.answer if turn.closed else thought
        trace = [TraceEvent(kind="pair", detail=dict(pair))] + turn.trace
        trace.append(TraceEvent(kind="written", detail={"by_model": dict(turn.written), "answered_by": turn.answered_by}))
        res = finish(r, strategy_spec, "think", fmt, backend, prompt, text, sum(turn.written.values()),
                     turn.finish_reason, trace, started, injected=turn.injected,
                     reasoning_tokens=sum(turn.thinking.values()), gens=turn.answer_gens, before=before)
        usage = res.usage.model_copy(update={"by_model": dict(turn.written)})
        out.append(res.model_copy(update={"usage": usage}))
    return out


def fits(side: Side, text: str) -> bool:
    """`text` and one more token fit `side`'s model's context."""
    left = _context_left(side, text, 1)
    return left is None or left >= 1
