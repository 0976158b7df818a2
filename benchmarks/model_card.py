"""Write a model folder's card (README.md) from its training record and a bench JSON.

Usage: python benchmarks/model_card.py MODEL_DIR BENCH_JSON [CURVE_JSON]
The bench JSON comes from `thinkgate bench --strategies think,nothink --suites over,under,mip --json F`;
the optional curve JSON from `python benchmarks/difficulty_curve.py --json F` (many items per difficulty
level: the card then judges "nothink accuracy falls with difficulty" on it rather than on the 12 test items
per level).
"""

import json
import sys
from collections import defaultdict
from pathlib import Path


# one 4096-token step of the 3M model on a 2-core CPU (torch 2.13.0+cpu, no attention mask, not compiled): steps
# 20-80 of a from-scratch run, measured on two of this project's machines (the slower and the faster)
CPU_S_PER_STEP = 0.91
CPU_S_PER_STEP_FAST = 0.48
RECORDS = Path(__file__).parent / "records"
CPU_RECORD = RECORDS / "tiny-cpu-count8"  # the recorded runs of `thinkgate train tiny --recipe cpu`


def table(rows, cols):
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in cols) + " |\n" for r in rows)


def headline(bench: dict) -> tuple[float, float, float, float, float]:
    """Under think / nothink accuracy, over think / nothink accuracy, and over's thinking tokens per
    no-thinking answer token, from a bench file."""
    res = {(r["strategy"], r["suite"]): r for r in bench["results"]}
    ratio = res[("think", "over")]["think_tokens_mean"] / max(1e-9, res[("nothink", "over")]["answer_tokens_mean"])
    return (res[("think", "under")]["accuracy"], res[("nothink", "under")]["accuracy"],
            res[("think", "over")]["accuracy"], res[("nothink", "over")]["accuracy"], ratio)


def falls(accs: list[float]) -> bool:
    """No-thinking accuracy never rises from one level to the next."""
    return all(b <= a for a, b in zip(accs, accs[1:]))


def targets(bench: dict, nothink_by: dict[str, list[float]]) -> dict[str, bool]:
    """The foundation issue's targets, each met or not, from a bench file and the per-family no-thinking
    accuracies by level."""
    ut, un, ot, on, ratio = headline(bench)
    return {"the under thinking accuracy": ut >= 0.90, "the under no-thinking accuracy": un <= 0.60 and ut - un >= 0.25,
            "the over no-thinking accuracy": on >= 0.95, "the over thinking accuracy": ot >= 0.95,
            "the thinking-token ratio": ratio >= 5,
            "the per-family curve": all(falls(accs) for accs in nothink_by.values())}


def nothink_by_level(curve: dict) -> dict[str, list[float]]:
    """Per family, the no-thinking accuracy at each level in order, from a difficulty-curve file."""
    by = defaultdict(dict)
    for r in curve["table"]:
        by[r["family"]][r["difficulty"]] = r["nothink"]
    return {fam: [lv[d] for d in sorted(lv)] for fam, lv in by.items()}


def cpu_record_runs(record: Path) -> list[str]:
    """The suffixes of the recorded runs in a CPU-recipe record, in order: "" for training.json / bench.json /
    difficulty.json, then "-rerun", "-rerun2", ... for training-rerun.json and so on, each run that has all
    three files."""
    sfxs = sorted((f.stem[len("training"):] for f in record.glob("training*.json")), key=lambda s: (len(s), s))
    return [sfx for sfx in sfxs
            if all((record / f"{name}{sfx}.json").exists() for name in ("training", "bench", "difficulty"))]


