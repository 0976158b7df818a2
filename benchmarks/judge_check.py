"""The judge on free-form answers: `thinkgate bench --data FREE.jsonl --judge JUDGE --judge-pairwise`, on a
free-form fixture in OptimalThinkingBench's layout written here (12 short factual questions), the answers the
embedded model's (think and nothink). Prints the bench's `judge` figures: pointwise yes / no / unclear and
agreement with exact match, and per pair of strategies the wins, ties, flips and the flip rate (a verdict
that changes when the two answers swap places). Then runs it again to show every call comes from the cache.

    python benchmarks/judge_check.py                 # SmolLM2-135M-Instruct (llama.cpp) as the judge
    python benchmarks/judge_check.py --judge tiny    # the embedded model as the judge
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

QUESTIONS = [("Name the planet closest to the sun.", "Mercury"), ("What is the capital of France?", "Paris"),
             ("What is 7 minus 4? Answer in words.", "three"), ("What colour is a clear daytime sky?", "blue"),
             ("How many legs does a spider have? Answer in words.", "eight"),
             ("What is the opposite of hot?", "cold"), ("Which animal says moo?", "cow"),
             ("What is frozen water called?", "ice"), ("What is 10 divided by 2? Answer in words.", "five"),
             ("Which season comes after winter?", "spring"), ("What do bees make?", "honey"),
             ("What is the first letter of the English alphabet?", "A")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default=None, help="default: SmolLM2-135M-Instruct's GGUF, fetched as the tests do")
    ap.add_argument("--judge-strategy", default="nothink")
    ap.add_argument("--judge-max-tokens", default="32")
    args = ap.parse_args()
    if args.judge is None:
        from _models import smollm2

        args.judge = str(smollm2())
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "free.jsonl"
        data.write_text("".join(json.dumps({"question": q, "answer": a, "subset": "overthinkingbench",
                                            "metadata": json.dumps({"answer_type": "open-ended"})}) + "\n"
                                for q, a in QUESTIONS))
        figures = []
        for run in (1, 2):
            out = Path(tmp) / f"run{run}.json"
            t0 = time.time()
            subprocess.run([sys.executable, "-m", "thinkgate", "bench", "--data", str(data), "--strategies",
                            "think,nothink", "--max-tokens", "64", "--cache", str(Path(tmp) / "cache.jsonl"),
                            "--json", str(out), "--judge", args.judge, "--judge-strategy", args.judge_strategy,
                            "--judge-max-tokens", args.judge_max_tokens, "--judge-pairwise"], check=True, cwd=ROOT)
            judge = json.loads(out.read_text())["judge"]
            judge["wall_s"] = round(time.time() - t0, 1)
            figures.append(judge)
            print(f"run {run}: {json.dumps(judge)}", file=sys.stderr)
    first, second = figures
    pair = first["pairwise"][0]
    print(json.dumps({"judge": Path(first["model"]).name, "items": len(QUESTIONS), **first["pointwise"],
                      "pairs_compared": pair["compared"], "read_both_orders": pair["read_both"],
                      "flips": pair["flips"], "flip_rate": pair["flip_rate"], "first_chosen": pair["first_rate"],
                      "calls": first["calls"], "rerun_calls": second["calls"], "rerun_cached": second["cached"],
                      "same_on_rerun": first["pointwise"] == second["pointwise"]
                      and first["pairwise"] == second["pairwise"]}))


if __name__ == "__main__":
    main()
