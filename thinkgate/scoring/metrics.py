"""Bench metrics, computed per sample first and then averaged.

A row is one (item, sample) outcome: correct, thinking tokens, answer tokens. Thinking tokens are the
tokens of the reasoning part; a response that never closes its think block counts in full as thinking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: str
    suite: str
    family: str
    difficulty: int
    item: str
    sample: int = 0
    correct: bool
    think_tokens: int
    answer_tokens: int
    # the model thought (`Result.thought`): an empty thought it wrote itself costs its tokens in think_tokens
    # but is not thinking; None in rows cached before this field, read as think_tokens > 0
    thought: bool | None = None
    closed: bool
    finish_reason: str
    wall_s: float
    answer: str
    # set by strategies that choose the mode per item (route: the router; self: the model)
    decision: str | None = None  # "think" or "nothink"
    # the router's routing score (routers.router.routing_score), high meaning "no thinking will do": under the
    # default rule `margin`, P(correct without thinking) - P(correct thinking without a cap), in [-1, 1]; under
    # rule `nothink`, P(correct without thinking)
    score: float | None = None
    budget: int | None = None  # the thinking budget the router chose
    threshold: float | None = None  # the threshold the router's score was held to
    # routing between models (route:models=...): the option chosen (`think@mini`), whether none cleared the
    # threshold (the likeliest was taken); P(correct) per option, cheapest first (on one model, per level)
    option: str | None = None
    fallback: bool | None = None
    probs: dict[str, float] | None = None
    # tokens each model wrote ({name: tokens}) and their generation GFLOPs (`thinkgate.roster.Roster.cost_of`);
    # None in rows cached before these fields (the bench fills them in for the model that wrote the row)
    by_model: dict[str, int] | None = None
    cost: float | None = None
    model: str | None = None  # the model that answered (two-model strategies, routing between models)
    confidence: float | None = None  # the answer's confidence (`Result.confidence`); None: no answer or no log p
    judge: str | None = None  # the judge's verdict where one scored the row: yes, no or unclear

    @property
    def thinks(self) -> bool:
        """The model thought on this row (what a think rate counts)."""
        return self.think_tokens > 0 if self.thought is None else self.thought


DEFAULT_T_MAX = 1000  # OptimalThinkingBench's
# The embedded suites' own t_max: its simple items need 60-100 thinking tokens when the model thinks, so
# the paper's 1000 would score always-think almost as well as not thinking. 150 makes the metric tell.
SUITE_T_MAX = {"over": 150}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def aggregate(rows: list[Row]) -> dict:
    return {
        "n": len(rows),
        "accuracy": round(_mean([float(r.correct) for r in rows]), 4),
        "think_tokens_mean": round(_mean([r.think_tokens for r in rows]), 2),
        "answer_tokens_mean": round(_mean([r.answer_tokens for r in rows]), 2),
        "think_rate": round(_mean([float(r.thinks) for r in rows]), 4),
        "wall_s_mean": round(_mean([r.wall_s for r in rows]), 4),
        "length_mean": round(_mean([r.think_tokens + r.answer_tokens for r in rows]), 2),
        **_costs(rows),
    }


def _costs(rows: list[Row]) -> dict:
    """The mean generation GFLOPs per row and the mean tokens each model wrote, where every row has them."""
    if not rows or any(r.cost is None or r.by_model is None for r in rows):
        return {}
    names = sorted({n for r in rows for n in r.by_model})  # type: ignore[union-attr]
    return {"cost_mean": round(_mean([r.cost for r in rows]), 6),  # type: ignore[misc]
            "tokens_by_model": {n: round(_mean([r.by_model.get(n, 0) for r in rows]), 2) for n in names}}  # type: ignore[union-attr]


def results_table(rows: Iterable[Row]) -> list[dict]:
    """One row per (strategy, suite), in first-seen order."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.strategy, r.suite)].append(r)
    out = []
    for (s, q), g in groups.items():
        row = {"strategy": s, "suite": q, **aggregate(g)}
        decided = [r for r in g if r.decision is not None]
        if decided:  # routed strategies: how often the router chose to think, and its mean score
            row["decided_think_rate"] = round(_mean([float(r.decision == "think") for r in decided]), 4)
            scored = [r.score for r in decided if r.score is not None]
            if scored:
                row["score_mean"] = round(_mean(scored), 4)
        if q == "mip":  # the mip verifier accepts exactly the abstentions
            row["abstain_rate"] = row["accuracy"]
        row.update(confidence_calibration(g))
        out.append(row)
    return out


