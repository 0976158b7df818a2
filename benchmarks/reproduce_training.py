"""Is a training run reproducible? Prints how far two model folders trained by `thinkgate train` differ, or how
far a fresh run of a recorded config's first steps strays from the record.

    python benchmarks/reproduce_training.py runs/tiny-cpu runs/tiny-cpu-rerun
        both folders' content fingerprints and largest difference of any weight element, and
        loss curves (logged points, how many are equal)
    python benchmarks/reproduce_training.py runs/tiny-cpu --steps 600
        trains the first 600 steps of runs/tiny-cpu's recorded config again (same schedule, stopped there)
        into a temporary folder and compares the loss curve point by point with the record's

The loss curve is the record's running mean of the loss, logged every `log_every` steps to four decimals.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def record(folder: Path) -> dict:
    path = folder / "training.json"
    if not path.exists():
        raise SystemExit(f"{folder}: no training.json (not a folder written by thinkgate train)")
    return json.loads(path.read_text())


def compare_curves(a: list[dict], b: list[dict], upto: int | None = None) -> tuple[int, int, float]:
    """(points compared, points equal, largest loss difference) over the steps both curves logged, below
    `upto` when given (a run stopped early logs its last step, which the full run need not have)."""
    b_at = {h["step"]: h["loss"] for h in b}
    pairs = [(h["loss"], b_at[h["step"]]) for h in a
             if h["step"] in b_at and (upto is None or h["step"] < upto)]
    return len(pairs), sum(x == y for x, y in pairs), max((abs(x - y) for x, y in pairs), default=0.0)


def compare_weights(a: Path, b: Path) -> tuple[str, str, float]:
    """Both folders' content fingerprints (config, weights, tokenizer, chat template) and the largest
    difference of any weight element."""
    from safetensors.torch import load_file

    from thinkgate.routers.router import content_fingerprint

    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    if ta.keys() != tb.keys():
        raise SystemExit(f"{a} and {b} hold different tensors: not the same architecture")
    worst = max(float((ta[k].double() - tb[k].double()).abs().max()) for k in ta)
    return content_fingerprint(a), content_fingerprint(b), worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a folder written by thinkgate train")
    ap.add_argument("other", type=Path, nargs="?", help="a second folder trained with the same config")
    ap.add_argument("--steps", type=int, help="retrain this many first steps of MODEL's config and compare")
    args = ap.parse_args()
    rec = record(args.model)
    if args.other is not None:
        other = record(args.other)
        same_config = {k: v for k, v in rec["config"].items() if k != "out"} == \
            {k: v for k, v in other["config"].items() if k != "out"}
        ha, hb, worst = compare_weights(args.model, args.other)
        n, equal, diff = compare_curves(rec["loss_history"], other["loss_history"])
        print(f"configs (but the folder): {'the same' if same_config else 'DIFFERENT'}")
        print(f"steps done: {rec['steps_done']} / {other['steps_done']}; wall minutes: {rec['wall_minutes']} / "
              f"{other['wall_minutes']}")
        print(f"model content (config, weights, tokenizer, template): {ha} / {hb} -> "
              f"{'identical' if ha == hb else 'different'}; "
              f"largest element difference {worst:.3g}")
        print(f"loss curve: {equal} of {n} logged points equal, largest difference {diff:.4g}")
        return
    if not args.steps or args.steps < 1:
        raise SystemExit("give a second folder, or --steps N (N >= 1) to retrain the first N steps")
    from thinkgate.train.sft import SFTConfig, train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SFTConfig(**dict(rec["config"], out=tmp, stop_after=args.steps, max_minutes=10_000.0))
        if cfg.clock:
            raise SystemExit(f"{args.model} was scheduled by the clock: its learning rates depend on the "
                             "machine's speed, so no rerun can follow it")
        fresh = train(cfg)
    n, equal, diff = compare_curves(fresh["loss_history"], rec["loss_history"], upto=args.steps - 1)
    print(f"first {args.steps} steps of {args.model}'s config, {fresh['wall_minutes']} minutes: {equal} of {n} "
          f"logged points equal to the record's, largest difference {diff:.4g}")


if __name__ == "__main__":
    main()
