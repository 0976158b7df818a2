"""Accuracy against think rate as a router's threshold sweeps, against the oracle's (RouteLLM's APGR).

Inputs are per item: its suite, whether each routing level was correct and how many thinking tokens it
wrote (`correct[i][j]`, `tokens[i][j]`, level 0 = no thinking, last = unbounded thinking), the router's
score (P(correct without thinking)) and the level it would use if it thinks.

- Router curve: for every threshold between two consecutive scores, the share of items that think, the
  accuracy, the mean thinking tokens, and (with both over and under items) F1_otb.
- Oracle curve: with a think rate r to spend, the oracle thinks first on the items that only thinking gets
  right, so its accuracy rises with slope 1 from no-thinking's until those run out, then stays flat.
- APGR: the mean over think rates in [0, 1] of (accuracy - nothink's) / (think's - nothink's), for the
  router and for the oracle; and the think rate each needs to recover 50% and 80% of that gap.
"""

from __future__ import annotations

from .metrics import DEFAULT_T_MAX, SUITE_T_MAX, f1

GRID = [i / 100 for i in range(101)]


def sweep(suites: list[str], correct: list[list[bool]], tokens: list[list[int]], scores: list[float],
          think_level: list[int]) -> list[dict]:
    """One point per distinct decision set, from thinking never to thinking always."""
    n = len(scores)
    uniq = sorted(set(scores))
    cuts = [uniq[0] - 0.01] + [(a + b) / 2 for a, b in zip(uniq, uniq[1:])] + [uniq[-1] + 0.01] if uniq else [0.5]
    points = []
    for t in cuts:
        level = [think_level[i] if scores[i] < t else 0 for i in range(n)]
        points.append({"threshold": round(t, 6), **outcome(suites, correct, tokens, level)})
    return points


def outcome(suites: list[str], correct: list[list[bool]], tokens: list[list[int]], level: list[int]) -> dict:
    """Accuracy, thinking tokens, think rate and (over + under present) F1_otb of one routing."""
    n = len(level)
    acc = sum(correct[i][level[i]] for i in range(n)) / n if n else 0.0
    out = {"think_rate": round(sum(lv > 0 for lv in level) / n, 4) if n else 0.0, "accuracy": round(acc, 4),
           "think_tokens_mean": round(sum(tokens[i][level[i]] for i in range(n)) / n, 2) if n else 0.0}
    over = [i for i in range(n) if suites[i] == "over"]
    under = [i for i in range(n) if suites[i] == "under"]
    if over and under:
        t_max = SUITE_T_MAX.get("over", DEFAULT_T_MAX)
        auc = sum(correct[i][level[i]] * max(0, t_max - tokens[i][level[i]]) / t_max for i in over) / len(over)
        acc_ut = sum(correct[i][level[i]] for i in under) / len(under)
        out.update(auc_oaa=round(auc, 4), acc_ut=round(acc_ut, 4), f1_otb=round(f1(auc, acc_ut), 4))
    return out


def thin(points: list[dict], step: float = 0.01) -> list[dict]:
    """At most one curve point per `step` of think rate (the best accuracy there), for files and plots."""
    best: dict[int, dict] = {}
    for p in points:
        k = round(p["think_rate"] / step)
        if k not in best or p["accuracy"] > best[k]["accuracy"]:
            best[k] = p
    return [best[k] for k in sorted(best)]


def oracle_level(correct: list[bool], tokens: list[int]) -> int:
    """The cheapest correct level (fewest thinking tokens); level 0 when none is correct."""
    ok = [j for j in range(len(correct)) if correct[j]]
    return min(ok, key=lambda j: (tokens[j], j)) if ok else 0


def interp(points: list[tuple[float, float]], x: float) -> float:
    """Accuracy at think rate x on a curve, by the best point at or below x (a router can always think
    less than it may)."""
    best = None
    for px, py in points:
        if px <= x + 1e-9 and (best is None or py > best):
            best = py
    return best if best is not None else points[0][1]


def apgr(suites, correct, tokens, scores, think_level) -> dict:
    """Router and oracle curves over the items given, and their APGR figures."""
    n = len(scores)
    last = len(correct[0]) - 1 if correct else 0
    acc_no = sum(c[0] for c in correct) / n
    acc_think = sum(c[last] for c in correct) / n
    points = sweep(suites, correct, tokens, scores, think_level)
    gain = sum(1 for c in correct if c[last] and not c[0]) / n
    oracle_curve = [(r, acc_no + min(r, gain)) for r in GRID]
    router_curve = sorted((p["think_rate"], p["accuracy"]) for p in points)
    oracle = outcome(suites, correct, tokens, [oracle_level(c, t) for c, t in zip(correct, tokens)])
    out = {"n": n, "nothink_accuracy": round(acc_no, 4), "think_accuracy": round(acc_think, 4), "oracle": oracle,
           "curve": points, "oracle_curve": [(r, round(a, 4)) for r, a in oracle_curve]}
    gap = acc_think - acc_no
    if gap > 0:
        def pgr(curve):
            return [(interp(curve, r) - acc_no) / gap for r in GRID]

        def cost_at(vals, frac):
            return next((r for r, v in zip(GRID, vals) if v >= frac - 1e-9), None)

        rp, op = pgr(router_curve), pgr(oracle_curve)
        out.update(apgr=round(sum(rp) / len(rp), 4), oracle_apgr=round(sum(op) / len(op), 4),
                   cost_50=cost_at(rp, 0.5), cost_80=cost_at(rp, 0.8),
                   oracle_cost_50=cost_at(op, 0.5), oracle_cost_80=cost_at(op, 0.8))
    return out


