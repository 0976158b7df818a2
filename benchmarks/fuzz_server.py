"""Fuzz a `thinkgate serve` on loopback with hostile and malformed requests, and watch it hold up.

Starts the server on the embedded model (or uses `--url`), then sends `--requests` requests from
`--concurrency` keep-alive clients: every reproducer of the reliability issue (lone surrogates in any field,
catastrophic and broken verifier patterns, a 5 MB body, 10,000 messages, a request naming a server folder,
empty prompts, a temperature of 1e-300, loop counts and max_tokens past the limits, a wrong key before a
broken body), and seeded random mutations of valid chat and completion bodies (fields dropped, retyped,
huge, negative, nested, non-UTF-8, truncated JSON, wrong methods and paths). Meanwhile a watcher asks
`/health` every quarter second. It prints the status counts, every 5xx body, connections dropped, the
slowest health answer and the server's resident-memory growth (after a warm-up of 100 requests), and as
its last line the same as JSON.

    python benchmarks/fuzz_server.py --requests 5000

With `--engine raw` or `--engine chat` the server runs in front of a stand-in engine that misbehaves on request
(`benchmarks/bad_engine.py`), in raw-prefix mode (`--upstream ... --tokenizer`) or in the chat fallback
(`--upstream-chat`), with `--upstream-timeout 5 --upstream-idle-timeout 2`: a tenth of the requests name one
of the engine's faults in turn (a 60 MB body, 8 MB of text past max_tokens, silence, wrong types, ...),
streamed and not, and the rest are the random mutations. Then a 5xx other than 502 and 504 counts as a
failure, and so does a 200 that carries no text (no content, no reasoning, no tool call, no error event) and
a request that took longer than the engine's deadline and 3 s more; the figures add `empty_200` and
`over_deadline`, and `rss_peak_growth_mb` (the highest resident memory seen, against the baseline).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-fuzz"
CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
RESPONSES, MESSAGES, OLLAMA = "/v1/responses", "/v1/messages", "/api/chat"  # the other APIs' faces


def reproducers() -> list[tuple[str, str, bytes, dict]]:
    """(method, path, body, headers) of each case the issue found, by hand."""
    s = '"\\ud800"'
    chat = lambda extra="": ('{"model":"tiny","max_tokens":8,"messages":[{"role":"user","content":"hi"}]%s}' % extra)  # noqa: E731
    raw = [
        (COMPLETIONS, '{"model":"tiny","prompt":"x","stop":[%s]}' % s),
        (COMPLETIONS, '{"model":"tiny","prompt":%s}' % s),
        (CHAT, '{"model":"tiny","messages":[{"role":"user","content":%s}]}' % s),
        (CHAT, '{"model":"tiny","stream":true,"messages":[{"role":"user","content":%s}]}' % s),
        (CHAT, chat(',"thinking":{"strategy":"early_exit:words=\\ud800"}')),
        (CHAT, chat(',"thinking":{"strategy":"parallel:n=1,select=verifier","verify":"((((.*)*)*)*)*!"}')),
        (CHAT, chat(',"thinking":{"strategy":"parallel:n=2,select=verifier","verify":"(a|aa)+$"}')),
        (CHAT, chat(',"thinking":{"strategy":"parallel:n=1,select=verifier","verify":"a{4294967296}"}')),
        (CHAT, chat(',"thinking":{"strategy":"parallel:n=1,select=verifier","verify":"%s%s"}' % ("(" * 3000, ")" * 3000))),
        (CHAT, chat(',"thinking":{"strategy":"route:dir=/etc"}')),
        (CHAT, chat(',"thinking":{"strategy":"parallel:n=100000"}')),
        (CHAT, chat(',"temperature":1e-300')),
        (CHAT, chat().replace('"max_tokens":8', '"max_tokens":1000000000')),
        (COMPLETIONS, '{"model":"tiny","prompt":""}'),
        (COMPLETIONS, '{"model":"tiny","prompt":"x","n":100000}'),
        (CHAT, '{"model":"tiny","messages":[%s]}' % ",".join(['{"role":"user","content":"hi"}'] * 10000)),
        (CHAT, '{"model":"tiny","messages":[{"role":"user","content":"%s"}]}' % ("x" * (5 << 20))),
    ]
    raw += [
        (RESPONSES, '{"model":"tiny","input":%s}' % s),
        (RESPONSES, '{"model":"tiny","input":[{"type":"reasoning","content":[{"type":"reasoning_text","text":%s}]}]}' % s),
        (RESPONSES, '{"model":"tiny","input":"hi","stream":true,"reasoning":{"effort":"xhigh"},"max_output_tokens":1000000000}'),
        (RESPONSES, '{"model":"tiny","input":[%s]}' % ",".join(['{"role":"user","content":"hi"}'] * 10000)),
        (MESSAGES, '{"model":"tiny","max_tokens":8,"system":%s,"messages":[{"role":"user","content":"hi"}]}' % s),
        (MESSAGES, '{"model":"tiny","max_tokens":8,"thinking":{"type":"enabled","budget_tokens":8},"messages":[{"role":"user","content":"hi"}]}'),
        (MESSAGES, '{"model":"tiny","max_tokens":8,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":%s}]}]}' % s),
        (OLLAMA, '{"model":"tiny","messages":[{"role":"user","content":%s}]}' % s),
        (OLLAMA, '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":1000000000}}'),
        (OLLAMA, '{"model":"tiny","messages":[{"role":"user","content":"hi","images":["x"]}],"think":"max"}'),
    ]
    out = [("POST", p, b.encode(), {}) for p, b in raw]
    out.append(("POST", CHAT, b"{not json", {"Authorization": "Bearer wrong"}))
    out.append(("POST", MESSAGES, b"{not json", {"x-api-key": "wrong"}))
    out.append(("POST", COMPLETIONS, b'{"model":"tiny","prompt":"\xed\xa0\x80"}', {}))
    return out


VALID_CHAT = {"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": "What is 5+8?"}]}
VALID_COMPLETION = {"model": "tiny", "max_tokens": 4, "prompt": "The answer is"}
VALID = {CHAT: VALID_CHAT, COMPLETIONS: VALID_COMPLETION,
         RESPONSES: {"model": "tiny", "max_output_tokens": 8, "input": "What is 5+8?"},
         MESSAGES: {"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": "What is 5+8?"}]},
         OLLAMA: {"model": "tiny", "stream": False, "options": {"num_predict": 8},
                  "messages": [{"role": "user", "content": "What is 5+8?"}]}}
WEIRD = ["", "\ud800", "\udfff", "\x00", "/no_think", "/think", "<think>", "</think>", "é" * 50, "🙂" * 20,
         "\\", "%s", "{{ x }}", "{% for x in y %}", "a" * 3000, "\u202e", "\ufeff"]
NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64, 2**70, -(2**70), 1e-300, 5e-324, 1e308, -0.0, 0.5, 3, 16, 10**9,
           float("nan"), float("inf")]  # NaN and Infinity: Python's JSON reader accepts them
STRATEGIES = ["think", "nothink", "budget:max=4", "budget:min=2,max=4", "early_exit:max_probes=1", "parallel:n=2",
              "thinkless:at=2", "dont_overthink", "nothinking", "route", "auto", "route:think_rate=0.5", "route:then=think",
              "cascade", "cascade:signal=mean,then=budget;max=4", "cascade:threshold=2", "cascade:then=cascade",
              "deepconf:n=2,warmup=1", "deepconf:mode=offline,n=2", "deepconf:warmup=9,n=2",
              "self", "telepathy", "budget:max=-1", "parallel:n=x", "route:dir=/tmp", "budget:", ":", "early_exit:words=",
              # two models (the server runs the embedded pair): each strategy, a model it does not have, bad lists
              "speculative:max_step=4", "specreason:max_step=4", "foreal:lead=2", "specreason:small=nope",
              "speculative:verify=", "foreal:ends=;;", "route:then=foreal", "specreason:scorer=judge,max_step=2",
              "route:models=tiny;mini", "route:models=mini;tiny,think_rate=0.3", "route:models=all,then=think",
              "route:models=mini;nope", "think@mini", "budget:max=8@mini", "think@nope", "specreason@mini",
              "route:models=tiny;mini,router=probe,threshold=2", "route:dir=/x\\@y"]


def scalar(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(WEIRD)
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return [scalar(rng) for _ in range(rng.randrange(4))]
    if kind == 4:
        return {rng.choice(["a", "role", "content", "type", "text", "\ud800"]): scalar(rng) for _ in range(rng.randrange(3))}
    return rng.choice(STRATEGIES)


def mutate(rng: random.Random, body: dict) -> dict:
    body = copy.deepcopy(body)
    fields = ["model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "seed",
              "n", "stop", "stream", "stream_options", "thinking", "reasoning_effort", "chat_template_kwargs", "think",
              "prompt", "logprobs", "top_logprobs", "echo", "tools", "user",
              # the other APIs' fields (each path gets every API's fields, its own and others')
              "input", "instructions", "reasoning", "max_output_tokens", "include", "store", "previous_response_id",
              "text", "tool_choice", "system", "stop_sequences", "output_config", "thinkgate", "options", "format",
              "keep_alive"]
    for _ in range(rng.randrange(1, 4)):
        field = rng.choice(fields)
        roll = rng.random()
        if roll < 0.15:
            body.pop(field, None)
        elif field == "thinking" and roll < 0.5:  # Anthropic's
            body["thinking"] = {k: v for k, v in {
                "type": rng.choice(["enabled", "disabled", "adaptive", scalar(rng)]),
                "budget_tokens": rng.choice([0, 4, 8, 16, -1, 10**9, scalar(rng)]),
                "display": rng.choice(["omitted", "summarized", scalar(rng)])}.items() if rng.random() < 0.6}
        elif field == "reasoning":
            body["reasoning"] = {k: v for k, v in {
                "effort": rng.choice(["none", "minimal", "low", "high", "xhigh", "max", scalar(rng)]),
                "summary": rng.choice(["auto", "detailed", scalar(rng)])}.items() if rng.random() < 0.6}
        elif field == "options":
            body["options"] = {k: v for k, v in {
                "num_predict": rng.choice([-2, -1, 0, 4, 8, 10**9, scalar(rng)]), "temperature": scalar(rng),
                "repeat_penalty": rng.choice([1, 1.1, scalar(rng)]), "num_ctx": 2048, "stop": scalar(rng),
                rng.choice(["seed", "seed", "max_tokens", "\ud800"]): rng.choice([1, scalar(rng)])}.items()
                if rng.random() < 0.5}
        elif field == "input" and roll < 0.6:
            body["input"] = [{"type": rng.choice(["message", "reasoning", "function_call", "function_call_output",
                                                  "input_image", scalar(rng)]),
                              "role": rng.choice(["user", "assistant", "developer", "tool"]),
                              "content": rng.choice([rng.choice(WEIRD), [{"type": rng.choice(["input_text", "reasoning_text",
                                                                                             "input_image"]),
                                                                          "text": rng.choice(WEIRD)}], scalar(rng)]),
                              "call_id": rng.choice(["c1", scalar(rng)]), "name": "f", "arguments": rng.choice(["{}", scalar(rng)]),
                              "output": scalar(rng)} for _ in range(rng.randrange(0, 4))]
        elif field == "thinking" or field == "thinkgate":
            body[field] = {k: v for k, v in {
                "mode": rng.choice(["on", "off", "auto", scalar(rng)]), "budget": rng.choice([None, 0, 4, -3, 10**9]),
                "min_budget": rng.choice([None, 0, 2, 100]), "strategy": rng.choice(STRATEGIES + [scalar(rng)]),
                "verify": rng.choice([None, "\\d+", "(a|aa)+$", "(", scalar(rng)])}.items() if rng.random() < 0.6}
        elif field == "messages" and roll < 0.6:
            body["messages"] = [{"role": rng.choice(["user", "system", "assistant", "developer", "tool", "x"]),
                                 "content": rng.choice([rng.choice(WEIRD), scalar(rng),
                                                        [{"type": rng.choice(["text", "image_url"]), "text": rng.choice(WEIRD)}]])}
                                for _ in range(rng.randrange(0, 4))]
        elif field == "stream":
            body["stream"] = rng.random() < 0.7
        elif field in ("logprobs", "top_logprobs") and roll < 0.6:  # values a client sends, and some it should not
            body[field] = rng.choice([True, False, 0, 1, 2, 5, 20, 21, -1] if field == "logprobs" else [0, 1, 2, 20, 21, -1])
        else:
            body[field] = scalar(rng)
    for name in ("max_tokens", "max_output_tokens"):
        if isinstance(body.get(name), int) and 0 < body[name] < 10**6:
            body[name] = min(body[name], 16)  # keep what generates short: this is about input
    options = body.get("options")
    if isinstance(options, dict) and isinstance(options.get("num_predict"), int) and options["num_predict"] > 16:
        options["num_predict"] = 16
    return body


def random_case(rng: random.Random) -> tuple[str, str, bytes, dict]:
    roll = rng.random()
    if roll < 0.05:  # wrong methods, paths, content
        return rng.choice([("GET", CHAT, b"", {}), ("PUT", COMPLETIONS, b"{}", {}), ("POST", "/v1/nope", b"{}", {}),
                           ("POST", "/v1/models", b"", {}), ("DELETE", "/health", b"", {}),
                           ("POST", CHAT, b"\xff\xfe\x00", {}), ("POST", CHAT, b"", {}),
                           ("POST", CHAT, b"[]", {}), ("POST", CHAT, b'{"model": "tiny"', {}),
                           ("POST", CHAT, json.dumps(VALID_CHAT).encode(), {"Content-Type": "text/plain"}),
                           ("POST", CHAT, json.dumps(VALID_CHAT).encode(), {"Authorization": ""}),
                           ("GET", OLLAMA, b"", {}), ("POST", "/api/tags", b"{}", {}), ("GET", "/api/tags", b"", {}),
                           ("GET", RESPONSES, b"", {}), ("POST", MESSAGES, b"[]", {}),
                           ("POST", MESSAGES, json.dumps(VALID[MESSAGES]).encode(), {"x-api-key": ""})])
    path = rng.choices([CHAT, COMPLETIONS, RESPONSES, MESSAGES, OLLAMA], weights=[40, 15, 15, 15, 15])[0]
    body = json.dumps(mutate(rng, VALID[path])).encode()
    if rng.random() < 0.03:
        body = body[:rng.randrange(len(body))]  # truncated
    return ("POST", path, body, {})


ENGINE_TIMEOUT, ENGINE_IDLE = 5, 2


def fault_cases(mode: str) -> list[tuple[str, str, bytes, dict]]:
    """Each of the stand-in engine's faults, named in a request, streamed and not (and through raw
    completions too, in raw-prefix mode)."""
    from bad_engine import FAULTS

    out = []
    for fault in sorted(FAULTS):
        for stream in (False, True):
            chat = {**VALID_CHAT, "max_tokens": 48, "stream": stream,
                    "messages": [{"role": "user", "content": f"fault:{fault} What is 5+8?"}]}
            out.append(("POST", CHAT, json.dumps(chat).encode(), {}))
            question = f"fault:{fault} What is 5+8?"  # the other APIs' faces, on the same faults
            for path, body in ((RESPONSES, {**VALID[RESPONSES], "max_output_tokens": 48, "input": question}),
                               (MESSAGES, {**VALID[MESSAGES], "max_tokens": 48,
                                           "messages": [{"role": "user", "content": question}]}),
                               (OLLAMA, {**VALID[OLLAMA], "options": {"num_predict": 48},
                                         "messages": [{"role": "user", "content": question}]})):
                out.append(("POST", path, json.dumps({**body, "stream": stream}).encode(), {}))
            if mode == "raw":
                done = {**VALID_COMPLETION, "max_tokens": 48, "stream": stream, "prompt": f"fault:{fault} The answer is"}
                out.append(("POST", COMPLETIONS, json.dumps(done).encode(), {}))
    return out


def _says(ev: dict) -> bool:
    """Whether one event, chunk or whole body of any of the served APIs carries text, a tool call or an error."""
    if "error" in ev or ev.get("type") in ("error", "response.failed"):
        return True
    for c in ev.get("choices") or []:  # chat completions and completions
        d = c.get("delta") or c.get("message") or {}
        if c.get("text") or d.get("content") or d.get("reasoning_content") or d.get("tool_calls"):
            return True
    if ev.get("type", "").endswith((".delta", "content_block_delta")):  # Responses and Messages deltas
        d = ev.get("delta")
        return bool(d if isinstance(d, str) else (d or {}).get("text") or (d or {}).get("thinking")
                    or (d or {}).get("partial_json"))
    for item in ev.get("output") or []:  # a whole Responses body
        if item.get("type") == "function_call" or any(p.get("text") for p in item.get("content") or []):
            return True
    if ev.get("type") == "message" and any(b.get("text") or b.get("thinking") or b.get("type") == "tool_use"
                                           for b in ev.get("content") or []):  # a whole Messages body
        return True
    m = ev.get("message") if isinstance(ev.get("message"), dict) else {}  # Ollama
    return bool(m.get("content") or m.get("thinking") or m.get("tool_calls"))


def carries_text(r: httpx.Response) -> bool:
    """Whether a 200 says something: text, reasoning or a tool call, whole or streamed (server-sent events or
    Ollama's NDJSON), or an error event."""
    kind = r.headers.get("content-type", "")
    if kind.startswith(("text/event-stream", "application/x-ndjson")):
        lines = [ln[6:] if ln.startswith("data: ") else ln for ln in r.text.splitlines()]
        return any(_says(json.loads(ln)) for ln in lines if ln.startswith("{"))
    try:
        data = r.json()
    except ValueError:
        return False
    if "data" in data or "status" in data and "output" not in data or "models" in data:  # /v1/models, /health, tags
        return True
    return _says(data)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=100, help="requests before the memory baseline is read")
    ap.add_argument("--engine", choices=["none", "raw", "chat"], default="none", help=(
        "none: the embedded model; raw or chat: in front of the misbehaving stand-in engine, in that mode"))
    a = ap.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _serving import Process, serve

    engine = None
    if a.engine == "none":
        server = serve("--model", "tiny", "--model", "mini", "--api-key", KEY, "--max-queue", "16").wait()
        cases = reproducers()
    else:
        from thinkgate.roster import resolve_model

        engine = Process([sys.executable, str(ROOT / "benchmarks" / "bad_engine.py"), "--port", "{port}",
                          "--slow", "20"], probe="/v1/models").wait()
        mode = ("--tokenizer", str(resolve_model("tiny"))) if a.engine == "raw" else \
            ("--upstream-chat", "--engine", "vllm", "--tokenizer", str(resolve_model("tiny")))
        server = serve("--upstream", engine.url, "--upstream-model", "bad", "--served-model-name", "tiny",
                       "--upstream-timeout", str(ENGINE_TIMEOUT), "--upstream-idle-timeout", str(ENGINE_IDLE),
                       "--api-key", KEY, "--max-queue", "16", *mode).wait()
        cases = fault_cases(a.engine)
    pid = server.proc.pid
    rng = random.Random(a.seed)
    plan = [cases[i % len(cases)] if i % 10 == 0 else random_case(rng) for i in range(a.requests)]
    statuses: Counter = Counter()
    five_xx: list[dict] = []
    empty: list[dict] = []  # 200s that say nothing
    late: list[dict] = []  # requests past the engine's deadline and 3 s
    peak = {"kb": 0}
    dropped: list[str] = []
    lock = threading.Lock()
    sent = [0]
    rss = {"base": rss_kb(pid) if a.warmup == 0 else None}
    health = {"max_s": 0.0, "slow": 0, "failed": 0, "checks": 0}
    trajectory: list[tuple[int, float, float]] = []  # (requests sent, resident MB, when), every 5 s
    done = threading.Event()

    def watch():
        with httpx.Client(timeout=5) as c:
            while not done.is_set():
                t = time.perf_counter()
                try:
                    ok = c.get(server.url + "/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                took = time.perf_counter() - t
                health["checks"] += 1
                health["max_s"] = max(health["max_s"], took)
                health["slow"] += took > 1.0
                health["failed"] += not ok
                now_kb = rss_kb(pid)
                peak["kb"] = max(peak["kb"], now_kb)
                if not trajectory or time.time() - trajectory[-1][2] >= 5:
                    trajectory.append((sent[0], round(now_kb / 1024, 1), time.time()))
                done.wait(0.25)

    def worker(k: int):
        client = httpx.Client(timeout=60)
        for i in range(k, len(plan), a.concurrency):
            method, path, body, headers = plan[i]
            hdrs = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **headers}
            try:
                t = time.perf_counter()
                r = client.request(method, server.url + path, content=body, headers=hdrs)
                took = time.perf_counter() - t
                status = r.status_code
                what = {"path": path, "status": status, "body": r.text[:300], "s": round(took, 2),
                        "request": body[:200].decode("utf-8", "replace")}
                if status >= 500 and not (engine is not None and status in (502, 504)):
                    with lock:
                        five_xx.append(what)
                if engine is not None and status == 200 and not carries_text(r):
                    with lock:
                        empty.append(what)
                if engine is not None and took > ENGINE_TIMEOUT + 3:
                    with lock:
                        late.append(what)
                if r.headers.get("connection", "").lower() == "close" and status != 413:
                    with lock:
                        dropped.append(f"{path} {status}: the server closed the connection")
            except httpx.HTTPError as e:
                status = "dropped"
                with lock:
                    dropped.append(f"{path}: {type(e).__name__}: {e}")
                client.close()
                client = httpx.Client(timeout=60)
            with lock:
                statuses[str(status)] += 1
                sent[0] += 1
                if rss["base"] is None and sent[0] >= a.warmup:
                    rss["base"] = rss_kb(pid)
        client.close()

    # first each reproducer alone, timed, each followed by a normal request that must still be served (the
    # watcher already asks /health and follows the memory from the server's start)
    rss0 = rss_kb(pid)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    repro = []
    with httpx.Client(timeout=60) as c:
        for method, path, body, headers in cases:
            t = time.perf_counter()
            r = c.request(method, server.url + path, content=body,
                          headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **headers})
            took = time.perf_counter() - t
            after = c.post(server.url + CHAT, json={**VALID_CHAT, "thinking": {"mode": "off"}},
                           headers={"Authorization": f"Bearer {KEY}"})
            repro.append({"case": body[:70].decode("utf-8", "replace"), "status": r.status_code,
                          "s": round(took, 3), "then_served": after.status_code == 200})
    started = time.time()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.concurrency)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        watcher.join()
        end_rss = rss_kb(pid)
        alive = server.proc.poll() is None
    finally:
        server.stop()
        if engine is not None:
            engine.stop()
    growth_mb = round((end_rss - (rss["base"] or end_rss)) / 1024, 1)
    out = {"requests": sent[0], "wall_s": round(time.time() - started, 1), "statuses": dict(sorted(statuses.items())),
           "five_xx": len(five_xx), "dropped_connections": len(dropped), "health_checks": health["checks"],
           "health_max_s": round(health["max_s"], 3), "health_over_1s": health["slow"], "health_failed": health["failed"],
           "rss_start_mb": round((rss["base"] or 0) / 1024, 1), "rss_end_mb": round(end_rss / 1024, 1),
           "rss_growth_mb": growth_mb, "server_alive": alive,
           "rss_trajectory_mb": [[n, mb] for n, mb, _ in trajectory],
           "reproducers": len(repro), "reproducers_over_5s": sum(x["s"] > 5 for x in repro),
           "reproducers_5xx": sum(x["status"] >= 500 and not (engine is not None and x["status"] in (502, 504))
                                  for x in repro),
           "reproducers_then_served": sum(x["then_served"] for x in repro), "engine": a.engine}
    if engine is not None:
        out.update(empty_200=len(empty), over_deadline=len(late),
                   rss_at_start_mb=round(rss0 / 1024, 1), rss_peak_mb=round(peak["kb"] / 1024, 1),
                   rss_peak_growth_from_start_mb=round((peak["kb"] - rss0) / 1024, 1))
    for x in repro:
        print(f"reproducer {x['status']} in {x['s']:.3f} s, then served: {x['then_served']}  {x['case']!r}")
    print(f"sent {out['requests']} requests in {out['wall_s']} s; statuses {out['statuses']}")
    for e in five_xx[:20]:
        print("5xx:", json.dumps(e))
    for d in dropped[:20]:
        print("dropped:", d)
    for e in empty[:20]:
        print("empty 200:", json.dumps(e))
    for e in late[:20]:
        print("past the deadline:", json.dumps(e))
    print(f"/health: {health['checks']} checks, slowest {out['health_max_s']} s, {health['slow']} over 1 s, "
          f"{health['failed']} failed; resident memory {out['rss_start_mb']} -> {out['rss_end_mb']} MB")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
