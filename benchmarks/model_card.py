"""Write a model folder's card (README.md) from its training record and a bench JSON.

Usage: python benchmarks/model_card.py MODEL_DIR BENCH_JSON
The bench JSON comes from `thinkgate bench --strategies think,nothink --suites over,under,mip --json F`.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path


def table(rows, cols):
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    return head + "".join("| " + " | ".join(str(r[c]) for c in cols) + " |\n" for r in rows)


def main(model_dir: str, bench_json: str) -> None:
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
    stage_records = ([train["previous_stage"]] if train.get("previous_stage") else []) + [train]
    lines = []
    for n, rec in enumerate(stage_records, 1):
        c = rec["config"]
        suites = {}
        for fam, w in c["mixture"].items():
            suites.setdefault(w, []).append(fam)
        weights = "; ".join(f"{w} each for {', '.join(f)}" for w, f in suites.items())
        sched = (f"cosine over {c['steps']} steps" if c.get("schedule", "cosine") == "cosine"
                 else f"warm-up/stable/decay over {c['steps']} steps, last {c.get('decay_frac', 0.2):.0%} decaying")
        lines.append(f"- Stage {n}: {rec['steps_done']} steps ({sched}, peak lr {c['lr']}, {c['warmup']} warm-up steps, "
                     f"seed {c['seed']}{', from stage ' + str(n - 1) if c.get('init_from') else ', from scratch'}); "
                     f"family weights {weights}; {rec['examples_seen']:,} examples, {rec['tokens_seen']:,} tokens, "
                     f"{rec['wall_minutes']} min on {rec['device']} ({rec['machine']}); final training loss "
                     f"{rec['loss_history'][-1]['loss']}.")
    stages = "\n".join(lines)
    total_steps = sum(r["steps_done"] for r in stage_records)
    total_examples = sum(r["examples_seen"] for r in stage_records)
    total_tokens = sum(r["tokens_seen"] for r in stage_records)
    total_minutes = sum(r["wall_minutes"] for r in stage_records)
    weights = folder / "model.safetensors"
    card = f"""# thinkgate tiny — a bi-mode reasoning model trained from scratch

A {train['parameters'] / 1e6:.2f}M-parameter Qwen3-architecture causal LM ({cfg['num_layers']} layers, hidden
{cfg['hidden_size']}, {cfg['num_heads']} heads of {cfg['head_dim']}, vocabulary {cfg['vocab_size']}, byte-level BPE with
single-digit tokens) that thinks in `<think>…</think>` like Qwen3, and answers directly when its chat
template prefills the empty think block (`enable_thinking=False`, or `/no_think` in the user turn).
Weights: `model.safetensors`, {weights.stat().st_size / 2**20:.1f} MiB, float32.

## Training
- Command: `thinkgate train tiny` (the recipe in `thinkgate/train/sft.py:tiny_recipe`; each stage's
  config and loss curve are in `training.json`, the first stage under `previous_stage`).
- Data: the twelve task families of `thinkgate/tasks`, drawn endlessly from the "train" seed namespace,
  every test-split prompt skipped (arith1 excepted; see the README). Difficulty uniform over each
  family's levels.
- Bi-mode (thought dropout): each example is rendered with its step-by-step trace with probability
  {cfg['think_prob']}, else with the empty think block and the bare answer; {cfg['switch_prob']:.0%} of prompts carry the
  matching soft switch. Traces on `over` items are verbose on purpose (restating, "Wait, let me
  double-check", re-verifying): the overthinking that thinkgate measures. Traces on reasoning items carry
  their checks where a careful solver makes them. Loss on the assistant's tokens only.
- Optimisation: AdamW (betas 0.9/0.98, weight decay {cfg['weight_decay']}), batches of at most {cfg['batch_tokens']} tokens
  (length-bucketed), gradient clipping {cfg['grad_clip']}.
{stages}
- Total: {total_steps} steps, {total_examples:,} examples, {total_tokens:,} tokens, {total_minutes:.1f} minutes of wall time.

## Results (greedy, fixed test splits, `thinkgate bench`)

{table(bench['results'], ['strategy', 'suite', 'n', 'accuracy', 'think_tokens_mean', 'answer_tokens_mean', 'think_rate'])}
On `mip` the accuracy is the abstention rate.

### Under suite by difficulty

{table(diff_rows, ['family', 'difficulty', 'think acc', 'nothink acc', 'think tokens'])}
Reproduce: `thinkgate bench --strategies think,nothink --suites over,under,mip --json bench.json`, then
`python benchmarks/model_card.py thinkgate/models/tiny bench.json`.
"""
    (folder / "README.md").write_text(card)
    print(f"wrote {folder / 'README.md'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
