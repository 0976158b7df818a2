"""Train several SFT recipes side by side and score each with the main bench (think / nothink on the fixed
test splits), to choose the embedded model's recipe. Meant for a GPU machine, where the runs share one
device (each run is its own process with one CPU thread for its data pipeline); it runs on CPU too.

    python benchmarks/train_sweep.py --plan benchmarks/sweep_plan.json --root runs/sweep --pack runs/sweep-pack

Each plan entry is {"name": ..., "config": {SFTConfig fields, and optionally "count_trace": a trace of
benchmarks/count_traces.py to train with instead of the shipped one}}. Prints one line per run and a table; writes
`sweep.json` (figures of every run) and, with --pack, gzipped tarballs of the best --keep models. A global
--deadline-s stops runs still training (they save what they have) so that the figures always come back.
On a machine without thinkgate's dependencies, carry them as wheels: the bench imports orjson and greenlet
besides transformers, tokenizers and pydantic.

On an H200 shared by the five runs of `sweep_cpu60_plan2.json` (compiled; run then with a bfloat16 autocast
since dropped), a run made about 12 steps a second once compiled, after about five minutes of compiling and
warming up: a sweep of runs as long as a CPU hour (7-10k steps) does not fit a 15-minute lease.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

TRAIN = """
import json, sys
from thinkgate.train.sft import SFTConfig, train
entry = json.loads(sys.argv[1])
if "count_trace" in entry:
    sys.path.insert(0, "benchmarks")
    import count_traces
    count_traces.install(entry.pop("count_trace"))
cfg = SFTConfig(**entry)
rec = train(cfg, progress=lambda h: print(json.dumps(h), flush=True))
print("DONE", rec["steps_done"], rec["wall_minutes"], flush=True)
"""


def bench_cmd(model: Path, limit: int | None) -> list[str]:
    cmd = [sys.executable, "-c", "from thinkgate.cli import app; app()", "bench", "--model", str(model),
           "--strategies", "think,nothink", "--suites", "over,under,mip", "--json", str(model / "bench.json"),
           "--fresh"]
    return cmd + (["--limit", str(limit)] if limit else [])


def figures(model: Path) -> dict:
    out = json.loads((model / "bench.json").read_text())
    fig = {f"{r['strategy']}/{r['suite']}": round(r["accuracy"], 3) for r in out["results"]}
    fig |= {f"{r['strategy']}/{r['suite']}/think_tok": round(r["think_tokens_mean"], 1) for r in out["results"]}
    fig["breakdown"] = out.get("breakdown")
    return fig


def score(fig: dict) -> float:
    """What the foundation bars ask for: think accuracy on under and over, nothink accuracy on over."""
    return fig.get("think/under", 0) + fig.get("think/over", 0) + 0.5 * fig.get("nothink/over", 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, required=True)
    ap.add_argument("--root", type=Path, default=Path("runs/sweep"))
    ap.add_argument("--pack", type=Path, default=None, help="Write sweep.json, logs and the best models here.")
    ap.add_argument("--keep", type=int, default=4)
    ap.add_argument("--deadline-s", type=float, default=540.0)
    ap.add_argument("--bench-limit", type=int, default=None, help="Score only the first N items per suite.")
    args = ap.parse_args()

    started = time.time()
    plan = json.loads(args.plan.read_text())
    args.root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1")
    runs = {}
    for entry in plan:
        out = args.root / entry["name"]
        cfg = dict(entry["config"], out=str(out), threads=1)
        log = open(args.root / f"{entry['name']}.log", "w")
        runs[entry["name"]] = {"out": out, "log": log, "stage": "train", "cfg": cfg,
                               "proc": subprocess.Popen([sys.executable, "-c", TRAIN, json.dumps(cfg)], stdout=log,
                                                        stderr=subprocess.STDOUT, env=env)}
    results = {}
    while any(r["stage"] != "done" for r in runs.values()):
        time.sleep(2)
        late = time.time() - started > args.deadline_s
        for name, r in runs.items():
            if r["stage"] == "done":
                continue
            code = r["proc"].poll()
            if code is None:
                if late:
                    r["proc"].kill()
                    results[name] = {"error": f"killed at the deadline during {r['stage']}"}
                    r["trained"] = r["stage"] == "bench"
                    r["stage"] = "done"
                continue
            if code != 0:
                results[name] = {"error": f"{r['stage']} exited {code}; see {name}.log"}
                r["stage"] = "done"
            elif r["stage"] == "train":
                r["stage"] = "bench"
                r["proc"] = subprocess.Popen(bench_cmd(r["out"], args.bench_limit), stdout=r["log"],
                                             stderr=subprocess.STDOUT, env=env)
            else:
                r["stage"] = "done"
                rec = json.loads((r["out"] / "training.json").read_text())
                results[name] = {"steps": rec["steps_done"], "train_minutes": rec["wall_minutes"],
                                 "final_loss": rec["loss_history"][-1]["loss"], "config": entry_cfg(r["cfg"]),
                                 **figures(r["out"])}
            if name in results:
                print(name, json.dumps({k: v for k, v in results[name].items() if k not in ("breakdown", "config")}),
                      flush=True)

    ranked = sorted((n for n in results if "error" not in results[n]), key=lambda n: -score(results[n]))
    print(f"\n{'run':<12}{'steps':>7}{'min':>6}{'loss':>8}  think over/under/mip   nothink over/under/mip  score")
    for n in ranked:
        f = results[n]
        print(f"{n:<12}{f['steps']:>7}{f['train_minutes']:>6.1f}{f['final_loss']:>8.4f}  "
              f"{f.get('think/over', 0):.3f}/{f.get('think/under', 0):.3f}/{f.get('think/mip', 0):.3f}   "
              f"{f.get('nothink/over', 0):.3f}/{f.get('nothink/under', 0):.3f}/{f.get('nothink/mip', 0):.3f}  "
              f"{score(f):.3f}")
    summary = {"ranked": ranked, "results": results, "wall_s": round(time.time() - started, 1)}
    print(json.dumps({"ranked": ranked, "wall_s": summary["wall_s"]}))
    if args.pack:
        args.pack.mkdir(parents=True, exist_ok=True)
        (args.pack / "sweep.json").write_text(json.dumps(summary, indent=1))
        with tarfile.open(args.pack / "logs.tar.gz", "w:gz") as tar:
            for r in runs.values():
                tar.add(r["log"].name, arcname=Path(r["log"].name).name)
        unscored = [n for n, r in runs.items() if r.get("trained")]  # trained, but its bench ran out of time
        for n in (ranked + unscored)[: args.keep]:
            with tarfile.open(args.pack / f"model-{n}.tar.gz", "w:gz") as tar:
                tar.add(runs[n]["out"], arcname=n)


def entry_cfg(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in ("out", "threads")}


if __name__ == "__main__":
    main()
