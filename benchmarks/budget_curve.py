"""Accuracy on `under` against the maximum thinking budget (budget forcing), on the embedded model.

Usage: python benchmarks/budget_curve.py [BUDGET ...]   (default 32 64 128 192 256)
Prints one line per budget, whether accuracy rises monotonically, and a last line of JSON; the plot is
in runs/budget-report/budget.png (with the rest of the bench report).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    budgets = [int(b) for b in sys.argv[1:]] or [32, 64, 128, 192, 256]
    specs = ",".join(f"budget:max={b}" for b in budgets)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run(["thinkgate", "bench", "--strategies", specs, "--suites", "under", "--json", str(out),
                        "--report", "runs/budget-report"],
                       check=True)
        data = json.loads(out.read_text())
    acc = {r["strategy"]: r["accuracy"] for r in data["results"]}
    curve = [(b, acc[f"budget:max={b}"]) for b in budgets]
    for b, a in curve:
        print(f"max={b:>5}  under accuracy {a:.3f}")
    monotonic = all(a2 >= a1 for (_, a1), (_, a2) in zip(curve, curve[1:]))
    print(f"monotonic: {monotonic}")
    print(json.dumps({"budgets": budgets, "accuracy": [a for _, a in curve], "monotonic": monotonic}))


if __name__ == "__main__":
    main()