def plot(curves: dict[str, dict], path, title: str = "Accuracy vs think rate") -> None:
    """One panel per item set ("all", "over", "under", ...): each router's curve, the oracle's curve, the
    random-routing line, and each router's chosen point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        c = curves[name]
        ax.plot([r for r, _ in c["oracle_curve"]], [a for _, a in c["oracle_curve"]], "-", color="#d62728",
                label="oracle")
        ax.plot([0, 1], [c["nothink_accuracy"], c["think_accuracy"]], ":", color="#777", label="random")
        for label, router in c.get("routers", {}).items():
            pts = sorted((p["think_rate"], p["accuracy"]) for p in router["curve"])
            line = ax.plot([x for x, _ in pts], [y for _, y in pts], "-", label=f"{label} (APGR {router.get('apgr', '-')})")
            if router.get("chosen"):
                ch = router["chosen"]
                ax.scatter([ch["think_rate"]], [ch["accuracy"]], color=line[0].get_color(), zorder=3)
        ax.set_title(f"{name} (n={c['n']})", fontsize=10)
        ax.set_xlabel("think rate")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_curves(rows) -> dict:
    """From bench rows: for every strategy whose rows carry a router score, the accuracy-vs-think-rate
    curve its score gives on the test items (thresholds swept over think / nothink outcomes), against the
    oracle's; keyed by item set ("all", "over", "under", ...). Empty when no rows carry scores."""
    from collections import defaultdict

    outcomes: dict[tuple, dict[str, object]] = defaultdict(dict)
    routed = []
    for r in rows:
        key = (r.suite, r.item, r.sample)
        if r.strategy in ("think", "nothink"):
            outcomes[key][r.strategy] = r
        elif r.score is not None:
            outcomes[key][r.strategy] = r
            if r.strategy not in routed:
                routed.append(r.strategy)
    curves: dict[str, dict] = {}
    for strategy in routed:
        keys = [k for k, v in outcomes.items() if {"think", "nothink", strategy} <= set(v)]
        if not keys:
            continue
        sets = {"all": keys} | {s: [k for k in keys if k[0] == s] for s in dict.fromkeys(k[0] for k in keys)}
        for name, ks in sets.items():
            suites = [k[0] for k in ks]
            correct = [[outcomes[k]["nothink"].correct, outcomes[k]["think"].correct] for k in ks]
            tokens = [[outcomes[k]["nothink"].think_tokens, outcomes[k]["think"].think_tokens] for k in ks]
            scores = [outcomes[k][strategy].score for k in ks]
            sub = apgr(suites, correct, tokens, scores, [1] * len(ks))
            base = curves.setdefault(name, {k: v for k, v in sub.items() if k not in ("curve", "apgr")} | {"routers": {}})
            ran = [outcomes[k][strategy] for k in ks]
            chosen = {"think_rate": round(sum(r.thinks for r in ran) / len(ran), 4),
                      "accuracy": round(sum(r.correct for r in ran) / len(ran), 4)}
            base["routers"][strategy] = {"curve": thin(sub["curve"]), "apgr": sub.get("apgr"), "chosen": chosen,
                                         **{k: sub.get(k) for k in ("oracle_apgr", "cost_50", "cost_80",
                                                                    "oracle_cost_50", "oracle_cost_80")}}
    return curves


def curves_summary(curves: dict) -> list[dict]:
    """One table row per (strategy, item set): APGR and the think rate at 50% / 80% of the gap."""
    out = []
    for name, c in curves.items():
        for strategy, r in c["routers"].items():
            out.append({"strategy": strategy, "set": name, "n": c["n"], "apgr": r.get("apgr"),
                        "oracle_apgr": r.get("oracle_apgr"), "cost_50": r.get("cost_50"), "cost_80": r.get("cost_80"),
                        "oracle_cost_50": r.get("oracle_cost_50"), "oracle_cost_80": r.get("oracle_cost_80"),
                        "think_rate": r["chosen"]["think_rate"], "accuracy": r["chosen"]["accuracy"]})
    return out
