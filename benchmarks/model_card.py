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
    mixture = ", ".join(f"{k} {v}" for k, v in cfg["mixture"].items())
    weights = folder / "model.safetensors"
    card = f"""# thinkgate tiny — a bi-mode reasoning model trained from scratch

A {train['parameters'] / 1e6:.2f}M-parameter Qwen3-architecture causal LM ({cfg['num_layers']} layers, hidden
{cfg['hidden_size']}, {cfg['num_heads']} heads of {cfg['head_dim']}, vocabulary {cfg['vocab_size']}, byte-level BPE with
single-digit tokens) that thinks in `<think>…</think>` like Qwen3, and answers directly when its chat
template prefills the empty think block (`enable_thinking=False`, or `/no_think` in the user turn).
Weights: `model.safetensors`, {weights.stat().st_size / 2**20:.1f} MiB, float32.

## Training
- Command: `thinkgate train sft --out thinkgate/models/tiny` (config in `training.json`).
- Data: the twelve task families of `thinkgate/tasks`, drawn endlessly from the "train" seed namespace,
  every test-split prompt skipped (arith1 excepted; see the README). Family weights: {mixture}.
  Difficulty uniform over each family's levels.
- Bi-mode (thought dropout): each example is rendered with its step-by-step trace with probability
  {cfg['think_prob']}, else with the empty think block and the bare answer; {cfg['switch_prob']:.0%} of prompts carry the
  matching soft switch. Traces on `over` items are verbose on purpose (restating, "Wait, let me
  double-check", re-verifying): the overthinking that thinkgate measures. Traces on reasoning items carry
  their checks where a careful solver makes them. Loss on the assistant's tokens only.
- Optimisation: AdamW (lr {cfg['lr']}, cosine to {cfg['min_lr_ratio']}x, {cfg['warmup']} warm-up steps, weight decay
  {cfg['weight_decay']}), batches of at most {cfg['batch_tokens']} tokens (length-bucketed).
- Run: {train['steps_done']} steps, {train['examples_seen']:,} examples, {train['tokens_seen']:,} tokens, {train['wall_minutes']} minutes
  on {train['device']} ({train['machine']}). Final training loss {train['loss_history'][-1]['loss']}.

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
