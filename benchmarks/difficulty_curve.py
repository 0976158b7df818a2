"""Accuracy by difficulty level for every `under` family, think and nothink, on many items per level.

The fixed test split holds 12 items per (family, level): enough for the suite's accuracy, too few to tell
whether no-thinking accuracy really falls as difficulty rises (one item is 8 points). This draws `--per`
items per (family, level) from a namespace of their own ("curve"; never a test prompt) and scores them
through the same library call as the bench.

Usage: python benchmarks/difficulty_curve.py [--model PATH] [--per 60] [--per-nothink 300] [--families listsum,...]
       [--json runs/difficulty.json]
No-thinking answers are a few tokens, so they are scored on more items per level (`--per-nothink`) than
thinking (`--per`, the first items of each level). Prints one line per (family, level), then per family
whether nothink accuracy is non-increasing with difficulty, and where it is not, whether the rise is larger
than sampling noise (two standard errors of the difference); writes the figures as JSON (model_card.py
reads that file to print the table).
"""

import argparse
import json
import math
from pathlib import Path

from thinkgate.bench.runner import run_suite
from thinkgate.gate import Gate
from thinkgate.roster import load_backend
from thinkgate.tasks import draw_split, families, load_split
from thinkgate.types import Sampling


def first_per_level(items: list, k: int) -> list:
    """The first `k` items of each (family, level), in their order."""
    seen: dict[tuple[str, int], int] = {}
    out = []
    for it in items:
        seen[(it.family, it.difficulty)] = seen.get((it.family, it.difficulty), 0) + 1
        if seen[(it.family, it.difficulty)] <= k:
            out.append(it)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--per", type=int, default=60, help="items per (family, level) in thinking mode")
    ap.add_argument("--per-nothink", type=int, default=300, help="items per (family, level) in no-thinking mode")
    ap.add_argument("--json", default="runs/difficulty.json")
    ap.add_argument("--families", default="", help="comma-separated under families to score (default: all); "
                    "each (family, level) draws the same items either way")
    args = ap.parse_args()
    from thinkgate.process import keep_freed_memory

    keep_freed_memory()  # what the command line does for its process
    names = {t.name for t in families("under")}
    wanted = set(filter(None, args.families.split(","))) or names
    if wanted - names:
        raise SystemExit(f"--families: unknown under families {sorted(wanted - names)}; known: {sorted(names)}")

    cells = sum(t.levels for t in families("under"))
    test = {it.prompt for it in load_split("under")}
    items = draw_split("under", max(args.per, args.per_nothink) * cells, "curve", test, strict=False)
    items = [it for it in items if it.family in wanted]
    think_items, nothink_items = first_per_level(items, args.per), first_per_level(items, args.per_nothink)
    backend = load_backend(args.model)
    acc: dict[str, dict[tuple[str, int], list[bool]]] = {}
    tokens: dict[tuple[str, int], list[int]] = {}
    for strategy, batch in (("nothink", nothink_items), ("think", think_items)):
        rows = run_suite(Gate(backend, strategy), batch, Sampling(), model_key="curve")
        for r in rows:
            acc.setdefault(strategy, {}).setdefault((r.family, r.difficulty), []).append(r.correct)
            if strategy == "think":
                tokens.setdefault((r.family, r.difficulty), []).append(r.think_tokens)
    mean = lambda xs: round(sum(xs) / len(xs), 4)  # noqa: E731
    table = [{"family": f, "difficulty": d, "n": len(acc["think"][(f, d)]), "n_nothink": len(acc["nothink"][(f, d)]),
              "think": mean(acc["think"][(f, d)]), "nothink": mean(acc["nothink"][(f, d)]),
              "think_tokens": round(sum(tokens[(f, d)]) / len(tokens[(f, d)]), 1)}
             for f, d in sorted(acc["think"])]
    falls, rises = {}, []
    for fam in sorted({r["family"] for r in table}):
        levels = [r for r in table if r["family"] == fam]
        falls[fam] = all(b["nothink"] <= a["nothink"] for a, b in zip(levels, levels[1:]))
        for a, b in zip(levels, levels[1:]):
            if b["nothink"] > a["nothink"]:  # a rise: is it more than sampling noise?
                se = math.sqrt(a["nothink"] * (1 - a["nothink"]) / a["n_nothink"]
                               + b["nothink"] * (1 - b["nothink"]) / b["n_nothink"])
                rises.append({"family": fam, "from": a["difficulty"], "to": b["difficulty"],
                              "rise": round(b["nothink"] - a["nothink"], 4), "two_se": round(2 * se, 4),
                              "beyond_noise": b["nothink"] - a["nothink"] > 2 * se})
    for r in table:
        print(f"{r['family']:8} level {r['difficulty']}  n={r['n']:3}/{r['n_nothink']:3}  think {r['think']:.3f}  "
              f"nothink {r['nothink']:.3f}  think tokens {r['think_tokens']}")
    for fam, ok in falls.items():
        print(f"{fam}: nothink accuracy non-increasing with difficulty: {ok}")
    for r in rises:
        print(f"{r['family']}: nothink rises {r['rise']:.3f} from level {r['from']} to {r['to']} "
              f"(two standard errors {r['two_se']:.3f}: {'beyond' if r['beyond_noise'] else 'within'} noise)")
    out = {"model": backend.model_id, "per": args.per, "per_nothink": args.per_nothink,
           "table": table, "nothink_falls": falls, "nothink_rises": rises}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
