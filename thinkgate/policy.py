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

The policy knows no strategy by name: each declares itself (`thinkgate.strategies.base.Strategy`) —
`thinks` (whether its output has a thought), `without_thinking()` (what serves thinking off in its place)
and `with_limits(cap, floor)` (itself composed with a request's thinking limits, or None where it has no
thinking limit of its own). Where a default strategy gives way, it gives way to the model's own behaviour
(`think`) under the request's controls, through the same declarations. Rules, in order:
1. **Thinking off** (mode `nothink`: `thinking.mode: off`, `enable_thinking: false`, effort `none`,
   `/no_think`): the strategy's `without_thinking()` serves it (a strategy that never thinks, as it is;
   `think` gives way to `nothink`); where there is none, a named strategy is a conflict (an error naming both)
   and a default gives way.
2. **A cap or a floor** (the request's budget, else its effort's cap where the family has no effort levels of
   its own, `EFFORT_BUDGETS`; its min_budget): a strategy that never thinks needs no cap (the cap holds) and
   cannot take a floor (a conflict); one that thinks is composed by its `with_limits` (`think` becomes
   `budget:max=CAP,min=FLOOR`; `budget` keeps the tighter of its own limits and the request's, a conflict
   where they cannot both hold; `route` caps the thinking it routes to). One without a thinking limit of its
   own (early_exit, thinkless, dont_overthink, self): named, it is a conflict (an error naming the strategy
   and the field); a default gives way.
3. Otherwise the strategy serves the request as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PolicyConflict
from .formats import ThinkingFormat
from .strategies import Strategy
from .strategies.base import LimitsConflict, limits_text
from .strategies.think import Think
from .types import ThinkingSpec


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
    if spec.mode == "nothink":
        served = strategy.without_thinking()
        if served is not None:
            return Plan(served, f"{served.spec}: thinking off")
        if named:
            raise PolicyConflict(f"thinking is off for this request, and strategy {strategy.spec!r} thinks; "
                                 "drop one of them", "thinking.mode")
        served = Think().without_thinking()
        return Plan(served, f"{served.spec}: thinking off (instead of the default {strategy.spec!r})")
    cap, cap_from = request_cap(spec, fmt)
    floor = spec.min_budget
    if cap is None and floor is None:
        return Plan(strategy, strategy.spec)
    field = f"thinking.{'min_budget' if cap is None else cap_from}"
    limits = limits_text(cap, floor)
    if not strategy.thinks:
        if floor:
            raise PolicyConflict(f"strategy {strategy.spec!r} does not think, so it cannot think {limits} "
                                 "tokens", "thinking.min_budget")
        return Plan(strategy, f"{strategy.spec}: does not think (the cap holds)", cap, cap_from)
    try:
        limited = strategy.with_limits(cap, floor)
    except LimitsConflict as e:
        raise PolicyConflict(str(e), field) from None
    if limited is not None:
        return Plan(limited.strategy, f"{limited.how} ({field})", cap, cap_from)
    if named:
        raise PolicyConflict(f"strategy {strategy.spec!r} has no thinking limit of its own, and the request asks "
                             f"for {limits} thinking tokens ({field}); drop one, or use think or budget", field)
    served = Think().with_limits(cap, floor).strategy
    return Plan(served, f"{served.name} with {limits} thinking tokens ({field}), instead of the default "
                        f"{strategy.spec!r}", cap, cap_from)
