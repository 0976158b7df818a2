"""SIGKILL `thinkgate bench` mid-run several times, rerun it to the end, and compare its rows with a clean run.

A clean run writes cache A. Then a run on cache B is killed (SIGKILL) `--kills` times, each time once a few
more rows have landed, and a last run completes it. Rows are compared by key, wall time aside: lost (in A,
not in B), duplicated (a key on two lines of B), changed (a key whose row differs). The bench's JSON of the
completed run is compared with the clean run's too. Prints the figures, and as its last line JSON.

    python benchmarks/bench_kill.py --kills 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rows(path: Path) -> tuple[dict[str, dict], int]:
    """key -> row (wall time dropped), and how many lines repeat a key."""
    out: dict[str, dict] = {}
    dup = 0
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        dup += rec["key"] in out
        out[rec["key"]] = {k: v for k, v in rec["row"].items() if k != "wall_s"}
    return out, dup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--limit", type=int, default=20, help="items per suite")
    ap.add_argument("--strategies", default="think,nothink,budget:max=32")
    ap.add_argument("--suites", default="over,under")
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="thinkgate-kill-"))

    def cmd(cache: Path, out: Path) -> list[str]:
        return [sys.executable, "-m", "thinkgate.cli", "bench", "--strategies", a.strategies, "--suites", a.suites,
                "--limit", str(a.limit), "--batch-size", "4", "--cache", str(cache), "--json", str(out)]

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.time()
    subprocess.run(cmd(work / "a.jsonl", work / "a.json"), check=True, env=env, capture_output=True)
    clean_s = time.time() - t
    clean, _ = rows(work / "a.jsonl")
    total = len(clean)
    cache = work / "b.jsonl"
    kills = []
    for k in range(a.kills):
        have = len(cache.read_text().splitlines()) if cache.exists() else 0
        target = have + max(2, (total - have) // (a.kills - k + 1))  # kill once a few more rows landed
        proc = subprocess.Popen(cmd(cache, work / "b.json"), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if cache.exists() and len(cache.read_bytes().splitlines()) >= target:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait()
        kills.append({"killed": proc.returncode == -signal.SIGKILL,
                      "rows_then": len(cache.read_bytes().splitlines()) if cache.exists() else 0})
    subprocess.run(cmd(cache, work / "b.json"), check=True, env=env, capture_output=True)
    got, duplicated = rows(cache)
    lost = sorted(set(clean) - set(got))
    extra = sorted(set(got) - set(clean))
    changed = sorted(k for k in clean.keys() & got.keys() if clean[k] != got[k])
    strip = lambda d: [{k: v for k, v in r.items() if "wall" not in k} for r in d["results"]]  # noqa: E731
    same_json = strip(json.loads((work / "a.json").read_text())) == strip(json.loads((work / "b.json").read_text()))
    out = {"rows": total, "kills": sum(k["killed"] for k in kills), "rows_at_each_kill": [k["rows_then"] for k in kills],
           "lost": len(lost), "duplicated": duplicated, "changed": len(changed), "extra": len(extra),
           "results_equal": same_json, "clean_run_s": round(clean_s, 1)}
    print(f"{total} rows; killed {out['kills']} times at {out['rows_at_each_kill']} rows; lost {len(lost)}, "
          f"duplicated {duplicated}, changed {len(changed)}, extra {len(extra)}; bench results equal: {same_json}")
    for k in (lost + changed + extra)[:10]:
        print("  ", k)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
