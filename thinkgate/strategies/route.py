"""`route`: a calibrated router decides per query whether to think, and how much (formerly `auto`, a name
still accepted: `auto` is also the mode in which the model itself decides, which this is not).

Sources: Self-Route (a probe on the target model's hidden state at the end of the prompt predicts
whether the no-thinking answer will be right) and RouteLLM (one score, a threshold set by quantile on a
calibration set to hit a think rate). The router is trained by `thinkgate calibrate` from this model's
own outcomes (see `thinkgate/routers/`); it is loaded from the model folder's `router/` (or `dir`), and
refused if it was calibrated on another model.

Per query the router gives P(correct) at each level (no thinking, each calibrated budget, unbounded
thinking). Its score is, by default, P(correct without thinking) - P(correct thinking) (or Self-Route's
P(correct without thinking) for a router calibrated with `--rule nothink`). Score >= threshold: the
format's empty think block (`nothink`). Else the query thinks, through `then`:
- `then=budget` (default): with the smallest calibrated budget whose predicted accuracy is within the
  router's `budget_slack` of unbounded thinking's (unbounded `think` when none is);
- `then=think`: unbounded thinking;
- `then=early_exit` (or `early_exit;threshold=0.9`): DEER early exit on the thinking queries;
- `then=budget;max=64;min=16` (any strategy spec, parameters separated by `;`): that strategy as written.

Parameters (defaults): `router` ("auto": the hidden-state probe when the backend exposes hidden states and
a probe was calibrated, else the text router; or "probe" / "text"), `dir` (None: `<model>/router`),
`threshold` (None: the calibrated one), `think_rate` (None; else the threshold that gives this think rate
on the calibration scores, by quantile), `then` ("budget"), `budget_slack` (None: the calibrated one).

Each result's trace starts with a `route` event: router kind, score, threshold, decision, budget, and the
per-level probabilities; the bench puts decision and score in its rows.

To the thinking policy: a request's cap holds for the thinking it routes to, composed as its `then`
strategy composes with a cap (`then=think` under a cap of 64 is `then=budget;max=64`, `then=budget;max=32`
stays, `then=budget;min=8` becomes `then=budget;max=64;min=8`); the router's own budget choice gives way to
`then=budget;max=CAP`. A floor, or a `then` without a thinking limit of its own (`early_exit`), has no
composition.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ..backends.base import HIDDEN_STATE
from ..types import TraceEvent
from .base import Limited, LimitsConflict, Params, Strategy


class RouteParams(Params):
    router: str = "auto"
    dir: str | None = None
    threshold: float | None = None
    think_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    then: str = "budget"
    budget_slack: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _check(self):
        if self.router not in ("auto", "probe", "text"):
            raise ValueError(f"router must be auto, probe or text, not {self.router!r}")
        if self.threshold is not None and self.think_rate is not None:
            raise ValueError("give threshold or think_rate, not both")
        then_strategy(self.then)  # a bad `then` is an error now, not at the first request
        return self


def then_strategy(spec: str) -> Strategy | None:
    """The strategy thinking queries go through; None for the router's own budget choice."""
    from . import parse_strategy

    spec = spec.strip()
    if spec == "budget":
        return None
    if ":" not in spec and ";" in spec:  # early_exit;threshold=0.9 -> early_exit:threshold=0.9
        spec = spec.replace(";", ":", 1)
    inner = parse_strategy(spec.replace(";", ","))  # a former name is read as the registry reads it
    if inner.name == Route.name:
        raise ValueError(f"then={spec} would route twice")
    if inner.ROLES:
        raise ValueError(f"then={spec}: route runs its thinking queries on its own model, and {inner.name} needs two")
    return inner


