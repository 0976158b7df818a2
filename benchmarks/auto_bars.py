"""Check issue #4's bars from two bench JSON files and print each figure with pass / NOT met.

    thinkgate bench --strategies think,nothink,route,oracle --suites over,under --json runs/bench-auto.json
    thinkgate bench --model tiny-auto --strategies self,think,nothink --suites over,under --json runs/bench-self.json
    python benchmarks/auto_bars.py runs/bench-auto.json runs/bench-self.json [--sft runs/bench.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def table(data: dict) -> dict[tuple[str, str], dict]:
    return {(r["strategy"].split("@")[0], r["suite"]): r for r in data["results"]}


def summary(data: dict) -> dict[str, dict]:
    return {r["strategy"]: r for r in data.get("summary", [])}


def line(ok: bool, text: str) -> str:
    return f"- {text} — {'met' if ok else 'NOT met'}"


def auto_bars(data: dict) -> list[str]:
    t, s = table(data), summary(data)
    auto = next(k for k in s if k.startswith(("route", "auto")))  # `auto` in records written before the rename
    out = []
    for suite in ("over", "under"):
        best = max(t[("think", suite)]["accuracy"], t[("nothink", suite)]["accuracy"])
        acc = t[(auto, suite)]["accuracy"]
        out.append(line(acc >= best - 0.01, f"{suite}: route accuracy {acc:.3f} >= better of think/nothink {best:.3f} - 0.01"))
    a, o = s[auto]["think_tokens_mean"], s["oracle"]["think_tokens_mean"]
    out.append(line(a <= 1.15 * o, f"route mean thinking tokens {a:.1f} <= 1.15 x oracle's {o:.1f} (ratio {a / o:.2f})"))
    fa, fo = s[auto]["f1_otb"], s["oracle"]["f1_otb"]
    out.append(line(fa >= 0.9 * fo, f"route F1_otb {fa:.3f} >= 0.9 x oracle's {fo:.3f} (ratio {fa / fo:.3f})"))
    return out


def self_bars(data: dict) -> list[str]:
    t = table(data)
    out = []
    over, under = t[("self", "over")]["think_rate"], t[("self", "under")]["think_rate"]
    out.append(line(over <= 0.10, f"self think_rate on over {over:.3f} <= 0.10"))
    out.append(line(under >= 0.60, f"self think_rate on under {under:.3f} >= 0.60"))
    # where nothink fails on under, does self think?
    fails = [d for d in data.get("decisions", []) if d["strategy"] == "self" and d["suite"] == "under"
             and d.get("nothink_correct") is False]
    if fails:
        rate = sum(d["decision"] == "think" for d in fails) / len(fails)
        out.append(line(rate >= 0.90, f"self thinks on {rate:.3f} of the {len(fails)} under items where nothink fails (>= 0.90)"))
    for suite, ref in (("under", "think"), ("over", "nothink")):
        a, b = t[("self", suite)]["accuracy"], t[(ref, suite)]["accuracy"]
        out.append(line(abs(a - b) <= 0.02 or a > b, f"{suite}: self accuracy {a:.3f} within 2 points of {ref}'s {b:.3f}"))
    forced = t[("think", "under")]["think_rate"]
    if forced < 0.999:
        out.append(f"- caution: `think` thought on only {forced:.3f} of under here — this model decides at the "
                   "tokens after the prefilled `<think>\\n`, so `think` is not forced thinking and the under "
                   "comparison above is nearly self against self")
    return out


def self_vs_sft(data: dict, sft: dict) -> list[str]:
    """self on the trained model against forced thinking on the SFT model it started from."""
    a = table(data)[("self", "under")]["accuracy"]
    b = table(sft)[("think", "under")]["accuracy"]
    return [line(abs(a - b) <= 0.02 or a > b,
                 f"under: self accuracy {a:.3f} within 2 points of the SFT model's forced thinking {b:.3f} "
                 f"({Path(sft['model']).name})")]


def main(paths: list[str]) -> None:
    """Each file's bars; `--sft FILE` (a bench of the SFT model with `think` on `under`) adds self against
    that model's forced thinking."""
    sft = None
    if "--sft" in paths:
        k = paths.index("--sft")
        sft = json.loads(open(paths[k + 1]).read())
        paths = paths[:k] + paths[k + 2:]
    for path in paths:
        data = json.loads(open(path).read())
        strategies = {r["strategy"].split("@")[0].split(":")[0] for r in data["results"]}
        print(f"{path} ({data['model']})")
        for text in (auto_bars(data) if strategies & {"route", "auto"} else []) + (self_bars(data) if "self" in strategies else []):
            print(text)
        if sft is not None and "self" in strategies:
            print(*self_vs_sft(data, sft), sep="\n")


if __name__ == "__main__":
    main(sys.argv[1:])
