"""Run strategies over suites through the shared library call, score every (item, sample), cache rows."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..gate import Gate
from ..strategies import Strategy
from ..tasks import Item, get_task
from ..types import Request, Result, Sampling
from ..scoring.cache import ResultsCache, row_key
from ..scoring.metrics import (Row, breakdown, cost_points, frontier_points, oracle_rows, otb_summary, pareto,
                               results_table, summary)


def score(strategy: Strategy, item: Item, res: Result, sample: int, wall_s: float) -> Row:
    route = res.route()
    return Row(strategy=strategy.spec, suite=item.suite, family=item.family, difficulty=item.difficulty,
               item=item.id, sample=sample, correct=get_task(item.family).verify(item, res.answer),
               think_tokens=res.usage.reasoning_tokens, answer_tokens=res.usage.answer_tokens, thought=res.thought,
               closed=res.closed, finish_reason=res.finish_reason, wall_s=round(wall_s, 4), answer=res.answer,
               decision=route.get("decision"), score=route.get("score"), budget=route.get("budget"),
               by_model=dict(res.usage.by_model) or None, cost=res.usage.cost, model=res.model,
               option=route.get("option"), threshold=route.get("threshold"),
               fallback=route.get("fallback"), probs=route.get("probs"),
               confidence=None if res.confidence is None else round(res.confidence, 6))


def _checker(item: Item) -> Callable[[str], bool]:
    task = get_task(item.family)
    return lambda answer: task.verify(item, answer)


def sample_seed(sampling: Sampling, k: int) -> Sampling:
    """Sample k of an item: greedy stays greedy; sampling gets seed + k so samples differ reproducibly."""
    if sampling.temperature == 0:
        return sampling
    return sampling.model_copy(update={"seed": (sampling.seed or 0) + k})


def run_suite(gate: Gate, items: list[Item], sampling: Sampling, model_key: str, cache: ResultsCache | None = None,
              samples: int = 1, chunk: int = 64, advance: Callable[[int], None] | None = None) -> list[Row]:
    """All (item, sample) pairs of one suite through one gate, `chunk` requests per library call.
    Rows already in the cache are reused, their answers checked again by the item's checker (so a scoring
    option, such as OptimalThinkingBench's first-boxed extraction or a numeric tolerance, needs no new
    generation); new rows are appended to it as each chunk finishes."""
    # strategies that generate the same thing share a cache key (an unlimited budget is `think`); rows read
    # back under a shared key carry this strategy's name
    spec, skey = gate.cache_key(), sampling.model_dump_json()
    label = gate.strategy.spec
    done: dict[str, Row] = {}
    todo: list[tuple[str, Item, int]] = []
    keys: list[str] = []  # every (item, sample) in output order
    for k in range(samples):
        for it in items:
            key = row_key(model_key, spec, it.suite, it.id, k, skey)
            keys.append(key)
            row = cache.get(key) if cache else None
            if row is not None:
                update = {"strategy": label, "correct": _checker(it)(row.answer)}
                primary = gate.models.primary.name
                if row.by_model is None:  # cached before rows had tokens per model: the primary wrote it all
                    update.update(by_model={primary: row.think_tokens + row.answer_tokens}, model=primary)
                elif not gate.strategy.runs_several() and set(row.by_model) != {primary}:
                    # one model wrote it, under another name then (a one-model strategy's key holds no name)
                    update.update(by_model={primary: sum(row.by_model.values())}, model=primary)
                # the cost from the sizes given now (a size given, or corrected, after the row was cached counts)
                update["cost"] = gate.models.cost_of(update.get("by_model", row.by_model))
                done[key] = row.model_copy(update=update)
            else:
                todo.append((key, it, k))
    if advance and done:
        advance(len(done))
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        t0 = time.time()
        # every request carries its task's exact checker; only verifier selection (parallel:select=verifier) reads it
        results = gate.run_batch([Request.of(it.prompt, sampling=sample_seed(sampling, k), verifier=_checker(it))
                                  for _, it, k in part])
        per = (time.time() - t0) / len(part)
        new = [(key, score(gate.strategy, it, res, k, per)) for (key, it, k), res in zip(part, results)]
        if cache:
            cache.add(new)
        done.update(new)
        if advance:
            advance(len(part))
    return [done[key] for key in keys]


ROW_FIELDS = ("strategy", "suite", "family", "difficulty", "item", "sample", "correct", "judge", "think_tokens",
              "answer_tokens", "closed", "finish_reason", "decision", "budget", "score", "model", "option", "threshold",
              "fallback", "by_model", "cost", "probs", "confidence", "wall_s", "answer")


CONFIDENCE, ROUTER_P = "the answer's confidence", "the chosen option's P(correct)"


def chosen_p(r: Row) -> float | None:
    """A routed row's predicted P(correct) for what its router chose: between models, the option's (its
    score); on one model, the level's (nothink, the budget, or unbounded thinking) from its P per level."""
    if r.option is not None:
        return r.score
    if r.probs is None or r.decision is None:
        return None
    return r.probs.get("nothink" if r.decision == "nothink" else f"budget:max={r.budget}" if r.budget else "think")


