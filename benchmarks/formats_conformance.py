"""Run every template of llama.cpp's collection (llama-cpp-python's pinned source distribution, through pip
and cached) through thinkgate's families and print one row per template: the family detected, what the
template was expected to be, and each check (see tests/_corpus.py), end to end on a random-init two-layer
model with the template and a matching vocabulary included. Its last line is JSON with the totals:
templates, reasoning-capable templates (expected to think, whether or not thinkgate renders their family
yet), how many of those pass every check, templates without a thinking mode, and how many of those were
detected as such.

    python benchmarks/formats_conformance.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from _corpus import EXPECTED, check, end_to_end, templates
    from transformers import AutoTokenizer

    base = AutoTokenizer.from_pretrained(str(ROOT / "thinkgate" / "models" / "tiny"))
    rows = []
    for name, source in templates().items():
        result = check(name, source, base)
        if result["family"] != "unsupported":
            result.update(end_to_end(name, source))
        checks = {k: v for k, v in result.items() if k != "family"}
        expected = EXPECTED.get(name, "?")
        reasoning = expected != "none"
        passed = all(v is True for v in checks.values()) and result["family"] != "unsupported"
        rows.append((name, result["family"], expected, checks, reasoning, passed))
    width = max(len(r[0]) for r in rows)
    for name, family, expected, checks, reasoning, passed in rows:
        failed = [k for k, v in checks.items() if v is not True]
        status = "pass" if passed else ("refused: reasoning markup no family describes" if family == "unsupported" and not failed
                                        else "FAIL " + ",".join(failed))
        if not reasoning:
            status = "no thinking mode, detected" if not failed else "FAIL " + ",".join(failed)
        print(f"{name:<{width}}  {family:<12} {expected:<13} {status}")
    totals = {"templates": len(rows), "reasoning_templates": sum(r[4] for r in rows),
              "passed": sum(r[4] and r[5] for r in rows), "non_reasoning": sum(not r[4] for r in rows),
              "non_reasoning_detected": sum(not r[4] and all(v is True for v in r[3].values()) for r in rows),
              "refused_unsupported": sum(r[1] == "unsupported" for r in rows)}
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
