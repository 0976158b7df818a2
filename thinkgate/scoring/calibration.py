"""How well a predicted probability of being right is calibrated, against what happened.

`reliability(p, y)` over items with a predicted P(correct) `p[i]` in [0, 1] and an outcome `y[i]`:

- Brier score: the mean of (p - y)^2 (0 is perfect; always saying 0.5 scores 0.25);
- ECE (expected calibration error): items binned by p into `bins` equal-width bins on [0, 1] (p = 1 in the
  last), and the mean over bins, weighted by their share of items, of |mean p - share right|;
- AUROC: the probability that a right item has a higher p than a wrong one (ties count half), which says
  how well p ranks, whatever its scale; None where every item is right or every one wrong;
- the bins themselves (for a reliability diagram): range, items, mean p, share right.

Written by hand (a few lines, no scikit-learn dependency); AUROC by the rank-sum (Mann-Whitney) statistic
with ties given their mean rank.
"""

from __future__ import annotations


def reliability(p: list[float], y: list[bool], bins: int = 10) -> dict:
    n = len(p)
    if n == 0:
        return {"n": 0, "brier": None, "ece": None, "auroc": None, "bins": []}
    brier = sum((a - float(b)) ** 2 for a, b in zip(p, y)) / n
    groups: list[list[int]] = [[] for _ in range(bins)]
    for i, a in enumerate(p):
        groups[min(int(a * bins), bins - 1)].append(i)
    table, ece = [], 0.0
    for k, idx in enumerate(groups):
        if not idx:
            continue
        mean_p = sum(p[i] for i in idx) / len(idx)
        right = sum(bool(y[i]) for i in idx) / len(idx)
        ece += len(idx) / n * abs(mean_p - right)
        table.append({"lo": round(k / bins, 4), "hi": round((k + 1) / bins, 4), "n": len(idx),
                      "mean_p": round(mean_p, 4), "accuracy": round(right, 4)})
    return {"n": n, "brier": round(brier, 4), "ece": round(ece, 4), "auroc": auroc(p, y), "bins": table}


def auroc(p: list[float], y: list[bool]) -> float | None:
    """P(a right item's p > a wrong item's p), ties half: the rank-sum statistic; None without both kinds."""
    pos = sum(bool(v) for v in y)
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    order = sorted(range(len(p)), key=lambda i: p[i])
    ranks = [0.0] * len(p)
    i = 0
    while i < len(order):  # equal values share their mean rank (1-based)
        j = i
        while j + 1 < len(order) and p[order[j + 1]] == p[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, v in zip(ranks, y) if v)
    return round((rank_sum - pos * (pos + 1) / 2) / (pos * neg), 4)


def plot_reliability(panels: dict[str, dict], path, title: str = "Reliability") -> None:
    """One reliability diagram per panel ({name: reliability(...)}): share right against mean predicted P per
    bin (marker size by items), against the diagonal of perfect calibration; four panels to a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .curve import save_figure

    names = list(panels)
    cols = min(4, len(names))
    lines = -(-len(names) // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(3.8 * cols, 3.8 * lines), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        r = panels[name]
        ax.plot([0, 1], [0, 1], ":", color="#777")
        xs = [b["mean_p"] for b in r["bins"]]
        ax.plot(xs, [b["accuracy"] for b in r["bins"]], "-", color="#1f77b4")
        ax.scatter(xs, [b["accuracy"] for b in r["bins"]], s=[10 + 200 * b["n"] / max(1, r["n"]) for b in r["bins"]],
                   color="#1f77b4", zorder=3)
        ax.set_title(f"{name}\nECE {r['ece']} · Brier {r['brier']} · AUROC {r['auroc']}", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("predicted P(correct)")
        ax.set_ylabel("share right")
        ax.grid(alpha=0.3)
    save_figure(fig, path, title)