class Route(Strategy):
    name = "route"
    PATHS = ("dir",)
    Params = RouteParams

    def __init__(self, params=None, **kw):
        super().__init__(params, **kw)
        self._routers: dict[str, object] = {}

    def inner(self) -> list[Strategy]:
        then = then_strategy(self.params.then)
        return [then] if then is not None else []

    def with_limits(self, cap, floor):
        from .budget import Budget

        if floor is not None:
            return None
        inner = then_strategy(self.params.then)
        if inner is None:  # the router's own calibrated budgets give way to the cap
            thinking = Budget(max=cap)
        else:  # the thinking it routes to takes the cap as that strategy takes one
            try:
                limited = inner.with_limits(cap, None)
            except LimitsConflict as e:
                raise LimitsConflict(f"strategy {self.spec!r} thinks through {inner.spec!r}: {e}") from None
            if limited is None:
                return None
            thinking = limited.strategy
        then = thinking.spec.replace(":", ";", 1).replace(",", ";")  # budget:max=64,min=8 -> budget;max=64;min=8
        return Limited(Route(params=self.params.model_copy(update={"then": then})),
                       f"route: a router decides, thinking through {thinking.spec}")

    def router_for(self, backend):
        """The router for this backend's model, loaded once (and refused if stale)."""
        from ..routers.router import Router, router_dir

        model_dir = Path(backend.model_id)
        folder = Path(self.params.dir) if self.params.dir else router_dir(model_dir)
        kind = self.params.router
        if kind == "auto":
            kind = "probe" if HIDDEN_STATE in backend.capabilities and (folder / "probe.json").exists() else "text"
        key = f"{folder}|{kind}|{model_dir}"
        if key not in self._routers:
            self._routers[key] = Router.load(folder, kind, model_dir)
        return self._routers[key]

    def prepare(self, backend, models=None) -> None:
        self.router_for(backend)
        super().prepare(backend)

    def cache_key(self, backend, models=None) -> str:
        return f"{self.spec}@router={self.router_for(backend).id}"

    @staticmethod
    def _as_decided(request, d, answer_tokens: int):
        """The request as the router decided it: its mode fixed (a request in auto mode must not leave the
        choice to the model again) and, at a budget, the answer capped as it was at calibration."""
        update: dict = {"thinking": request.thinking.model_copy(update={"mode": d.mode})}
        if d.budget is not None:
            update["sampling"] = request.sampling.model_copy(
                update={"max_tokens": min(request.sampling.max_tokens, d.budget + answer_tokens)})
        return request.model_copy(update=update)

    def run_batch(self, requests, backend, fmt):
        from .budget import Budget
        from .nothink import NoThink
        from .think import Think

        router = self.router_for(backend)
        p = self.params
        threshold = p.threshold if p.threshold is not None else (
            router.threshold_for_rate(p.think_rate) if p.think_rate is not None else router.meta.threshold)
        then = then_strategy(p.then)
        decisions = router.decide(requests, backend, fmt, threshold=threshold, use_budgets=then is None,
                                  budget_slack=p.budget_slack)
        # group by the strategy that serves each decision; results come back in request order
        groups: dict[str, tuple[Strategy, list[int]]] = {}
        for i, d in enumerate(decisions):
            if d.mode == "nothink":
                s: Strategy = NoThink()
            elif then is not None:
                s = then
            else:
                s = Budget(max=d.budget) if d.budget is not None else Think()
            groups.setdefault(s.spec, (s, []))[1].append(i)
        results = [None] * len(requests)
        for s, idx in groups.values():
            # the router decided: a request in auto mode must not leave the choice to the model again
            chosen = [self._as_decided(requests[i], decisions[i], router.meta.budget_answer_tokens) for i in idx]
            for i, res in zip(idx, s.run_batch(chosen, backend, fmt)):
                d = decisions[i]
                route = TraceEvent(kind="route", detail={
                    "router": router.meta.kind, "score": round(d.score, 4), "threshold": round(threshold, 4),
                    "decision": d.mode, "budget": d.budget, "via": s.spec,
                    "probs": dict(zip(router.meta.levels, (round(x, 4) for x in d.probs)))})
                results[i] = res.model_copy(update={"strategy": self.spec, "mode": d.mode,
                                                    "trace": [route] + list(res.trace)})
        return results
