"""`thinkgate bench --report DIR`: one HTML page with PNG plots.

- frontier.png: accuracy (over + under) against mean thinking tokens, one point per strategy, the
  Pareto frontier drawn through the best trade-offs and the oracle marked; beside it, accuracy against the
  mean generation cost (GFLOPs: each model's tokens weighted by its parameters);
- difficulty.png: accuracy by difficulty for each family of the `under` suite, one line per strategy;
- thinking_hist.png: histograms of thinking tokens per strategy;
- budget.png (when several `budget` rows with a `max` ran): `under` accuracy against the maximum budget;
- routing.png (when a routed strategy such as `route` ran beside think and nothink): accuracy against think
  rate as the router's threshold sweeps over the test items, against the oracle's curve (APGR);
- routing_models.png (when `route` routed between models and every option's rows ran, as `oracle` adds
  them): accuracy against mean cost as the threshold sweeps, every option alone, and the per-query oracle's
  curve; the table beside it gives APGR on cost and the share of queries each option took;
- reliability.png: the share right against the answer's confidence (`Result.confidence`), a panel per
  strategy, with ECE, Brier score and AUROC (`scoring.calibration`); reliability_router_K.png (with rows
  routed between models): the same for the chosen option's predicted P(correct), per item set.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

from ..scoring.metrics import Row, cost_points, frontier_points, pareto
from . import tables


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_frontier(rows: list[Row], path: Path) -> None:
    """Accuracy against mean thinking tokens and, where every row of a strategy has one, against its mean
    generation cost (GFLOPs, `thinkgate.roster`): a second panel, the one to read for two-model strategies."""
    plt = _plt()
    panels = [(frontier_points(rows), "mean thinking tokens per item (over + under)", "Accuracy vs thinking tokens")]
    costs = cost_points(rows)
    if costs:
        panels.append((costs, "mean generation GFLOPs per item (2 x parameters x tokens written)",
                       "Accuracy vs cost"))
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for ax, (pts, xlabel, title) in zip(axes[0], panels):
        front = pareto(pts)
        ax.plot([pts[s][0] for s in front], [pts[s][1] for s in front], "-", color="#999", zorder=1, label="frontier")
        labels: dict[tuple[float, float], list[str]] = defaultdict(list)  # strategies that land on one point
        for name, (x, y) in pts.items():
            oracle = name == "oracle"
            ax.scatter([x], [y], s=90 if oracle else 40, marker="*" if oracle else "o", zorder=2,
                       color="#d62728" if oracle else "#1f77b4")
            labels[(round(x, 4), round(y, 3))].append(name)
        for (x, y), names in labels.items():
            ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("accuracy (over + under)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_difficulty(rows: list[Row], path: Path, suite: str = "under") -> None:
    plt = _plt()
    fams = sorted({r.family for r in rows if r.suite == suite})
    if not fams:
        return
    cols = min(3, len(fams))
    nrows = (len(fams) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    for ax, fam in zip(axes.flat, fams):
        for s in strategies:
            acc: dict[int, list[bool]] = defaultdict(list)
            for r in rows:
                if r.family == fam and r.strategy == s:
                    acc[r.difficulty].append(r.correct)
            if acc:
                xs = sorted(acc)
                ax.plot(xs, [sum(acc[x]) / len(acc[x]) for x in xs], "o-", label=s, markersize=3)
        ax.set_title(fam, fontsize=10)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("difficulty")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(fams):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("accuracy")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Accuracy by difficulty ({suite})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_histograms(rows: list[Row], path: Path) -> None:
    plt = _plt()
    strategies = [s for s in dict.fromkeys(r.strategy for r in rows)]
    fig, axes = plt.subplots(len(strategies), 1, figsize=(7, 1.6 * len(strategies) + 0.6), squeeze=False, sharex=True)
    top = max((r.think_tokens for r in rows), default=1) or 1
    bins = list(range(0, top + top // 40 + 2, max(1, top // 40)))
    for ax, s in zip(axes.flat, strategies):
        ax.hist([r.think_tokens for r in rows if r.strategy == s], bins=bins, color="#1f77b4")
        ax.set_ylabel(s, rotation=0, ha="right", fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[-1].set_xlabel("thinking tokens per item")
    fig.suptitle("Thinking tokens per strategy")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def budget_curve(rows: list[Row]) -> list[tuple[int, float]]:
    """(max budget, under accuracy) for every budget row with a `max`, sorted by budget."""
    acc: dict[int, list[bool]] = defaultdict(list)
    for r in rows:
        m = re.match(r"budget:.*\bmax=(\d+)", r.strategy)
        if m and r.suite == "under":
            acc[int(m.group(1))].append(r.correct)
    return sorted((b, sum(v) / len(v)) for b, v in acc.items())


def plot_budget(rows: list[Row], path: Path) -> bool:
    curve = budget_curve(rows)
    if len(curve) < 2:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot([b for b, _ in curve], [a for _, a in curve], "o-")
    ax.set_xlabel("maximum thinking budget (tokens)")
    ax.set_ylabel("accuracy on under")
    ax.set_title("Budget forcing: accuracy vs maximum budget")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(out: dict, rows: list[Row], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    plot_frontier(rows, folder / "frontier.png")
    plot_difficulty(rows, folder / "difficulty.png")
    plot_histograms(rows, folder / "thinking_hist.png")
    has_budget = plot_budget(rows, folder / "budget.png")
    imgs = ["frontier.png", "difficulty.png", "thinking_hist.png"] + (["budget.png"] if has_budget else [])
    routing = ""
    from ..scoring.curve import bench_curves, curves_summary, plot as plot_routing, plot_cost

    curves = bench_curves(rows)
    if curves:
        plot_routing(curves, folder / "routing.png", "Routing on the test items: accuracy vs think rate")
        imgs.append("routing.png")
        routing = tables.ROUTING.html(curves_summary(curves))
    between = out.get("routing_models_curves") or {}
    for k, (strategy, sets) in enumerate(between.items()):
        panels = {name: c | {"routers": {strategy: {"curve": c["curve"], "apgr": c.get("apgr"), "chosen": c["chosen"]}}}
                  for name, c in sets.items()}
        name = "routing_models.png" if k == 0 else f"routing_models_{k}.png"
        plot_cost(panels, folder / name, f"{strategy} on the test items: accuracy vs cost")
        imgs.append(name)
    if between:
        routing += tables.OPTIONS.html(out["routing_models"]) + tables.SHARES.html(tables.share_rows(out["routing_models"]))
    if out.get("calibration"):
        from ..scoring.calibration import plot_reliability
        from .runner import CONFIDENCE, ROUTER_P

        cal = out["calibration"]
        confident = {c["strategy"]: c for c in cal if c["of"] == CONFIDENCE and c["set"] == "all"}
        if confident:  # every strategy's answer confidence over all its items, a panel each
            plot_reliability(confident, folder / "reliability.png", "The answer's confidence on the test items")
            imgs.append("reliability.png")
        for k, strategy in enumerate(dict.fromkeys(c["strategy"] for c in cal if c["of"] == ROUTER_P)):
            name = f"reliability_router_{k}.png"
            plot_reliability({c["set"]: c for c in cal if c["strategy"] == strategy and c["of"] == ROUTER_P},
                             folder / name, f"{strategy}: the chosen option's P(correct) on the test items")
            imgs.append(name)
        routing += tables.CALIBRATION_TEST.html(cal)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>thinkgate bench</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
img{{max-width:100%;margin:1em 0;border:1px solid #eee}}</style></head><body>
<h1>thinkgate bench</h1><p>model: <code>{html.escape(out['model'])}</code> · wall time {out.get('wall_s', '?')} s{'' if out.get('thinking_mode', True) else ' · <b>no thinking mode</b>: every strategy answered without thinking'}</p>
{tables.OTB.html(out.get('summary', []))}
{tables.PER_SUITE.html(out['results'])}
{routing}
{''.join(f'<img src="{i}" alt="{i}">' for i in imgs)}
</body></html>"""
    path = folder / "index.html"
    path.write_text(page)
    return path
