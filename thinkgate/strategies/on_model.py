"""A one-model strategy run on a named model of the roster instead of the primary: `SPEC@NAME`.

`think@mini` thinks on the model named `mini`; `budget:max=32@mini` and `route@mini` (its router from
`mini`'s folder) likewise. The spelling is read by `parse_strategy` (the text after the last `@`, when it
is a model's name) on every face: `--strategies think,think@mini` in `bench` compares two models in one
run (and gives `oracle` and a router between models the outcomes they need), `ask --strategy think@mini`,
and a request's `thinking.strategy` in `serve`. The result counts its tokens as that model's and names it
as the model that answered. A two-model strategy already names its models (`small=`, `large=`) and is
refused here; so is a strategy that itself runs several models.
"""

from __future__ import annotations

from ..types import Result
from .base import Limited, Strategy


class OnModel(Strategy):
    name = "on_model"  # not in the registry: built from the `@NAME` suffix

    def __init__(self, inner: Strategy, model: str):
        if inner.runs_several():
            raise ValueError(f"strategy {inner.spec!r} runs several models and names them itself; "
                             f"@{model} is for a strategy that runs one")
        super().__init__()
        self.strategy, self.model = inner, model
        self.thinks = inner.thinks  # type: ignore[misc]  (what the policy reads, per instance)

    @property
    def spec(self) -> str:
        return f"{self.strategy.spec}@{self.model}"

    def runs_several(self) -> bool:
        return True

    def inner(self) -> list[Strategy]:
        return [self.strategy]

    def resolve(self, models) -> tuple:
        try:
            return (models.get(self.model, f"strategy {self.spec!r}"),)
        except ValueError as e:
            raise ValueError(f"{e} (an @ inside a parameter's value is written \\@)") from None

    def without_thinking(self) -> Strategy | None:
        off = self.strategy.without_thinking()
        return None if off is None else OnModel(off, self.model)

    def with_limits(self, cap, floor) -> Limited | None:
        limited = self.strategy.with_limits(cap, floor)
        return None if limited is None else Limited(OnModel(limited.strategy, self.model), f"{limited.how} on {self.model}")

    def capped(self, limits: dict[str, int]) -> Strategy:
        inner = self.strategy.capped(limits)
        return self if inner is self.strategy else OnModel(inner, self.model)

    def prepare(self, backend, models=None) -> None:
        (member,) = self.resolve(models)
        self.strategy.prepare(member.backend)

    def cache_key(self, backend, models=None) -> str:
        (member,) = self.resolve(models)
        return f"{self.strategy.cache_key(member.backend)}@{member.name}:{member.fingerprint()}"

    def run_batch(self, requests, backend, fmt, models=None) -> list[Result]:
        (member,) = self.resolve(models)
        return [on_member(res, self.spec, member.name) for res in
                self.strategy.run_batch(requests, member.backend, member.format)]


def on_member(res: Result, spec: str, name: str) -> Result:
    """A result a one-model strategy wrote on the member `name`: its tokens counted as that model's."""
    usage = res.usage.model_copy(update={"by_model": {name: res.usage.completion_tokens}})
    return res.model_copy(update={"strategy": spec, "usage": usage})
