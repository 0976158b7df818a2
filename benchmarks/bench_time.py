"""Time a whole `thinkgate bench` command (start-up and model load included) on the embedded model.

Usage: python benchmarks/bench_time.py [bench arguments]
Without arguments it times the main job: --strategies think,nothink --suites over,under,mip.
Runs with --fresh so that the cache does not hide the work. Prints the wall time, then a last line of
JSON with `wall_s`, `results` and `summary`.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    args = sys.argv[1:] or ["--strategies", "think,nothink", "--suites", "over,under,mip"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = ["thinkgate", "bench", *args, "--fresh", "--json", str(out)]
        started = time.time()
        subprocess.run(cmd, check=True)
        wall = time.time() - started
        data = json.loads(out.read_text())
    print(f"thinkgate bench wall time: {wall:.1f}s")
    print(json.dumps({"wall_s": round(wall, 1), "results": data["results"], "summary": data["summary"]}))


if __name__ == "__main__":
    main()
