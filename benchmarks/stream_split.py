"""What splitting a stream into thought and answer costs per token, as the answer grows.

A streamed request's text goes through `thinkgate.streaming.Splitter` one piece (token) at a time: a short
thought, then an answer of `--tokens` word pieces, with the answer watched for tool calls, stop strings,
both, or neither. A cost per token that grows with the answer's length is a stream that slows down the
longer it runs (quadratic in all); the figures at 1,000 and at `--tokens` tokens should be alike.

    python benchmarks/stream_split.py
    python benchmarks/stream_split.py --tokens 16000

Prints a table, then a last line of JSON: for each watch, microseconds per token at 1,000 tokens and at
`--tokens`, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import time


def per_token_us(fmt, tools: bool, stop: list[str] | None, n: int, repeats: int = 3) -> float:
    from thinkgate.streaming import Splitter

    words = [f" word{i % 97}" for i in range(n)]
    best = float("inf")
    for _ in range(repeats):
        splitter = Splitter(fmt, tools=tools, stop=stop)
        started = time.perf_counter()
        splitter.feed("<think>\nshort\n</think>\n\n")
        for w in words:
            splitter.feed(w)
        best = min(best, time.perf_counter() - started)
    return best / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=8000, help="the long answer's length in tokens")
    a = ap.parse_args()
    from transformers import AutoTokenizer

    from thinkgate.formats import get_format
    from thinkgate.roster import resolve_model

    fmt = get_format("qwen3", AutoTokenizer.from_pretrained(str(resolve_model("tiny"))))
    watches = {"none": (False, None), "tools": (True, None), "stop": (False, ["STOP", "\n\nQ:"]),
               "tools+stop": (True, ["STOP", "\n\nQ:"])}
    out = {}
    print(f"{'watched':12s} {'us/token @1000':>15s} {f'us/token @{a.tokens}':>16s} {'ratio':>6s}")
    for name, (tools, stop) in watches.items():
        short, long = per_token_us(fmt, tools, stop, 1000), per_token_us(fmt, tools, stop, a.tokens)
        out[name] = {"us_per_token_1000": round(short, 2), f"us_per_token_{a.tokens}": round(long, 2),
                     "ratio": round(long / short, 2)}
        print(f"{name:12s} {short:15.2f} {long:16.2f} {long / short:6.2f}")
    print(json.dumps({"tokens": a.tokens, "watched": out}))


if __name__ == "__main__":
    main()
