"""Batching on a local model: 16 concurrent requests against the same 16 sent one after another.

Starts `thinkgate serve --model tiny` on loopback (torch on one thread, so that the comparison is about
batching, not about how many cores are free), sends `--requests` chat completions (thinking on, greedy,
the first items of the `under` test split: questions the model thinks about) one after another, then the
same requests all at once, and compares wall times. The scheduler's batch sizes come from /metrics.

Prints a table, then a last line of JSON with `speedup` (sequential wall / concurrent wall). Bar (issue
#5): speedup >= 4 for 16 requests.

`--strategy SPEC` sends that strategy with every request (`thinking.strategy`); a two-model one
(`specreason`, `speculative`, `foreal`) is served on the embedded pair (`serve` with no `--model`), each model
batched on its own.

    python benchmarks/serve_batching.py
    python benchmarks/serve_batching.py --strategy specreason --requests 8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(url: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in httpx.get(url + "/metrics").text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def main() -> None:
    from thinkgate.tasks import load_split

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--threads", default="1", help="torch threads of the server (OMP_NUM_THREADS)")
    ap.add_argument("--strategy", default=None, help="a strategy spec every request names (thinking.strategy)")
    a = ap.parse_args()
    from thinkgate.strategies import parse_strategy

    pair = a.strategy is not None and bool(parse_strategy(a.strategy).ROLES)
    prompts = [it.prompt for it in load_split("under")[:a.requests]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": a.threads, "PYTHONPATH": str(ROOT)}
    models = [] if pair else ["--model", "tiny"]  # no --model: the embedded pair, tiny served
    proc = subprocess.Popen([sys.executable, "-m", "thinkgate", "serve", *models, "--port", str(port),
                             "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    raise RuntimeError(proc.stderr.read().decode()[-2000:])
                time.sleep(0.1)

        client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

        def ask(prompt: str) -> dict:  # one shared client: the requests leave together, as from one app
            body = {"model": "tiny", "messages": [{"role": "user", "content": prompt}], "max_tokens": a.max_tokens}
            if a.strategy:
                body["thinking"] = {"strategy": a.strategy}
            r = client.post(url + "/v1/chat/completions", json=body)
            r.raise_for_status()
            return r.json()

        ask(prompts[0])  # warm-up
        t0 = time.perf_counter()
        seq = [ask(p) for p in prompts]
        seq_wall = time.perf_counter() - t0
        rows0, calls0 = metric(url, "thinkgate_batch_rows_sum"), metric(url, "thinkgate_batch_rows_count")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(prompts)) as pool:
            conc = list(pool.map(ask, prompts))
        conc_wall = time.perf_counter() - t0
        rows = metric(url, "thinkgate_batch_rows_sum") - rows0
        calls = metric(url, "thinkgate_batch_rows_count") - calls0
    finally:
        proc.terminate()
        proc.wait(10)
    tokens = sum(r["usage"]["completion_tokens"] for r in seq)
    same = sum(s["choices"][0]["message"]["content"] == c["choices"][0]["message"]["content"] for s, c in zip(seq, conc))
    out = {"requests": len(prompts), "max_tokens": a.max_tokens, "completion_tokens": tokens,
           "sequential_s": round(seq_wall, 2), "concurrent_s": round(conc_wall, 2),
           "speedup": round(seq_wall / conc_wall, 2), "sequential_tokens_per_s": round(tokens / seq_wall, 1),
           "concurrent_tokens_per_s": round(sum(r["usage"]["completion_tokens"] for r in conc) / conc_wall, 1),
           "generate_calls": int(calls), "mean_rows_per_call": round(rows / calls, 2) if calls else 0,
           "same_answers": same, "torch_threads": a.threads, "strategy": a.strategy or "think",
           "bar_speedup>=4": seq_wall / conc_wall >= 4}
    print(f"{len(prompts)} requests one after another: {out['sequential_s']} s ({out['sequential_tokens_per_s']} tokens/s)")
    print(f"{len(prompts)} requests at once:          {out['concurrent_s']} s ({out['concurrent_tokens_per_s']} tokens/s), "
          f"{out['generate_calls']} generate calls, {out['mean_rows_per_call']} rows each")
    print(f"speedup {out['speedup']}x; {same}/{len(prompts)} answers identical")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
