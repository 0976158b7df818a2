"""Accuracy by difficulty level for every `under` family, think and nothink, on many items per level.

The fixed test split holds 12 items per (family, level): enough for the suite's accuracy, too few to tell
whether no-thinking accuracy really falls as difficulty rises (one item is 8 points). This draws `--per`
items per (family, level) from a namespace of their own ("curve"; never a test prompt) and scores them
through the same library call as the bench.

Usage: python benchmarks/difficulty_curve.py [--model PATH] [--per 60] [--json runs/difficulty.json]
Prints one line per (family, level), then per family whether nothink accuracy is non-increasing with
difficulty, and writes the figures as JSON (model_card.py reads that file to print the table).
"""

import argparse
import json
from pathlib import Path

from thinkgate.bench.runner import run_suite
from thinkgate.gate import Gate, load_backend
from thinkgate.tasks import draw_split, families, load_split
from thinkgate.types import Sampling


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--per", type=int, default=60, help="items per (family, level)")
    ap.add_argument("--json", default="runs/difficulty.json")
    args = ap.parse_args()

    cells = sum(t.levels for t in families("under"))
    test = {it.prompt for it in load_split("under")}
    items = draw_split("under", args.per * cells, "curve", test, strict=False)
    backend = load_backend(args.model)
    acc: dict[str, dict[tuple[str, int], list[bool]]] = {}
    tokens: dict[tuple[str, int], list[int]] = {}
    for strategy in ("nothink", "think"):
        rows = run_suite(Gate(backend, strategy), items, Sampling(), model_key="curve")
        for r in rows:
            acc.setdefault(strategy, {}).setdefault((r.family, r.difficulty), []).append(r.correct)
            if strategy == "think":
                tokens.setdefault((r.family, r.difficulty), []).append(r.think_tokens)
    mean = lambda xs: round(sum(xs) / len(xs), 4)  # noqa: E731
    table = [{"family": f, "difficulty": d, "n": len(acc["think"][(f, d)]),
              "think": mean(acc["think"][(f, d)]), "nothink": mean(acc["nothink"][(f, d)]),
              "think_tokens": round(sum(tokens[(f, d)]) / len(tokens[(f, d)]), 1)}
             for f, d in sorted(acc["think"])]
    falls = {}
    for fam in sorted({r["family"] for r in table}):
        curve = [r["nothink"] for r in table if r["family"] == fam]
        falls[fam] = all(b <= a for a, b in zip(curve, curve[1:]))
    for r in table:
        print(f"{r['family']:8} level {r['difficulty']}  n={r['n']:3}  think {r['think']:.3f}  "
              f"nothink {r['nothink']:.3f}  think tokens {r['think_tokens']}")
    for fam, ok in falls.items():
        print(f"{fam}: nothink accuracy non-increasing with difficulty: {ok}")
    out = {"model": backend.model_id, "per": args.per,
           "table": table, "nothink_falls": falls}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