def cpu_record_model(record: Path) -> str:
    """The CPU recipe's model and wall time in words, read from its recorded runs' configs."""
    recs = [json.loads((record / f"training{sfx}.json").read_text()) for sfx in cpu_record_runs(record)]
    cfg = recs[0]["config"]
    kind = f"a model of the same kind ({cfg['num_layers']} layers, hidden {cfg['hidden_size']}) from scratch in "
    runs = "s" * (len(recs) > 1)
    if not cfg.get("clock"):  # a schedule by steps: the same steps on any machine, the minutes are this one's
        minutes = " and ".join(f"{r['wall_minutes']:g}" for r in recs)
        same = ", the same weights every run on a machine" if cfg.get("deterministic") else ""
        return kind + (f"{cfg['steps']} steps{same} ({minutes} minutes in the recorded run{runs}, "
                       f"on {recs[0]['machine']})")
    steps = " and ".join(str(r["steps_done"]) for r in recs)
    return kind + (f"{cfg['max_minutes']:g} minutes of any CPU ({steps} steps in the recorded run{runs}, "
                   f"on {recs[0]['machine']})")


def cpu_record_targets(record: Path) -> list[dict[str, bool]]:
    """Per recorded run of the CPU recipe, the targets its model meets, read from its bench and curve files,
    and whether it finished its schedule within the hour, read from its training record."""
    runs = []
    for sfx in cpu_record_runs(record):
        met = targets(json.loads((record / f"bench{sfx}.json").read_text()),
                      nothink_by_level(json.loads((record / f"difficulty{sfx}.json").read_text())))
        rec = json.loads((record / f"training{sfx}.json").read_text())
        # a schedule by the clock is meant to be stopped by it; one by steps must finish them
        met["the hour"] = rec["wall_minutes"] <= 60 and (bool(rec["config"].get("clock"))
                                                         or rec.get("stopped_by") != "clock")
        runs.append(met)
    return runs


def cpu_record_status(runs: list[dict[str, bool]]) -> str:
    """What the CPU recipe's recorded runs meet (from cpu_record_targets), in words."""
    if all(all(met.values()) for met in runs):
        return ("and its model meets every target above, the per-family curve included"
                + (f", in each of the {len(runs)} recorded runs" if len(runs) > 1 else ""))
    if len(runs) == 1:
        return "and its model meets the targets above but for " + " and ".join(k for k, v in runs[0].items() if not v)
    return "and its model meets " + ", and ".join(
        (f"every target above in run {n}" if all(met.values()) else
         "all but " + " and ".join(k for k, v in met.items() if not v) + f" in run {n}")
        for n, met in enumerate(runs, 1))


