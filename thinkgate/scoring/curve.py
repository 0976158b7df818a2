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
        _router_panel(ax, name, c, "think_rate", "think rate")
    save_figure(fig, path, title)


def _router_panel(ax, name: str, c: dict, x: str, xlabel: str) -> None:
    """One panel's routers (their curves against `x`, each with its chosen point), title, axes and legend."""
    for label, router in c.get("routers", {}).items():
        pts = sorted((p[x], p["accuracy"]) for p in router["curve"])
        line = ax.plot([a for a, _ in pts], [b for _, b in pts], "-", label=f"{label} (APGR {router.get('apgr', '-')})")
        if router.get("chosen"):
            ax.scatter([router["chosen"][x]], [router["chosen"]["accuracy"]], color=line[0].get_color(), zorder=3)
    ax.set_title(f"{name} (n={c['n']})", fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def save_figure(fig, path, title: str) -> None:
    import matplotlib.pyplot as plt

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
        elif r.score is not None and r.option is None:  # routing between models: bench_option_curves
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


# --- routing between models: options (model, level), weighed by cost ----------------------------------------

def pick_option(probs, order: list[int], threshold: float) -> tuple[int, bool]:
    """The cheapest option (of `order`, cheapest first) whose P(correct) clears the threshold, else the
    fallback, the likeliest (the cheaper of equals): (its index, whether it is the fallback)."""
    j = next((j for j in order if float(probs[j]) >= threshold), None)
    if j is not None:
        return j, False
    return max(order, key=lambda k: (float(probs[k]), -order.index(k))), True


def candidate_thresholds(probs: list[list[float]], most: int = 1000) -> list[float]:
    """The thresholds worth trying on these P(correct): 0, the midpoints between neighbouring distinct values,
    and above the highest; where there are more than `most`, `most` of them evenly spread by rank (they then
    differ by a few thousandths of a probability)."""
    values = sorted({round(float(p), 6) for row in probs for p in row})
    if not values:
        return [0.5]
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
    if len(cuts) > most:
        cuts = [cuts[round(i * (len(cuts) - 1) / (most - 1))] for i in range(most)]
    return cuts


def threshold_sweep(probs: list[list[float]], order: list[int]) -> list[tuple[float, list[int]]]:
    """(threshold, each item's option by `pick_option`) for every candidate threshold, computed for all items
    at once."""
    import torch

    if not probs:
        return []
    p = torch.tensor(probs, dtype=torch.float64)[:, order]
    idx = torch.tensor(order)
    likeliest = idx[p.argmax(1)]  # the first of equal maxima: the cheaper
    out = []
    for t in candidate_thresholds(probs):
        clears = p >= t
        first = idx[clears.to(torch.int8).argmax(1)]
        out.append((t, torch.where(clears.any(1), first, likeliest).tolist()))
    return out


def option_outcome(suites: list[str], correct: list[list[bool]], tokens: list[list[int]], cost: list[list[float]],
                   picks: list[int], names: list[str], thinking: list[bool]) -> dict:
    """`outcome` of one routing between options (`picks[i]`: item i's option), its think rate counting the
    thinking options, with its mean cost and the share of items each option took (options that took none
    left out)."""
    n = len(picks)
    out = outcome(suites, correct, tokens, picks)
    out["think_rate"] = round(sum(thinking[j] for j in picks) / n, 4) if n else 0.0
    out["cost_mean"] = round(sum(cost[i][picks[i]] for i in range(n)) / n, 6) if n else 0.0
    out["shares"] = {names[j]: round(picks.count(j) / n, 4) for j in sorted(set(picks))} if n else {}
    return out


def cost_apgr(suites, correct, tokens, cost, sweep: list[tuple[float, list[int]]], names: list[str],
              thinking: list[bool]) -> dict:
    """A router between options as its threshold sweeps (`sweep`: (threshold, each item's option)), against
    the per-query oracle (each item's cheapest correct option by its own cost; the cheapest option where none
    is correct), on cost rather than think rate (RouteLLM's APGR with cost on the x axis):

    - weak: the cheapest option by mean cost, for every item; strong: the most accurate (the cheaper of
      equals). A point's x is its mean cost as a share of the way from weak's cost to strong's; its PGR is
      (accuracy - weak's) / (strong's - weak's).
    - the oracle's curve: starting from weak everywhere, the items weak gets wrong and another option right,
      upgraded to their cheapest correct option in order of the cost that adds (which maximises the number
      right at every cost).
    - APGR: the mean PGR over x in [0, 1] (the best point at or below each x); cost_50 / cost_80: the least x
      that recovers half / 80% of the gap."""
    n, k = len(correct), len(names)
    mean_acc = [sum(correct[i][j] for i in range(n)) / n for j in range(k)]
    mean_cost = [sum(cost[i][j] for i in range(n)) / n for j in range(k)]
    weak = min(range(k), key=lambda j: (mean_cost[j], j))
    strong = max(range(k), key=lambda j: (mean_acc[j], -mean_cost[j]))
    oracle_pick = []
    for i in range(n):
        ok = [j for j in range(k) if correct[i][j]]
        oracle_pick.append(min(ok, key=lambda j: (cost[i][j], j)) if ok else weak)
    points = [{"threshold": round(t, 6), **option_outcome(suites, correct, tokens, cost, picks, names, thinking)}
              for t, picks in sweep]
    out = {"n": n, "options": {names[j]: {"accuracy": round(mean_acc[j], 4), "cost_mean": round(mean_cost[j], 6)}
                               for j in range(k)},
           "weak": names[weak], "strong": names[strong], "weak_accuracy": round(mean_acc[weak], 4),
           "strong_accuracy": round(mean_acc[strong], 4),
           "oracle": option_outcome(suites, correct, tokens, cost, oracle_pick, names, thinking), "curve": points}
    span, gap = mean_cost[strong] - mean_cost[weak], mean_acc[strong] - mean_acc[weak]
    if span <= 0 or gap <= 0:
        return out
    upgrades = sorted(max(0.0, cost[i][oracle_pick[i]] - cost[i][weak]) for i in range(n)
                      if not correct[i][weak] and correct[i][oracle_pick[i]])
    oracle_curve, spent = [(0.0, mean_acc[weak])], 0.0
    for m, extra in enumerate(upgrades, 1):
        spent += extra / n
        oracle_curve.append((spent / span, mean_acc[weak] + m / n))
    router_curve = [((p["cost_mean"] - mean_cost[weak]) / span, p["accuracy"]) for p in points]

    def pgr(curve):
        return [(interp(curve, r) - mean_acc[weak]) / gap if any(x <= r + 1e-9 for x, _ in curve) else 0.0
                for r in GRID]

    def cost_at(vals, frac):
        return next((r for r, v in zip(GRID, vals) if v >= frac - 1e-9), None)

    rp, op = pgr(router_curve), pgr(oracle_curve)
    out.update(apgr=round(sum(rp) / len(rp), 4), oracle_apgr=round(sum(op) / len(op), 4), cost_50=cost_at(rp, 0.5),
               cost_80=cost_at(rp, 0.8), oracle_cost_50=cost_at(op, 0.5), oracle_cost_80=cost_at(op, 0.8),
               oracle_curve=[(round(x, 4), round(a, 4)) for x, a in oracle_curve if x <= 1.0 + 1e-9],
               cost_span=[round(mean_cost[weak], 6), round(mean_cost[strong], 6)])
    return out


def thin_cost(points: list[dict], bins: int = 100) -> list[dict]:
    """At most one point per 1/`bins` of the cost range (the most accurate there), for files and plots."""
    if not points:
        return []
    lo, hi = min(p["cost_mean"] for p in points), max(p["cost_mean"] for p in points)
    best: dict[int, dict] = {}
    for p in points:
        b = round((p["cost_mean"] - lo) / (hi - lo) * bins) if hi > lo else 0
        if b not in best or p["accuracy"] > best[b]["accuracy"]:
            best[b] = p
    return [best[b] for b in sorted(best)]


def plot_cost(curves: dict[str, dict], path, title: str = "Accuracy vs cost") -> None:
    """Routing between options: one panel per item set, accuracy against mean cost (GFLOPs): each router's
    curve and chosen point, every option alone, and the per-query oracle's curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.8 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        c = curves[name]
        lo, hi = c.get("cost_span") or (None, None)
        if lo is not None and c.get("oracle_curve"):
            ax.plot([lo + x * (hi - lo) for x, _ in c["oracle_curve"]], [a for _, a in c["oracle_curve"]], "-",
                    color="#d62728", label="per-query oracle")
        for opt, f in c["options"].items():
            ax.scatter([f["cost_mean"]], [f["accuracy"]], marker="x", color="#555")
            ax.annotate(opt, (f["cost_mean"], f["accuracy"]), fontsize=6, xytext=(3, -8), textcoords="offset points")
        _router_panel(ax, name, c, "cost_mean", "mean cost (GFLOP)")
    save_figure(fig, path, title)


def bench_option_curves(rows) -> dict[str, dict]:
    """From bench rows: for every strategy that routed between models (rows with an `option` and P(correct)
    per option), its curve against cost as the threshold sweeps over the test items, against the per-query
    oracle (`cost_apgr`), per item set ("all", "over", "under", ...), with the share of queries each option
    took at the threshold it ran with. An option's outcomes are the rows of the strategy of that name
    (`think@mini`), or on the primary model the plain strategy (`think`, its rows' model the option's);
    items without every option's outcome are left out (the bench adds the options' rows with `oracle`).
    {strategy: {set: figures}}; empty when no rows routed between models."""
    from collections import defaultdict

    routed: dict[str, list] = defaultdict(list)
    plain: dict[tuple, dict] = defaultdict(dict)  # (strategy, model) -> {item key: row}
    for r in rows:
        key = (r.suite, r.item, r.sample)
        if r.option is not None and r.probs:
            routed[r.strategy].append(r)
        else:
            plain[(r.strategy, None)][key] = r
            if r.model is not None:
                plain[(r.strategy, r.model)][key] = r
    out: dict[str, dict] = {}
    for strategy, rs in routed.items():
        names = list(rs[0].probs)  # cheapest first
        outcome_rows = []
        for name in names:
            level, _, model = name.rpartition("@")
            outcome_rows.append(plain.get((name, None)) or plain.get((level, model)) or {})
        rs = [r for r in rs if list(r.probs) == names and all((r.suite, r.item, r.sample) in o for o in outcome_rows)]
        if not rs:
            continue
        thinking = [not n.startswith("nothink@") for n in names]
        order = list(range(len(names)))
        sets = {"all": rs} | {s: [r for r in rs if r.suite == s] for s in dict.fromkeys(r.suite for r in rs)}
        out[strategy] = {}
        for set_name, sub in sets.items():
            keys = [(r.suite, r.item, r.sample) for r in sub]
            probs = [[r.probs[n] for n in names] for r in sub]
            correct = [[o[k].correct for o in outcome_rows] for k in keys]
            tokens = [[o[k].think_tokens for o in outcome_rows] for k in keys]
            cost = [[o[k].cost if o[k].cost is not None else float(o[k].think_tokens + o[k].answer_tokens)
                     for o in outcome_rows] for k in keys]
            suites = [k[0] for k in keys]
            sweep = threshold_sweep(probs, order)
            figures = cost_apgr(suites, correct, tokens, cost, sweep, names, thinking)
            ran = [names.index(r.option) if r.option in names else 0 for r in sub]
            chosen = option_outcome(suites, correct, tokens, cost, ran, names, thinking)
            # what the rows themselves scored (the options' own reruns may differ where sampling does)
            chosen.update(accuracy=round(sum(r.correct for r in sub) / len(sub), 4),
                          cost_mean=round(sum(r.cost or 0.0 for r in sub) / len(sub), 6))
            figures["chosen"] = chosen
            figures["curve"] = thin_cost(figures["curve"])
            out[strategy][set_name] = figures
    return out
