"""Run strategies over suites through the shared library call and score every item."""

from __future__ import annotations

from collections.abc import Callable

from ..gate import Gate
from ..strategies import Strategy
from ..tasks import Item, get_task
from ..types import Request, Sampling
from .metrics import Row, breakdown, results_table


def score(strategy: Strategy, items: list[Item], results, sample: int = 0) -> list[Row]:
    rows = []
    for item, res in zip(items, results):
        task = get_task(item.family)
        rows.append(Row(strategy=strategy.spec, suite=item.suite, family=item.family, difficulty=item.difficulty,
                        item=item.id, sample=sample, correct=task.verify(item, res.answer),
                        think_tokens=res.usage.reasoning_tokens, answer_tokens=res.usage.answer_tokens,
                        closed=res.closed, finish_reason=res.finish_reason, wall_s=round(res.wall_s, 4),
                        answer=res.answer[:200]))
    return rows


def run_suite(gate: Gate, items: list[Item], sampling: Sampling, chunk: int = 64,
              advance: Callable[[int], None] | None = None) -> list[Row]:
    """All items of one suite through one gate, `chunk` requests per library call."""
    rows: list[Row] = []
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        requests = [Request.of(it.prompt, sampling=sampling) for it in part]
        results = gate.run_batch(requests)
        rows.extend(score(gate.strategy, part, results))
        if advance:
            advance(len(part))
    return rows


def report(model: str, rows: list[Row]) -> dict:
    return {"model": model, "results": results_table(rows), "breakdown": breakdown(rows)}
