"""The two-model strategies' figures on the embedded pair (issue #36's bars), from two bench runs on the fixed
test splits: the small model alone (`--model mini`: think, nothink) and the pair (`tiny` the primary and
large model, `mini` the small one: think, nothink and the two-model strategies).

- gap closed: (strategy's accuracy - the small model thinking) / (the large model thinking - the small model
  thinking), on `under`; bar >= 0.5 for speculative or specreason;
- large share of thinking: tokens the large model wrote / the thinking tokens of the row (the large model
  writes only thought in speculative and specreason), over `under`; bar <= 0.4;
- foreal: accuracy / the leader's (tiny thinking) on `under`, bar >= 0.9; cost (generation GFLOPs) / the
  leader's, bar <= 0.6;
- routing between the two (`--route`, default `route:models=LARGE;SMALL`, the router shipped in the large
  model's `router/`), from a third run with `oracle` (which adds every option's rows): per suite, accuracy
  >= the large model thinking's - 0.01; the share of over + under queries the large model answered
  thinking (its think and budget options) <= 0.6; APGR on cost against the pair's per-query oracle.

Rows are cached in the bench's cache (`--cache`), so a second run only reads them.

    python benchmarks/pair_bars.py
    python benchmarks/pair_bars.py --strategies specreason:threshold=6,foreal:p=0.75,lead=8 --suites under

Prints a table, then a last line of JSON with every figure and the bars.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(args: list[str], cache: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b.json"
        cmd = [sys.executable, "-m", "thinkgate", "bench", *args, "--cache", cache, "--json", str(out)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default="speculative,specreason,foreal")
    ap.add_argument("--suites", default="under,over")
    ap.add_argument("--small", default="mini")
    ap.add_argument("--large", default="tiny")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--route", default="route:models={large};{small}",
                    help="routing strategies between the pair ({large} and {small} are filled in); '' for none")
    ap.add_argument("--cache", default=".thinkgate/bench-cache.jsonl")
    a = ap.parse_args()
    limit = ["--limit", str(a.limit)] if a.limit else []
    alone = bench(["--model", a.small, "--strategies", "think,nothink", "--suites", a.suites, *limit], a.cache)
    pair = bench(["--model", a.large, "--model", a.small, "--strategies", "think,nothink," + a.strategies,
                  "--suites", a.suites, *limit], a.cache)

    def table(data: dict) -> dict:
        return {(r["strategy"], r["suite"]): r for r in data["results"]}

    small, both = table(alone), table(pair)
    rows = {(r["strategy"], r["suite"]): [] for r in pair["rows"]}
    for r in pair["rows"]:
        rows[(r["strategy"], r["suite"])].append(r)
    suite = "under"
    small_acc, large_acc = small[("think", suite)]["accuracy"], both[("think", suite)]["accuracy"]
    large_cost = both[("think", suite)]["cost_mean"]
    figures: dict = {"small_think": small_acc, "small_nothink": small[("nothink", suite)]["accuracy"],
                     "large_think": large_acc, "large_nothink": both[("nothink", suite)]["accuracy"],
                     "large_cost_gflop": large_cost, "strategies": {}}
    print(f"{'strategy':28} {'acc':>6} {'gap closed':>10} {'large share':>11} {'cost':>8} {'cost/leader':>11}")
    print(f"{a.small + ' think':28} {small_acc:6.3f}")
    print(f"{a.large + ' think':28} {large_acc:6.3f} {'':>10} {'':>11} {large_cost:8.4f}")
    bars = {}
    from thinkgate.strategies import parse_strategy, split_specs

    for spec in (parse_strategy(x).spec for x in split_specs(a.strategies)):  # as the bench names its rows
        r = both.get((spec, suite))
        if r is None:
            continue
        think = sum(x["think_tokens"] for x in rows[(spec, suite)])
        large_written = sum((x["by_model"] or {}).get(a.large, 0) for x in rows[(spec, suite)])
        gap = (r["accuracy"] - small_acc) / (large_acc - small_acc) if large_acc != small_acc else None
        share = large_written / think if think else None
        f = {"accuracy": r["accuracy"], "gap_closed": None if gap is None else round(gap, 4),
             "large_share_of_thinking": None if share is None else round(share, 4), "cost_gflop": r["cost_mean"],
             "cost_vs_leader": round(r["cost_mean"] / large_cost, 4), "accuracy_vs_leader": round(r["accuracy"] / large_acc, 4),
             "tokens_by_model": r.get("tokens_by_model"), "think_tokens_mean": r["think_tokens_mean"]}
        figures["strategies"][spec] = f
        name = spec.split(":")[0]
        if name in ("speculative", "specreason"):
            bars[f"{spec}: gap_closed>=0.5 and large_share<=0.4"] = bool(gap is not None and gap >= 0.5
                                                                         and share is not None and share <= 0.4)
        if name == "foreal":
            bars[f"{spec}: accuracy>=0.9 leader's and cost<=0.6 leader's"] = bool(
                f["accuracy_vs_leader"] >= 0.9 and f["cost_vs_leader"] <= 0.6)
        print(f"{spec:28} {r['accuracy']:6.3f} {f['gap_closed'] if gap is not None else '-':>10} "
              f"{f['large_share_of_thinking'] if share is not None else '-':>11} {r['cost_mean']:8.4f} "
              f"{f['cost_vs_leader']:11.3f}")
    route_specs = split_specs(a.route.format(large=a.large, small=a.small)) if a.route else []
    if route_specs:
        routed = bench(["--model", a.large, "--model", a.small, "--strategies", ",".join(route_specs) + ",oracle",
                        "--suites", "over,under", *limit], a.cache)
        res = table(routed)
        figures["routing"] = {}
        print(f"\n{'routing':34} {'suite':6} {'acc':>6} {'large think':>11} {'large thinking share':>20} {'APGR':>6}")
        for spec in route_specs:
            shares = {r["set"]: r for r in routed.get("routing_models", []) if r["router"] == spec}
            thinking = lambda sh: sum(v for k, v in sh.items()  # noqa: E731
                                      if k.endswith("@" + a.large) and not k.startswith("nothink@"))
            f = {"share_large_thinking": round(thinking(shares["all"]["shares"]), 4) if "all" in shares else None,
                 "apgr": shares.get("all", {}).get("apgr"), "oracle_apgr": shares.get("all", {}).get("oracle_apgr"),
                 "cost_gflop": shares.get("all", {}).get("cost_mean"),
                 "oracle_cost_gflop": shares.get("all", {}).get("oracle_cost_mean"),
                 "shares": shares.get("all", {}).get("shares"), "suites": {}}
            ok = f["share_large_thinking"] is not None and f["share_large_thinking"] <= 0.6
            for suite in ("over", "under"):
                acc, ref = res[(spec, suite)]["accuracy"], res[("think", suite)]["accuracy"]
                f["suites"][suite] = {"accuracy": acc, "large_think": ref, "apgr": shares.get(suite, {}).get("apgr"),
                                      "share_large_thinking": round(thinking(shares[suite]["shares"]), 4)
                                      if suite in shares else None}
                ok = ok and acc >= ref - 0.01 - 1e-9
                print(f"{spec:34} {suite:6} {acc:6.3f} {ref:11.3f} "
                      f"{f['suites'][suite]['share_large_thinking'] or 0:20.3f} {f['suites'][suite]['apgr'] or 0:6.3f}")
            print(f"{spec:34} {'all':6} {'':>6} {'':>11} {f['share_large_thinking'] or 0:20.3f} {f['apgr'] or 0:6.3f}"
                  f"  (oracle APGR {f['oracle_apgr']}, cost {f['cost_gflop']} GFLOP, oracle's {f['oracle_cost_gflop']})")
            figures["routing"][spec] = f
            bars[f"{spec}: each suite >= large think - 0.01 and large thinking share <= 0.6"] = bool(ok)
    figures["bars"] = bars
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
