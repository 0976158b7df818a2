"""Time the main job: `thinkgate bench` over the three suites on the embedded model.

Prints the wall time of the whole command (start-up and model load included) and, as its last line, a JSON
object with `wall_s` and the bench's own results. Usage: python benchmarks/bench_time.py [extra bench args]
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = ["thinkgate", "bench", "--strategies", "think,nothink", "--suites", "over,under,mip",
               "--json", str(out), *sys.argv[1:]]
        started = time.time()
        subprocess.run(cmd, check=True)
        wall = time.time() - started
        data = json.loads(out.read_text())
    print(f"thinkgate bench wall time: {wall:.1f}s")
    print(json.dumps({"wall_s": round(wall, 1), "results": data["results"]}))


if __name__ == "__main__":
    main()