def calibration(rows: list[Row]) -> list[dict]:
    """Per (strategy, item set: all, then each suite), how right a predicted probability of being right is
    (`scoring.calibration`, with its bins for a reliability diagram): the answer's confidence, for every
    strategy whose rows have one; and the router's P(correct) of what it chose, for the rows a router routed
    (`chosen_p`)."""
    from ..scoring.calibration import reliability

    out = []
    for of, p in ((CONFIDENCE, lambda r: r.confidence), (ROUTER_P, chosen_p)):
        by: dict[str, list[Row]] = {}
        for r in rows:
            if p(r) is not None:
                by.setdefault(r.strategy, []).append(r)
        for strategy, rs in by.items():
            sets = {"all": rs} | {s: [r for r in rs if r.suite == s] for s in dict.fromkeys(r.suite for r in rs)}
            for name, sub in sets.items():
                out.append({"strategy": strategy, "set": name, "of": of,
                            **reliability([float(p(r)) for r in sub], [r.correct for r in sub])})
    return out


def item_row(r: Row) -> dict:
    """One (strategy, item, sample) as the JSON's `rows` and the CSV export give it."""
    return {f: getattr(r, f) for f in ROW_FIELDS}


def write_csv(rows: list[Row], path) -> None:
    """The per-item rows as CSV, one line per (strategy, item, sample), the columns of `ROW_FIELDS`."""
    import csv
    import json

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=ROW_FIELDS)
        w.writeheader()
        # tokens per model and P(correct) per option as JSON in one cell
        w.writerows({**row, **{k: json.dumps(row[k]) for k in ("by_model", "probs") if row[k] is not None}}
                    for row in map(item_row, rows))


def report(model: str, rows: list[Row], with_oracle: bool = False, t_max: int | None = None,
           otb_compat: bool = False) -> tuple[dict, list[Row]]:
    """The bench's JSON and the rows it was computed from (oracle rows added when asked). `otb_compat`:
    the summary as OptimalThinkingBench's published code computes it (`metrics.otb_summary`)."""
    if with_oracle:
        rows = rows + oracle_rows(rows)
    points, costs = frontier_points(rows), cost_points(rows)
    front, cost_front = set(pareto(points)), set(pareto(costs))
    frontier = [{"strategy": s, "think_tokens_mean": round(x, 2), "accuracy": round(y, 4), "pareto": s in front,
                 "cost_mean": round(costs[s][0], 6) if s in costs else None, "cost_pareto": s in cost_front}
                for s, (x, y) in sorted(points.items(), key=lambda kv: kv[1][0])]
    out = {"model": model, "results": results_table(rows),
           "summary": otb_summary(rows) if otb_compat else summary(rows, t_max), "frontier": frontier,
           "breakdown": breakdown(rows), "rows": [item_row(r) for r in rows]}
    calibrated = calibration(rows)
    if calibrated:  # is a confidence, or a router's P(correct), right as often as it says, on the test items?
        out["calibration"] = calibrated
    routed = [r for r in rows if r.decision is not None]
    if routed:  # per item, what the router (or the model itself) chose and the router's score
        nothink = {(r.suite, r.item, r.sample): r.correct for r in rows if r.strategy == "nothink"}
        out["decisions"] = [{"strategy": r.strategy, "suite": r.suite, "item": r.item, "family": r.family,
                             "difficulty": r.difficulty, "sample": r.sample, "decision": r.decision,
                             "budget": r.budget, "score": r.score, "correct": r.correct,
                             "think_tokens": r.think_tokens,
                             "nothink_correct": nothink.get((r.suite, r.item, r.sample))} for r in routed]
        from ..scoring.curve import bench_curves, bench_option_curves, curves_summary
        from .tables import option_row

        routing = curves_summary(bench_curves(rows))
        if routing:  # accuracy vs think rate as the router's threshold sweeps, against the oracle (APGR)
            out["routing"] = routing
        between = bench_option_curves(rows)
        if between:  # routing between models: accuracy vs cost as the threshold sweeps, against the per-query oracle
            out["routing_models"] = [option_row(strategy, name, c) for strategy, sets in between.items()
                                     for name, c in sets.items()]
            out["routing_models_curves"] = between
    return out, rows
