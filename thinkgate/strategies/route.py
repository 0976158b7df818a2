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
`models` (None: the primary alone; `A;B` or `all`: between those models of the roster),
`threshold` (None: the calibrated one), `think_rate` (None; else the threshold that gives this think rate
on the calibration scores, by quantile), `then` ("budget"), `budget_slack` (None: the calibrated one).

Each result's trace starts with a `route` event: router kind, score, threshold, decision, budget, and the
per-level probabilities; the bench puts decision and score in its rows.

Between models (`models`: the roster's names separated by `;`, or `all`): the router calibrated on those
models (`thinkgate calibrate --model A --model B`, saved as `<kind>@A+B` in the primary's `router/` or in
`dir`) predicts P(correct) for every option (model, level) and sends each query to the cheapest option
whose P clears the threshold, else to its fallback (`thinkgate/routers/router.py`, rule `cheapest`). The
route event then also names the model, the option and whether it fell back, and the result's tokens are
that model's; a thinking option thinks through `then` as above, on its model. `think_rate` is turned into
a threshold on the calibration split's out-of-fold probabilities. The router is refused when a model it
names is missing from the roster or differs from the one it was calibrated on.

To the thinking policy: a request's cap holds for the thinking it routes to, composed as its `then`
strategy composes with a cap (`then=think` under a cap of 64 is `then=budget;max=64`, `then=budget;max=32`
stays, `then=budget;min=8` becomes `then=budget;max=64;min=8`); the router's own budget choice gives way to
`then=budget;max=CAP`. A floor, or a `then` without a thinking limit of its own (`early_exit`), has no
composition.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..backends.base import HIDDEN_STATE
from ..types import TraceEvent
from .base import Limited, LimitsConflict, Params, Strategy, text_list
from .on_model import on_member


class RouteParams(Params):
    router: str = "auto"
    dir: str | None = None
    threshold: float | None = None
    think_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    then: str = "budget"
    budget_slack: float | None = Field(default=None, ge=0.0)
    models: tuple[str, ...] | None = None

    @field_validator("models", mode="before")
    @classmethod
    def _models(cls, v):
        if v is None:
            return v
        names = text_list(v)
        if "all" in names and len(names) > 1:
            raise ValueError("models: give `all` or names, not both")
        if names != ("all",) and len(set(names)) < 2:
            raise ValueError("models: name two models or more (or `all`); one model is the primary's own router")
        return names

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
    if inner.runs_several():
        raise ValueError(f"then={spec}: route runs its thinking queries on the model it chose, and {inner.spec} "
                         "names models itself")
    return inner


def then_capped(owner: str, inner: Strategy, cap: int) -> Strategy | None:
    """The `then` strategy `inner` of strategy `owner` under a request's cap on thinking, as `inner` takes one
    (None: it takes none); `LimitsConflict` naming both where it cannot."""
    try:
        limited = inner.with_limits(cap, None)
    except LimitsConflict as e:
        raise LimitsConflict(f"strategy {owner!r} thinks through {inner.spec!r}: {e}") from None
    return None if limited is None else limited.strategy


def then_spelling(strategy: Strategy) -> str:
    """A strategy as a `then` parameter writes it: budget:max=64,min=8 -> budget;max=64;min=8."""
    return strategy.spec.replace(":", ";", 1).replace(",", ";")


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
        # the router's own calibrated budgets give way to the cap; a `then` takes it as that strategy takes one
        thinking = Budget(max=cap) if inner is None else then_capped(self.spec, inner, cap)
        if thinking is None:
            return None
        return Limited(Route(params=self.params.model_copy(update={"then": then_spelling(thinking)})),
                       f"route: a router decides, thinking through {thinking.spec}")

    def runs_several(self) -> bool:
        return self.params.models is not None

    def names(self, models) -> list[str] | None:
        """The models routed between, the primary first (None: the primary alone). ValueError where they leave
        out the primary: the router is the primary's (its folder, and the probe reads its hidden state)."""
        if self.params.models is None:
            return None
        if self.params.models == ("all",):
            return models.names if len(models) > 1 else None
        primary = models.primary.name
        if primary not in self.params.models:
            raise ValueError(f"strategy {self.spec!r}: the models routed between must include the primary, "
                             f"{primary!r} (the router is calibrated with it first: thinkgate calibrate --model "
                             f"{primary} --model ...)")
        return [primary, *(n for n in self.params.models if n != primary)]

    def resolve(self, models) -> tuple:
        return tuple(models.get(n, f"strategy {self.spec!r}") for n in self.names(models) or [])

    def router_for(self, backend, models=None):
        """The router for this backend's model (between `models`' members, where asked), loaded once and refused
        if stale."""
        from ..routers.router import Router, content_fingerprint, file_stem, router_dir

        model_dir = Path(backend.model_id)
        names = self.names(models) if models is not None else None
        folder = Path(self.params.dir) if self.params.dir else router_dir(model_dir)
        kind = self.params.router
        if kind == "auto":
            probe = folder / f"{file_stem('probe', names)}.json"
            kind = "probe" if HIDDEN_STATE in backend.capabilities and probe.exists() else "text"
        key = f"{folder}|{kind}|{model_dir}|{names}"
        if key not in self._routers:
            members = self.resolve(models) if names else ()  # a name the roster lacks, before any file
            router = Router.load(folder, kind, model_dir, models=names)
            if names:
                router.check_models({m.name: content_fingerprint(m.backend.model_id) for m in members},
                                    str(folder / file_stem(kind, names)))
            self._routers[key] = router
        return self._routers[key]

    def prepare(self, backend, models=None) -> None:
        self.router_for(backend, models)
        super().prepare(backend)

    def cache_key(self, backend, models=None) -> str:
        key = f"{self.spec}@router={self.router_for(backend, models).id}"
        return key + "".join(f"@{m.name}:{m.fingerprint()}" for m in self.resolve(models)) if models else key

    def option_specs(self, backend, models) -> list[tuple[str, int | None]]:
        """Between models: each option of the router as a strategy spec that runs it alone (`think@mini`; on
        the primary, `think`), with the answer cap of a budget option (its budget plus the router's answer
        tokens; None where there is none): what the bench runs for the per-query oracle and the curve."""
        if not self.runs_several() or self.names(models) is None:
            return []
        router = self.router_for(backend, models)
        primary = models.primary.name
        return [(o.level if o.model == primary else o.name,
                 None if o.budget is None else o.budget + router.meta.budget_answer_tokens)
                for o in router.meta.options]

    @staticmethod
    def _as_decided(request, d, answer_tokens: int):
        """The request as the router decided it: its mode fixed (a request in auto mode must not leave the
        choice to the model again) and, at a budget, the answer capped as it was at calibration."""
        update: dict = {"thinking": request.thinking.model_copy(update={"mode": d.mode})}
        if d.budget is not None:
            update["sampling"] = request.sampling.model_copy(
                update={"max_tokens": min(request.sampling.max_tokens, d.budget + answer_tokens)})
        return request.model_copy(update=update)

    def run_batch(self, requests, backend, fmt, models=None):
        from .budget import Budget
        from .nothink import NoThink
        from .think import Think

        router = self.router_for(backend, models)
        p = self.params
        then = then_strategy(p.then)
        threshold = p.threshold if p.threshold is not None else (
            router.threshold_for_rate(p.think_rate, use_budgets=then is None) if p.think_rate is not None
            else router.meta.threshold)
        decisions = router.decide(requests, backend, fmt, threshold=threshold, use_budgets=then is None,
                                  budget_slack=p.budget_slack)
        # group by the strategy (and model) that serves each decision; results come back in request order
        groups: dict[tuple, tuple[Strategy, list[int]]] = {}
        for i, d in enumerate(decisions):
            if d.mode == "nothink":
                s: Strategy = NoThink()
            elif then is not None:
                s = then
            else:
                s = Budget(max=d.budget) if d.budget is not None else Think()
            groups.setdefault((s.spec, d.model), (s, []))[1].append(i)
        results = [None] * len(requests)
        for (_, name), (s, idx) in groups.items():
            member = models.get(name) if name is not None else None
            # the router decided: a request in auto mode must not leave the choice to the model again
            chosen = [self._as_decided(requests[i], decisions[i], router.meta.budget_answer_tokens) for i in idx]
            done = s.run_batch(chosen, member.backend, member.format) if member else s.run_batch(chosen, backend, fmt)
            for i, res in zip(idx, done):
                d = decisions[i]
                detail = {"router": router.meta.kind, "score": round(d.score, 4), "threshold": round(threshold, 4),
                          "decision": d.mode, "budget": d.budget, "via": s.spec}
                if member:  # between models: which one, which option, and whether none cleared the threshold
                    detail.update(model=member.name, option=d.option, fallback=d.fallback)
                    res = on_member(res, self.spec, member.name)
                detail["probs"] = router.named_probs(d.probs)
                results[i] = res.model_copy(update={"strategy": self.spec, "mode": d.mode,
                                                    "trace": [TraceEvent(kind="route", detail=detail)] + list(res.trace)})
        return results