def confidence_calibration(rows: list[Row]) -> dict:
    """How well the answers' confidence says which are right (`scoring.calibration`: ECE over 10 bins, Brier,
    AUROC), over the rows that have one, and its mean; {} where none has."""
    from .calibration import reliability

    scored = [r for r in rows if r.confidence is not None]
    if not scored:
        return {}
    rel = reliability([float(r.confidence) for r in scored], [r.correct for r in scored])  # type: ignore[arg-type]
    return {"confidence_mean": round(_mean([float(r.confidence) for r in scored]), 4),  # type: ignore[arg-type]
            "confidence_n": rel["n"], "ece": rel["ece"], "brier": rel["brier"], "auroc": rel["auroc"]}


def breakdown(rows: Iterable[Row]) -> list[dict]:
    """Per (strategy, suite, family, difficulty)."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.strategy, r.suite, r.family, r.difficulty)].append(r)
    return [{"strategy": s, "suite": q, "family": f, "difficulty": d, **aggregate(g)}
            for (s, q, f, d), g in sorted(groups.items(), key=lambda kv: kv[0])]


def oaa_auc(rows: list[Row], t_max: int) -> float:
    """AUC of overthinking-adjusted accuracy, per sample: correct * max(0, t_max - thinking) / t_max."""
    return _mean([float(r.correct) * max(0, t_max - r.think_tokens) / t_max for r in rows])


def f1(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b > 0 else 0.0


def otb_summary(rows: list[Row]) -> list[dict]:
    """OptimalThinkingBench's scores as its published code computes them (`--otb-compat`), to reproduce
    the paper's numbers: per item, correctness and thinking tokens are first averaged over the samples,
    then the over side scores mean_acc * max(0, 1000 - mean_tokens) / 1000; a response that never closed
    its thought counts in full (answer included) as thinking; each side is the mean over its items, and
    where math subsets are present the side is (all rows + the math rows) / 2, as the code's macro step
    (whose "general" filter also matches the math rows); F1 = 2 O U / (O + U)."""
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.strategy].append(r)
    out = []
    for strategy, rs in by.items():
        items: dict[tuple, list[Row]] = defaultdict(list)
        for r in rs:
            items[(r.suite, r.family, r.item)].append(r)
        scores: dict[str, list[tuple[bool, float]]] = {"over": [], "under": []}  # (a math subset?, score)
        for (suite, family, _), samples in items.items():
            if suite not in scores:
                continue
            acc = _mean([float(r.correct) for r in samples])
            tok = _mean([r.think_tokens + (0 if r.closed else r.answer_tokens) for r in samples])
            score = acc * max(0.0, OTB_T_MAX - tok) / OTB_T_MAX if suite == "over" else acc
            scores[suite].append(("-math" in family, score))
        if not scores["over"] or not scores["under"]:
            continue
        side = {k: _otb_macro(v) for k, v in scores.items()}
        out.append({"strategy": strategy, "auc_oaa": round(side["over"], 4), "acc_ut": round(side["under"], 4),
                    "f1_otb": round(f1(side["over"], side["under"]), 4), "items_over": len(scores["over"]),
                    "items_under": len(scores["under"]),
                    "think_tokens_mean": round(_mean([r.think_tokens for r in rs if r.suite in scores]), 2),
                    "accuracy": round(_mean([float(r.correct) for r in rs if r.suite in scores]), 4)})
    return out


OTB_T_MAX = 1000  # hard-coded in OptimalThinkingBench's eval.py


def _otb_macro(scores: list[tuple[bool, float]]) -> float:
    everything = _mean([s for _, s in scores])
    math = [s for is_math, s in scores if is_math]
    return (everything + _mean(math)) / 2 if math else everything


def summary(rows: list[Row], t_max: int | None = None) -> list[dict]:
    """One row per strategy over the over + under suites: AUC_OAA (over), Acc_ut (under), F1_otb."""
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by[r.strategy].append(r)
    out = []
    for strategy, rs in by.items():
        over = [r for r in rs if r.suite == "over"]
        under = [r for r in rs if r.suite == "under"]
        if not over or not under:
            continue
        auc = oaa_auc(over, t_max or SUITE_T_MAX.get("over", DEFAULT_T_MAX))
        acc_ut = _mean([float(r.correct) for r in under])
        both = over + under
        out.append({"strategy": strategy, "auc_oaa": round(auc, 4), "acc_ut": round(acc_ut, 4),
                    "f1_otb": round(f1(auc, acc_ut), 4),
                    "think_tokens_mean": round(_mean([r.think_tokens for r in both]), 2),
                    "accuracy": round(_mean([float(r.correct) for r in both]), 4)})
    return out


def oracle_rows(rows: list[Row]) -> list[Row]:
    """Per (item, sample): the cheapest correct outcome among thinking and not thinking on every model that has
    rows of both (`think` and `nothink` on the primary, `think@M` and `nothink@M` on another model M: the
    per-query oracle of a pair when two models are benched); when none is correct, the cheapest. Cheapest by
    the options' mean cost over all their rows (generation GFLOPs; tokens written where a row has none), so
    on one model not thinking comes first."""
    options = [s for s in dict.fromkeys(r.strategy for r in rows) if _mode_of(s) is not None]
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.strategy in options:
            by[r.strategy].append(r)
    models = {s: s.partition("@")[2] for s in options}
    options = [s for s in options if f"{'nothink' if _mode_of(s) == 'think' else 'think'}"
               + (f"@{models[s]}" if models[s] else "") in by]
    if not options:
        return []
    costed = all(r.cost is not None for s in options for r in by[s])
    order = sorted(options, key=lambda s: _mean([r.cost if costed else r.think_tokens + r.answer_tokens  # type: ignore[misc]
                                                 for r in by[s]]))
    outcomes: dict[tuple, dict[str, Row]] = defaultdict(dict)
    for s in options:
        for r in by[s]:
            outcomes[(r.suite, r.item, r.sample)][s] = r
    out = []
    for got in outcomes.values():
        if len(got) < len(options):
            continue
        pick = next((got[s] for s in order if got[s].correct), got[order[0]])
        out.append(pick.model_copy(update={"strategy": "oracle", "decision": _mode_of(pick.strategy)}))
    return out


def _mode_of(strategy: str) -> str | None:
    """"think" / "nothink" for the think and nothink strategies (on any model: `think@mini`), else None."""
    base = strategy.partition("@")[0]
    return base if base in ("think", "nothink") else None


def frontier_points(rows: list[Row]) -> dict[str, tuple[float, float]]:
    """Per strategy over `over` + `under`: (mean thinking tokens, accuracy)."""
    by = _over_under(rows)
    return {s: (sum(r.think_tokens for r in rs) / len(rs), sum(r.correct for r in rs) / len(rs))
            for s, rs in by.items() if rs}


def cost_points(rows: list[Row]) -> dict[str, tuple[float, float]]:
    """Per strategy over `over` + `under`: (mean generation GFLOPs, accuracy), for strategies whose every row
    has a cost."""
    by = _over_under(rows)
    return {s: (sum(r.cost for r in rs) / len(rs), sum(r.correct for r in rs) / len(rs))  # type: ignore[misc]
            for s, rs in by.items() if rs and all(r.cost is not None for r in rs)}


def _over_under(rows: list[Row]) -> dict[str, list[Row]]:
    by: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.suite in ("over", "under"):
            by[r.strategy].append(r)
    return by


def pareto(points: dict[str, tuple[float, float]]) -> list[str]:
    """Strategies no other strategy beats on both cost (fewer tokens) and accuracy."""
    best, front = -1.0, []
    for name, (cost, acc) in sorted(points.items(), key=lambda kv: (kv[1][0], -kv[1][1])):
        if acc > best:
            front.append(name)
            best = acc
    return front
