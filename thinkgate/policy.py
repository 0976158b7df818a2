"""The thinking policy: which strategy serves a request, from the request's own thinking controls and the
strategy it was sent to, and where that choice came from. One pure function, `plan`, which `Gate` calls
for every request of every face (the CLI, the bench, the server).

Inputs: the strategy, and whether the caller named it (`named`: a request's `thinking.strategy`, the CLI's
`--strategy`, a bench row, a library caller's) or it is only a default (the server's `--strategy`, the mode's
strategy in `thinkgate ask`); the request's `ThinkingSpec`; the model family's chat format.

Who decides whether the model thinks has one name each: mode `auto` leaves it to **the model** (nothing is
written after the assistant tag; `self` is the strategy that always does this); the strategy `route`
(formerly also called `auto`, a spelling still read) leaves it to **a router** calibrated on the model's
outcomes.

Rules, in order:
1. **Thinking off** (mode `nothink`: `thinking.mode: off`, `enable_thinking: false`, effort `none`,
   `/no_think`): a strategy that never thinks (nothink, nothinking, parallel) serves it as it is; `think`,
   which is the model's own behaviour steered by the request's mode, and a default give way to `nothink`; a
   named strategy that thinks otherwise is a conflict: an error naming both.
2. **A cap or a floor** (the request's budget, else its effort's cap where the family has no effort levels of
   its own, `EFFORT_BUDGETS`; its min_budget): composed with the strategy where the two fit —
   `think` becomes `budget:max=CAP,min=FLOOR`; `budget` keeps the tighter of its own limits and the
   request's; `route` caps the thinking it routes to (`then=budget;max=CAP`, the tighter of its own and the
   request's); a strategy that never thinks
   needs no cap. Any other strategy (early_exit, thinkless, dont_overthink, self) has no thinking cap: named,
   it is a conflict (an error naming the strategy and the field); a default gives way to `budget`.
3. Otherwise the strategy serves the request as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PolicyConflict
from .formats import ThinkingFormat
from .strategies import STRATEGIES, Strategy
from .strategies.route import then_strategy
from .types import ThinkingSpec

# strategies whose output has no thought (a cap holds; thinking off is what they do)
NEVER_THINK = frozenset({"nothink", "nothinking", "parallel"})


@dataclass(frozen=True)
class Plan:
    """The strategy that serves a request; `why`: how it was reached, for a response's `thinkgate` object
    and for logs; `cap`: the most thinking tokens the request allows (None: no cap) and `cap_from` where that
    came from ("budget" or "effort")."""

    strategy: Strategy
    why: str
    cap: int | None = None
    cap_from: str | None = None


def request_cap(spec: ThinkingSpec, fmt: ThinkingFormat) -> tuple[int | None, str | None]:
    """The most thinking tokens a request allows, and from which field: its budget, else its effort's cap
    where the family has no effort levels of its own (a family with them gets the level instead)."""
    if spec.budget is not None:
        return spec.budget, "budget"
    if not fmt.has_thinking or fmt.native_effort(spec.effort):
        return None, None
    cap = spec.effort_budget()
    return (cap, "effort") if cap is not None else (None, None)


def plan(strategy: Strategy, spec: ThinkingSpec, fmt: ThinkingFormat, named: bool = True) -> Plan:
    """Which strategy serves a request with thinking controls `spec` sent to `strategy` (see the module's
    rules). Raises `PolicyConflict` (a ValueError naming the field) where a named strategy and the request's
    controls contradict each other."""
    name = strategy.name
    if spec.mode == "nothink":
        if name in NEVER_THINK:
            return Plan(strategy, f"{strategy.spec}: thinking off")
        if name == "think":  # the model's own behaviour, which the request's mode steers
            return Plan(STRATEGIES["nothink"](), "nothink: thinking off")
        if named:
            raise PolicyConflict(f"thinking is off for this request, and strategy {strategy.spec!r} thinks; "
                                 "drop one of them", "thinking.mode")
        return Plan(STRATEGIES["nothink"](), f"nothink: thinking off (instead of the default {strategy.spec!r})")
    cap, cap_from = request_cap(spec, fmt)
    floor = spec.min_budget
    if cap is None and floor is None:
        return Plan(strategy, strategy.spec)
    field = f"thinking.{'min_budget' if cap is None else cap_from}"
    limits = ", ".join(x for x in (f"at most {cap}" if cap is not None else "", f"at least {floor}"
                                   if floor is not None else "") if x)
    if name in NEVER_THINK:
        if floor:
            raise PolicyConflict(f"strategy {strategy.spec!r} does not think, so it cannot think {limits} "
                                 "tokens", "thinking.min_budget")
        return Plan(strategy, f"{strategy.spec}: does not think (the cap holds)", cap, cap_from)
    if name == "think" or (name == "budget" and strategy.unlimited):
        return Plan(_budget(cap, floor), f"think with {limits} thinking tokens ({field})", cap, cap_from)
    if name == "budget":
        p = strategy.params
        tight_max = p.max if cap is None else cap if p.max is None else min(p.max, cap)
        tight_min = p.min if floor is None else floor if p.min is None else max(p.min, floor)
        if tight_max is not None and tight_min is not None and tight_min > tight_max:
            raise PolicyConflict(f"at least {tight_min} and at most {tight_max} thinking tokens: the request's "
                                 f"limits and strategy {strategy.spec!r} do not fit together", field)
        composed = STRATEGIES["budget"](params=p.model_copy(update={"max": tight_max, "min": tight_min}))
        return Plan(composed, f"{strategy.spec} with the request's limits ({field})", cap, cap_from)
    if name == "route" and floor is None:
        inner = then_strategy(strategy.params.then)  # None: the router's own calibrated budgets
        if inner is None or inner.name == "think" or (inner.name == "budget" and not inner.params.min):
            own = inner.params.max if inner is not None and inner.name == "budget" else None
            tight = cap if own is None else min(own, cap)
            composed = STRATEGIES["route"](params=strategy.params.model_copy(update={"then": f"budget;max={tight}"}))
            return Plan(composed, f"route: a router decides, thinking capped at {tight} ({field})", cap, cap_from)
    if named:
        raise PolicyConflict(f"strategy {strategy.spec!r} has no thinking limit of its own, and the request asks "
                             f"for {limits} thinking tokens ({field}); drop one, or use think or budget", field)
    return Plan(_budget(cap, floor), f"budget with {limits} thinking tokens ({field}), instead of the default "
                                     f"{strategy.spec!r}", cap, cap_from)


def _budget(cap: int | None, floor: int | None) -> Strategy:
    return STRATEGIES["budget"](max=cap, min=floor)
