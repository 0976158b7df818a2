"""A Gate is a backend (who writes tokens) + a chat format (how turns and think tags are written) + a
strategy (how thinking is steered); or, for strategies that use several models, a roster of named models
(`thinkgate.roster`), each a backend with its format, the first the one single-model strategies run. Every
face — CLI, bench, server — calls `Gate.run` / `Gate.run_batch`, or `Gate.stream`, which is `Gate.run` in a
thread with its tokens streamed as they are generated."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from .backends.base import Backend
from .formats import ThinkingFormat, get_format
from .policy import Plan, plan
from .roster import Roster, load_backend, resolve_model
from .strategies import Strategy, parse_strategy
from .strategies.base import group_indices
from .types import Request, Result

class Gate:
    """`named`: the strategy was chosen by whoever sends the requests (a library caller, `--strategy`, a
    request's `thinking.strategy`, a bench row), so a request control that contradicts it is an error; a
    default (the server's `--strategy`) gives way to the request's controls (`thinkgate.policy`)."""

    def __init__(self, backend: Backend | Roster, strategy: Strategy | str = "think",
                 fmt: ThinkingFormat | str | None = None, named: bool = True):
        """`backend`: one model's backend, or a `Roster` of named models (its primary is `self.backend`);
        `fmt`: the primary's chat family (None: its own, detected)."""
        self.models = backend if isinstance(backend, Roster) else Roster.of(backend, fmt)
        self.backend = self.models.primary.backend
        self.strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
        if fmt is None:
            self.format = self.models.primary.format
        else:  # the family named for the primary holds for it wherever it runs (a two-model strategy's side too)
            self.format = fmt if isinstance(fmt, ThinkingFormat) else get_format(fmt, self.backend.tokenizer)
            first = self.models.primary
            self.models = Roster([replace(first, fmt_name=self.format.name, _format=self.format)]
                                 + self.models.members[1:])
        self.named = named
        # strategies composed for requests' controls, kept so that one holding state (a loaded router) is
        # built once; the controls clients send make few distinct ones, and at most `MAX_COMPOSED` are kept
        self._composed: OrderedDict[str, Strategy] = OrderedDict()
        # plans by the request's thinking controls (`plan` is pure in them): a served request is planned when it
        # is admitted and again by `run_batch`; at most `MAX_COMPOSED` are kept
        self._plans: OrderedDict[tuple, Plan] = OrderedDict()

    MAX_COMPOSED = 32

    def prepare(self) -> None:
        """Load what the strategy needs now (a router, the models its roles name), so a server fails at
        start-up rather than on its first request."""
        self.strategy.prepare(self.backend, **self._models_for(self.strategy))

    def cache_key(self) -> str:
        """What the bench cache keys this gate's rows by besides the primary's fingerprint: the strategy's key,
        and every other model it runs (name and fingerprint)."""
        return self.strategy.cache_key(self.backend, **self._models_for(self.strategy))

    def _models_for(self, strategy: Strategy) -> dict:
        """The roster, for a strategy that runs several models (`Strategy.runs_several`); nothing for one that
        does not."""
        return {"models": self.models} if strategy.runs_several() else {}

    def plan(self, request: Request) -> Plan:
        """Which strategy serves `request` and why (`thinkgate.policy.plan`); raises `PolicyConflict`."""
        t = request.thinking
        key = (t.mode, t.budget, t.min_budget, t.effort)
        kept = self._plans.get(key)
        if kept is None:
            kept = self._plans[key] = plan(self.strategy, t, self.format, self.named)
            while len(self._plans) > self.MAX_COMPOSED:
                self._plans.popitem(last=False)
        return kept

    def strategy_for(self, request: Request) -> Strategy:
        chosen = self.plan(request).strategy
        if chosen is self.strategy:
            return chosen
        if chosen.spec in self._composed:
            self._composed.move_to_end(chosen.spec)
            return self._composed[chosen.spec]
        self._composed[chosen.spec] = chosen
        while len(self._composed) > self.MAX_COMPOSED:
            self._composed.popitem(last=False)
        return chosen

    def run(self, request: Request) -> Result:
        return self.run_batch([request])[0]

    def stream(self, request: Request, on_event=None, on_token=None, inline: bool = False, pool=None):
        """Serve one request as `run` does, in its own thread, streaming reasoning and answer deltas as the
        backend writes them (see `thinkgate.streaming`); returns the `Stream` (iterate it, or pass
        `on_event`; `cancel()` stops the generation). `inline`: run the strategy on the calling event
        loop's thread instead (a greenlet), for a backend whose I/O runs on that loop: an engine upstream
        attached to a server's loop. `pool`: a `streaming.WorkerPool` to serve it in (a server's), else a
        thread of its own."""
        from .streaming import Stream

        return Stream(lambda: self.run(request), self.format, on_event=on_event, on_token=on_token, inline=inline,
                      pool=pool, tools=bool(request.tools), stop=request.sampling.stop, logprobs=request.logprobs)

    def run_batch(self, requests: list[Request]) -> list[Result]:
        """The batch contract, enforced here once: a strategy is handed only requests that share the strategy
        that serves them and their sampling settings, so it may generate for all of them with one call's
        settings; results come back in request order, each what `run` gives for that request alone. Tools
        for a template whose tool calls cannot be read back are refused (`ToolsUnsupported`)."""
        for r in requests:
            self.format.check_tools(r.tools, r.messages, "tools")
        chosen = [self.strategy_for(r) for r in requests]
        if len(requests) == 1:  # (a served request: nothing to group)
            return [self._costed(chosen[0].run_batch(requests, self.backend, self.format,
                                                     **self._models_for(chosen[0]))[0])]
        by_spec = {s.spec: s for s in chosen}
        results: list[Result | None] = [None] * len(requests)
        keys = ((s.spec, r.sampling.model_dump_json(), r.logprobs) for s, r in zip(chosen, requests))
        for (spec, *_), idx in group_indices(keys).items():
            strategy = by_spec[spec]
            done = strategy.run_batch([requests[i] for i in idx], self.backend, self.format,
                                      **self._models_for(strategy))
            for i, res in zip(idx, done):
                results[i] = self._costed(res)
        return results  # type: ignore[return-value]

    def _costed(self, res: Result) -> Result:
        """The result with its tokens per model (the primary's, where a single-model strategy served it) and
        its cost (`Roster.cost_of`)."""
        by_model = res.usage.by_model or {self.models.primary.name: res.usage.completion_tokens}
        usage = res.usage.model_copy(update={"by_model": by_model, "cost": self.models.cost_of(by_model)})
        return res.model_copy(update={"usage": usage})


__all__ = ["Gate", "Roster", "load_backend", "resolve_model"]  # the loaders live in roster.py; the API names them here
