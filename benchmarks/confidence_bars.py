"""The confidence figures on the embedded model (issue #37's bars), from bench runs on the fixed test splits.

- cascade: on over + under, `think`, `nothink`, `route` and the cascade (`--cascade`, default `cascade`, the
  shipped threshold) in one run; per suite, the cascade's accuracy against the better mode's less 0.01, and
  its thinking tokens per query against `route`'s and against the per-query oracle's (the cheaper correct of
  think / nothink);
- deepconf: on `under`, `parallel:mode=think` and `deepconf` (online) at the same N (`--n`, 16) and the same
  temperature; accuracy (bar: >= parallel's) and tokens written per query, every trace's (bar: >= 40%
  fewer);
- calibration: ECE (10 equal-width bins), Brier and AUROC of the answer's confidence for every strategy of
  those runs, over all their items, and whether thinking calibrates it better than not thinking.

Rows are cached in the bench's cache (`--cache`), so a second run only reads them.

    python benchmarks/confidence_bars.py
    python benchmarks/confidence_bars.py --n 8 --limit 100

Prints a table, then a last line of JSON with every figure and the bars.
"""

from __future__ import annotations

import argparse
import json

from pair_bars import bench  # a bench run's JSON, through the command line, with a cache


def by(data: dict) -> dict[tuple[str, str], dict]:
    return {(r["strategy"], r["suite"]): r for r in data["results"]}


def written(row: dict) -> float:
    """Tokens written per query, every sample's (the bench's tokens by model, one model here)."""
    return round(sum(row["tokens_by_model"].values()), 1)


def oracle_tokens(data: dict) -> float:
    """Thinking tokens per query of the per-query oracle: no thinking where it is right, else thinking."""
    rows: dict = {}
    for r in data["rows"]:
        rows.setdefault((r["suite"], r["item"]), {})[r["strategy"]] = r
    pick = [(v["nothink"] if v["nothink"]["correct"] or not v["think"]["correct"] else v["think"])
            for v in rows.values() if "think" in v and "nothink" in v]
    return sum(r["think_tokens"] for r in pick) / len(pick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cascade", default="cascade")
    ap.add_argument("--route", default="route")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--deepconf", default="deepconf", help="its n and temperature are set from --n, --temperature")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--cache", default=".thinkgate/bench-cache.jsonl")
    a = ap.parse_args()
    limit = ["--limit", str(a.limit)] if a.limit else []
    first = bench(["--strategies", f"think,nothink,{a.route},{a.cascade}", "--suites", "over,under", *limit], a.cache)
    res = by(first)
    cascade = {}
    for suite in ("over", "under"):
        best = max(res[("think", suite)]["accuracy"], res[("nothink", suite)]["accuracy"])
        got = res[(a.cascade, suite)]["accuracy"]
        cascade[suite] = {"accuracy": got, "better_mode": best, "within_a_point": got >= best - 0.01 - 1e-9,
                          "think_rate": res[(a.cascade, suite)]["think_rate"]}
    mean = lambda s: sum(res[(s, q)]["think_tokens_mean"] for q in ("over", "under")) / 2  # noqa: E731 (equal suites)
    oracle = oracle_tokens(first)
    cascade.update(think_tokens=round(mean(a.cascade), 2), route_think_tokens=round(mean(a.route), 2),
                   oracle_think_tokens=round(oracle, 2), x_oracle=round(mean(a.cascade) / oracle, 3),
                   route_x_oracle=round(mean(a.route) / oracle, 3),
                   fewer_than_route=mean(a.cascade) < mean(a.route))
    from thinkgate.strategies import parse_strategy

    canonical = lambda spec: parse_strategy(spec).spec  # noqa: E731 - as the bench names its rows
    par = canonical(f"parallel:mode=think,n={a.n},temperature={a.temperature}")
    deep = canonical(f"{a.deepconf}{',' if ':' in a.deepconf else ':'}n={a.n},temperature={a.temperature}")
    second = bench(["--strategies", f"{par},{deep}", "--suites", "under", *limit], a.cache)
    r2 = by(second)
    p, d = r2[(par, "under")], r2[(deep, "under")]
    deepconf = {"parallel": {"accuracy": p["accuracy"], "tokens": written(p)},
                "deepconf": {"accuracy": d["accuracy"], "tokens": written(d)},
                "token_saving": round(1 - written(d) / written(p), 4)}
    deepconf.update(accuracy_bar=d["accuracy"] >= p["accuracy"], saving_bar=deepconf["token_saving"] >= 0.40)
    calibration = {c["strategy"]: {k: c[k] for k in ("n", "ece", "brier", "auroc")}
                   for data in (first, second) for c in data.get("calibration", [])
                   if c["set"] == "all" and c["of"] == "the answer's confidence"}
    think, nothink = calibration.get("think"), calibration.get("nothink")
    thinking_calibrates = None if not (think and nothink) else {
        "ece": think["ece"] < nothink["ece"], "brier": think["brier"] < nothink["brier"],
        "auroc": (think["auroc"] or 0) > (nothink["auroc"] or 0)}
    print(f"{'strategy':40} {'ECE':>6} {'Brier':>6} {'AUROC':>6}")
    for s, c in calibration.items():
        print(f"{s:40} {c['ece']:6.3f} {c['brier']:6.3f} {c['auroc'] if c['auroc'] is None else round(c['auroc'], 3)!s:>6}")
    print(f"cascade: {cascade}")
    print(f"deepconf: {deepconf}")
    print(json.dumps({"cascade": cascade, "deepconf": deepconf, "calibration": calibration,
                      "thinking_calibrates_better": thinking_calibrates}))


if __name__ == "__main__":
    main()