def main(model_dir: str, bench_json: str, curve_json: str | None = None) -> None:
    folder = Path(model_dir)
    train = json.loads((folder / "training.json").read_text())
    bench = json.loads(Path(bench_json).read_text())
    cfg = train["config"]
    by = defaultdict(dict)
    for r in bench["breakdown"]:
        if r["suite"] == "under":
            by[(r["family"], r["difficulty"])][r["strategy"]] = r
    diff_rows = [{"family": f, "difficulty": d,
                  "think acc": s.get("think", {}).get("accuracy", "-"),
                  "nothink acc": s.get("nothink", {}).get("accuracy", "-"),
                  "think tokens": s.get("think", {}).get("think_tokens_mean", "-")}
                 for (f, d), s in sorted(by.items())]
    stage_records, rec = [], train
    while rec:
        stage_records.insert(0, rec)
        rec = rec.get("previous_stage")
    lines = []
    for n, rec in enumerate(stage_records, 1):
        c = rec["config"]
        suites = {}
        for fam, w in c["mixture"].items():
            suites.setdefault(w, []).append(fam)
        weights = "; ".join(f"{w} each for {', '.join(f)}" for w, f in suites.items())
        shares = c.get("family_think_prob") or {}
        if shares:
            weights += "; thinking shares " + ", ".join(f"{p} for {fam}" for fam, p in shares.items()) + \
                f" (else {c['think_prob']})"
        span = f"{c['max_minutes']:g} minutes of wall time" if c.get("clock") else f"{c['steps']} steps"
        if c.get("clock") and c.get("clock_steps"):
            span = f"{c['clock_steps']} steps or {c['max_minutes']:g} minutes of wall time, whichever is spent first"
        sched = (f"cosine over {span}" if c.get("schedule", "cosine") == "cosine"
                 else f"warm-up/stable/decay over {span}, last {c.get('decay_frac', 0.2):.0%} decaying")
        sched += ", torch.compile" if c.get("compile") else ""
        lines.append(f"- Stage {n}: {rec['steps_done']} steps ({sched}, peak lr {c['lr']}, {c['warmup']} warm-up steps, "
                     f"seed {c['seed']}{', from stage ' + str(n - 1) if c.get('init_from') else ', from scratch'}); "
                     f"family weights {weights}; {rec['examples_seen']:,} examples, {rec['tokens_seen']:,} tokens, "
                     f"{rec['wall_minutes']} min on {rec['device']} ({rec['machine']}); final training loss "
                     f"{rec['loss_history'][-1]['loss']}.")
    stages = "\n".join(lines)
    gpu_note = ("- The GPU stages ran on one NVIDIA H200 lent by the workplace's device tool, through "
                "`benchmarks/train_sweep.py`: stage 1 shared the GPU with seven other recipes of "
                "`benchmarks/sweep_plan.json` and stopped at its 6-minute cap; stage 4 (entry `c-pm-w4` of "
                "`benchmarks/sweep_count_plan.json`) shared it with seven other runs and stopped at its 5.8-minute "
                "cap. Stages 1-3 were trained when the letter-count trace copied four letters at a time and "
                "counted each group (never learnt: the model wrote 1 for every group); stage 4 taught the current "
                "trace, one letter at a time with a +/- mark and a running count. Stage 5 ran on a 2-core CPU "
                "(`thinkgate/train/sft.py:stage5`) after the list-sum levels were widened from 3..7 terms to "
                "3, 5, 7, 9 and 11 and mul's top level became three digits by two (the direct answers were as "
                "often right at 5 as at 6 terms, and at two-by-two digits as at four-by-one); it taught those "
                "levels. `thinkgate train tiny` trains every stage with the current tasks and traces.\n"
                if any(r["device"] == "cuda" for r in stage_records) else "")
    v = cfg.get("variants", {})
    vshares = (f"{v.get('auto', 0):.0%} of examples in the template's auto turn (the model writes `<think>` and "
               f"chooses); {v.get('cut', 0):.0%} of thinking examples cut at a word or line and closed by the budget stop "
               f"message, thinkless' instruction or the bare end tag; {v.get('concise', 0):.0%} with \"Don't overthink.\" "
               f"and the trace without its re-checks; {v.get('nothinking', 0):.0%} of no-thinking examples with the "
               f"NoThinking prefill") if v else "none"
    command = ("`thinkgate train tiny --recipe cpu` (the recipe in `thinkgate/train/sft.py:cpu_recipe`; its config "
               "and loss curve are in `training.json`)" if len(stage_records) == 1 else
               "`thinkgate train tiny` (the recipe in `thinkgate/train/sft.py:tiny_recipe`; each stage's config and "
               "loss curve are in `training.json`, each earlier stage nested under `previous_stage`)")
    total_steps = sum(r["steps_done"] for r in stage_records)
    total_examples = sum(r["examples_seen"] for r in stage_records)
    total_tokens = sum(r["tokens_seen"] for r in stage_records)
    total_minutes = sum(r["wall_minutes"] for r in stage_records)
    weights = folder / "model.safetensors"
    ut, un, ot, on, ratio = headline(bench)
    curve = json.loads(Path(curve_json).read_text()) if curve_json else None
    per_nothink = curve.get("per_nothink", curve["per"]) if curve else None  # older curve files: one count
    if curve:
        nothink_by = nothink_by_level(curve)
        falls_where = f"up to {per_nothink} items per level, `benchmarks/difficulty_curve.py`"
    else:
        nothink_by = {fam: [by[(fam, d)].get("nothink", {}).get("accuracy", 0) for d in sorted(d for f, d in by if f == fam)]
                      for fam in sorted({f for f, _ in by})}
        falls_where = "the test split's 12 items per level"
    per_family = [f"{fam} {'yes' if falls(accs) else 'no'} "
             f"({' → '.join(f'{a:.2f}' for a in accs)})" for fam, accs in sorted(nothink_by.items())]
    met = targets(bench, nothink_by)
    rises = (curve or {}).get("nothink_rises")
    listed = lambda rs: ", ".join(  # noqa: E731
        f"{r['family']} {r['from']}→{r['to']} (+{r['rise']:.3f}, 2 SE {r['two_se']:.3f})" for r in rs) or "none"
    noise = ("" if rises is None else
             f"; rises larger than two standard errors: {listed([r for r in rises if r['beyond_noise']])}"
             f"; rises within noise: {listed([r for r in rises if not r['beyond_noise']])}")
    curve_section = ""
    if curve:
        curve_rows = [{"family": r["family"], "difficulty": r["difficulty"], "n think": r["n"],
                       "n nothink": r.get("n_nothink", r["n"]), "think acc": r["think"],
                       "nothink acc": r["nothink"], "think tokens": r["think_tokens"]} for r in curve["table"]]
        curve_section = (f"\n### Under suite by difficulty, {curve['per']} thinking and "
                         f"{per_nothink} no-thinking items per level\n\n"
                         f"Drawn from a seed namespace of their own (no test prompt) by "
                         f"`python benchmarks/difficulty_curve.py --per {curve['per']} --per-nothink {per_nothink}`; "
                         f"the test split's 12 items per "
                         f"level are too few to show a trend.\n\n"
                         + table(curve_rows, ["family", "difficulty", "n think", "n nothink", "think acc", "nothink acc",
                                              "think tokens"]))
    curve_args = f"--per {curve['per']} --per-nothink {per_nothink} " if curve else ""
    shipped = folder.resolve() == (Path(__file__).resolve().parents[1] / "thinkgate" / "models" / "tiny")
    model_arg = "" if shipped else f"--model {model_dir} "
    mark = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    on_cpu = all(r["device"] == "cpu" for r in stage_records)
    gpu_stages = [r for r in stage_records if r["device"] != "cpu"]
    gpu_steps = sum(r["steps_done"] for r in gpu_stages)
    # CPU time: measured for the stages that ran on it, estimated from the measured step time for the others
    cpu_minutes = sum(r["wall_minutes"] if r["device"] == "cpu" else r["steps_done"] * CPU_S_PER_STEP / 60
                      for r in stage_records)
    head = "- training reproduced on CPU in <= 60 minutes by one command: "
    if on_cpu:
        cpu_check = (head + f"{total_minutes:.0f} minutes in {len(stage_records)} stage"
                     + "s" * (len(stage_records) > 1) + f" — {mark(cpu_minutes <= 60)}")
    else:  # a bigger run on a GPU (the issue allows it, recorded): the CPU hour is the CPU recipe's record
        cpu_runs = cpu_record_targets(CPU_RECORD)
        cpu_check = (head + "`thinkgate train tiny --recipe cpu` trains " + cpu_record_model(CPU_RECORD)
                     + ", " + cpu_record_status(cpu_runs) + f" (`benchmarks/records/{CPU_RECORD.name}/`) — "
                     + mark(all(all(met.values()) for met in cpu_runs))
                     + f"; these weights are a bigger run: {len(gpu_stages)} of {len(stage_records)} stages "
                     f"({gpu_steps} steps) ran on a GPU, and on a 2-core CPU those steps take about "
                     f"{gpu_steps * CPU_S_PER_STEP / 60:.0f} minutes ({CPU_S_PER_STEP} s a step, measured; "
                     f"{gpu_steps * CPU_S_PER_STEP_FAST / 60:.0f} minutes at the {CPU_S_PER_STEP_FAST} s of a "
                     f"faster one)" + (f", the whole recipe (`thinkgate train tiny`) about {cpu_minutes:.0f} minutes"
                                       if len(gpu_stages) < len(stage_records) else ""))
    checks = "\n".join([
        f"- under, think accuracy >= 0.90: {ut:.3f} — {mark(met['the under thinking accuracy'])}",
        f"- under, nothink accuracy <= 0.60 and >= 25 points below think: {un:.3f} ({(ut - un) * 100:.1f} points) — "
        f"{mark(met['the under no-thinking accuracy'])}",
        f"- over, nothink accuracy >= 0.95: {on:.3f} — {mark(met['the over no-thinking accuracy'])}; think accuracy >= 0.95: {ot:.3f} — "
        f"{mark(met['the over thinking accuracy'])}",
        f"- over, think's thinking tokens >= 5x nothink's answer tokens: {ratio:.1f}x — {mark(met['the thinking-token ratio'])}",
        f"- nothink accuracy falls at every step of difficulty, per under family ({falls_where}): " + "; ".join(per_family)
        + f" — {mark(met['the per-family curve'])}" + noise,
        cpu_check,
    ])
    share_note = " (or its family's share, in the stage lines)" if cfg.get("family_think_prob") else ""
    card = f"""# thinkgate tiny — a bi-mode reasoning model trained from scratch

A {train['parameters'] / 1e6:.2f}M-parameter Qwen3-architecture causal LM ({cfg['num_layers']} layers, hidden
{cfg['hidden_size']}, {cfg['num_heads']} heads of {cfg['head_dim']}, vocabulary {cfg['vocab_size']}, byte-level BPE with
single-digit tokens) that thinks in `<think>…</think>` like Qwen3, and answers directly when its chat
template prefills the empty think block (`enable_thinking=False`, or `/no_think` in the user turn).
Weights: `model.safetensors`, {weights.stat().st_size / 2**20:.1f} MiB, float32.

## Training
- Command: {command}
- Data: the twelve task families of `thinkgate/tasks`, drawn endlessly from the "train" seed namespace,
  every test-split prompt skipped (arith1 excepted; see the README). Difficulty uniform over each
  family's levels.
- Bi-mode (thought dropout): each example is rendered with its step-by-step trace with probability
  {cfg['think_prob']}{share_note}, else with the empty think block and the bare answer; {cfg['switch_prob']:.0%} of prompts carry the
  matching soft switch. Traces on `over` items are verbose on purpose (restating, "Wait, let me
  double-check", re-verifying): the overthinking that thinkgate measures. Traces on reasoning items carry
  their checks where a careful solver makes them. Loss on the assistant's tokens only.
- Strategy situations (`thinkgate/train/data.py:Variants`): {vshares}. Text a strategy injects
  (stop messages, the end tag after a cut thought, the NoThinking sentence) is masked out of the loss.
- Optimisation: AdamW (betas 0.9/0.98, weight decay {cfg['weight_decay']}), batches of at most {cfg['batch_tokens']} tokens
  (length-bucketed), gradient clipping {cfg['grad_clip']}.
{stages}
{gpu_note}- Total: {total_steps} steps, {total_examples:,} examples, {total_tokens:,} tokens, {total_minutes:.1f} minutes of wall time.

## Results (greedy, fixed test splits, `thinkgate bench`)

{table(bench['results'], ['strategy', 'suite', 'n', 'accuracy', 'think_tokens_mean', 'answer_tokens_mean', 'think_rate'])}
On `mip` the accuracy is the abstention rate.

### Under suite by difficulty

{table(diff_rows, ['family', 'difficulty', 'think acc', 'nothink acc', 'think tokens'])}{curve_section}
## Targets (from the foundation issue) against these figures

{checks}

Reproduce: `thinkgate bench {model_arg}--strategies think,nothink --suites over,under,mip --json bench.json`, then
`python benchmarks/difficulty_curve.py {model_arg}{curve_args}--json curve.json`, then
`python benchmarks/model_card.py {model_dir} bench.json curve.json`.
"""
    (folder / "README.md").write_text(card)
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
