"""Rewrite a BPO model's card (README.md) with its measured bench figures.

    thinkgate bench --model tiny-auto --strategies self,think,nothink --suites over,under --json runs/bench-self.json
    python benchmarks/tiny_auto_card.py thinkgate/models/tiny-auto runs/bench-self.json [runs/bench.json]
(the last: a bench of the SFT model with `think` on `under`, for self against its forced thinking)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from thinkgate.train.bpo import write_card

sys.path.insert(0, str(Path(__file__).parent))
from auto_bars import self_bars, self_vs_sft  # noqa: E402


def main(model: str, bench_path: str, sft_path: str | None = None) -> None:
    folder = Path(model)
    record = json.loads((folder / "training.json").read_text())
    bench = json.loads(Path(bench_path).read_text())
    bars = self_bars(bench)
    if sft_path:
        bars += self_vs_sft(bench, json.loads(Path(sft_path).read_text()))
    rows = "\n".join(f"| {r['strategy']} | {r['suite']} | {r['n']} | {r['accuracy']} | {r['think_tokens_mean']} | "
                     f"{r['think_rate']} |" for r in bench["results"])
    summary = "\n".join(f"| {r['strategy']} | {r['auc_oaa']} | {r['acc_ut']} | {r['f1_otb']} |" for r in bench.get("summary", []))
    section = f"""
## Results (greedy, fixed test splits)

`thinkgate bench --model tiny-auto --strategies self,think,nothink --suites over,under` ({bench.get('wall_s', '?')} s):

| strategy | suite | n | accuracy | think_tokens_mean | think_rate |
|---|---|---|---|---|---|
{rows}

| strategy | AUC_OAA | Acc_ut | F1_otb |
|---|---|---|---|
{summary}

Bars of issue #4 (`python benchmarks/auto_bars.py {bench_path}{' --sft ' + sft_path if sft_path else ''}`):

{chr(10).join(bars)}
"""
    print(write_card(folder, record, section))


if __name__ == "__main__":
    main(*sys.argv[1:4])
