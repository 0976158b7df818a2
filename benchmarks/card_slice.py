"""A shipped model's figures on a fixed slice of the test splits, kept in its folder (`card.json`) so that a
test can run the slice again and fail when a change moves them.

The full-split figures of a model card take minutes; the slice — every 10th item of each suite, greedy, the
bench's own settings and library call — takes seconds per strategy, and moves whenever the full figures
would (a retrained model, another tokenizer, a change in how thinking is counted or forced).

    python benchmarks/card_slice.py tiny --strategies think,nothink --suites over,under,mip
    python benchmarks/card_slice.py tiny-auto --strategies self,think,nothink --suites over,under

writes `thinkgate/models/<model>/card.json` (`slice`) and prints its rows, then a JSON last line.
`--full BENCH_JSON` also records the full-split rows of the bench run the card's README reports (`full`).
`tests/test_model_cards.py` runs the same slice and compares, and checks the README's table against `full`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EVERY = 10  # the slice: items 0, 10, 20, ... of each suite's fixed test split
FIGURES = ("accuracy", "think_tokens_mean", "answer_tokens_mean", "think_rate")


def slice_rows(model: str, strategies: list[str], suites: list[str], every: int = EVERY) -> list[dict]:
    """The bench's result rows (strategy, suite, n and `FIGURES`) on every `every`-th item of each suite."""
    from thinkgate.bench.runner import run_suite
    from thinkgate.gate import Gate
    from thinkgate.roster import load_backend
    from thinkgate.scoring.metrics import results_table
    from thinkgate.tasks import load_split
    from thinkgate.types import Sampling

    backend = load_backend(model)
    sampling = Sampling(max_tokens=768)  # the bench's default: greedy, 768 tokens
    rows = []
    for spec in strategies:
        gate = Gate(backend, spec)
        for suite in suites:
            rows += run_suite(gate, load_split(suite)[::every], sampling, model_key=model)
    return [{k: r[k] for k in ("strategy", "suite", "n", *FIGURES)} for r in results_table(rows)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--strategies", default="think,nothink")
    ap.add_argument("--suites", default="over,under")
    ap.add_argument("--full", type=Path, default=None, help="the bench JSON the card's README reports")
    args = ap.parse_args()
    from thinkgate.roster import resolve_model
    from thinkgate.process import keep_freed_memory

    keep_freed_memory()  # what the command line does for its process
    folder = resolve_model(args.model)
    rows = slice_rows(args.model, args.strategies.split(","), args.suites.split(","))
    card = folder / "card.json"
    data = json.loads(card.read_text()) if card.exists() else {}
    data["slice"] = {"every": EVERY, "max_tokens": 768, "command": f"python benchmarks/card_slice.py {args.model} "
                     f"--strategies {args.strategies} --suites {args.suites}", "rows": rows}
    if args.full:
        bench = json.loads(args.full.read_text())
        data["full"] = [{k: r[k] for k in ("strategy", "suite", "n", *FIGURES)} for r in bench["results"]]
    card.write_text(json.dumps(data, indent=1) + "\n")
    for r in rows:
        print(r)
    print(json.dumps({"model": args.model, "card": str(card), "rows": len(rows)}))


if __name__ == "__main__":
    sys.exit(main())
