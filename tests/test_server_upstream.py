"""The upstream backend against real servers on loopback: a second `thinkgate serve` is the engine (raw prefix
and chat fallback); a fake engine that emits tool calls checks the chat fallback passes them intact; dead and
silent engines give 502 and 504."""

import json
import socket
import threading
import time

import httpx
import openai
import pytest
from _serving import InThread, check_inline, fake_engine, metric, serve
from typer.testing import CliRunner

from thinkgate.backends.openai_compat import OpenAICompatBackend
from thinkgate.cli import app as cli_app
from thinkgate.roster import resolve_model
from thinkgate.server.app import create_app

KEY = "sk-test"
ADD = "What is 48213+3977?"
EASY = "What is 5+8?"
TINY = str(resolve_model("tiny"))


@pytest.fixture(scope="module")
def servers(tiny_server):
    engine = tiny_server  # the engine: a thinkgate serve of the embedded model (API key sk-test)
    fake = fake_engine("--rate", "2000", "--tokens", "30")
    up = ("--upstream", engine.url, "--upstream-model", "tiny", "--upstream-key", KEY)
    raw = serve(*up, "--tokenizer", TINY)  # the command line's `serve --upstream`, as users start it
    chat = serve(*up, "--upstream-chat")
    from thinkgate.server.upstream_chat import UpstreamChat

    tools = InThread(create_app(None, "fake", chat=UpstreamChat(fake.wait().url, "fake")))  # in this process
    procs = {"fake": fake, "raw": raw.wait(), "chat": chat.wait(), "tools": tools}
    yield {"engine": engine, **procs}
    for p in procs.values():
        p.stop()


def ask(url, model="tiny", **body):
    return httpx.post(url + "/v1/chat/completions", json={"model": model, **body}, timeout=60)


def test_raw_prefix_upstream_matches_the_engine_and_streams(servers):
    msgs = [{"role": "user", "content": ADD}]
    direct = httpx.post(servers["engine"].url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                        json={"model": "tiny", "messages": msgs, "max_tokens": 300}, timeout=60).json()
    via = ask(servers["raw"].url, messages=msgs, max_tokens=300).json()
    assert via["choices"][0]["message"] == direct["choices"][0]["message"]
    assert via["usage"]["completion_tokens_details"] == direct["usage"]["completion_tokens_details"]
    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    reasoning, content, n = "", "", 0
    for ch in client.chat.completions.create(model="tiny", messages=msgs, max_tokens=300, stream=True):
        if ch.choices:
            r = (ch.choices[0].delta.model_extra or {}).get("reasoning_content")
            n += bool(r)
            reasoning += r or ""
            content += ch.choices[0].delta.content or ""
    assert (reasoning, content) == (direct["choices"][0]["message"]["reasoning_content"],
                                    direct["choices"][0]["message"]["content"])
    assert n > 20


@pytest.mark.parametrize("thinking", [{"budget": 12}, {"strategy": "early_exit"}, {"strategy": "parallel:n=3"},
                                      {"min_budget": 90}, {"strategy": "parallel:n=3,select=verifier", "verify": r"\d+"}])
def test_every_strategy_runs_through_the_raw_prefix_upstream(servers, thinking):
    r = ask(servers["raw"].url, messages=[{"role": "user", "content": EASY}], max_tokens=300, thinking=thinking)
    assert r.status_code == 200, r.text
    r = r.json()
    assert r["choices"][0]["message"]["content"]
    if "budget" in thinking:
        assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] == 12
    if thinking.get("strategy") == "early_exit":
        assert any(e["kind"] == "probe" for e in r["thinkgate"]["trace"])  # logprobs came from the engine
    if "min_budget" in thinking:
        assert any(e["kind"] == "extend" for e in r["thinkgate"]["trace"])
    if "verify" in thinking:  # the verifier travels with the request to the strategy
        verify = r["thinkgate"]["trace"][-1]
        assert verify["kind"] == "verify" and len(verify["detail"]["accepted"]) == 3


def test_chat_fallback_uses_the_engines_switch_and_reports_its_limits(servers):
    url = servers["chat"].url
    on = ask(url, messages=[{"role": "user", "content": EASY}], max_tokens=150).json()
    assert on["choices"][0]["message"]["reasoning_content"] and on["choices"][0]["message"]["content"] == "13"
    off = ask(url, messages=[{"role": "user", "content": EASY}], max_tokens=150, thinking={"mode": "off"}).json()
    assert off["choices"][0]["message"]["reasoning_content"] == "" and off["usage"]["completion_tokens_details"][
        "reasoning_tokens"] == 0
    assert off["thinkgate"]["mode"] == "nothink"
    # the engine (a thinkgate server, detected) takes a budget in its own field: it reaches it and holds
    capped = ask(url, messages=[{"role": "user", "content": EASY}], max_tokens=150, thinking={"budget": 10}).json()
    assert capped["thinkgate"]["strategy"] == "upstream-chat:thinkgate" and capped["thinkgate"]["budget"] == 10
    assert 0 < capped["usage"]["completion_tokens_details"]["reasoning_tokens"] <= 10
    low = ask(url, messages=[{"role": "user", "content": EASY}], max_tokens=150, reasoning_effort="minimal").json()
    assert 0 < low["usage"]["completion_tokens_details"]["reasoning_tokens"] <= 32  # the effort's budget reached it
    bad = ask(url, messages=[{"role": "user", "content": EASY}], thinking={"strategy": "early_exit"})
    assert bad.status_code == 400 and "raw_prefix" in bad.json()["error"]["message"]
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    chunks = list(client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": EASY}],
                                                 max_tokens=150, stream=True))
    assert sum(bool((c.choices[0].delta.model_extra or {}).get("reasoning_content")) for c in chunks if c.choices) > 10
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "13"


def test_chat_fallback_passes_tool_calls_intact(servers):
    client = openai.OpenAI(base_url=servers["tools"].url + "/v1", api_key="none", max_retries=0)
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object",
                                                                                  "properties": {"city": {"type": "string"}}}}}]
    r = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("weather", {"city": "Paris"})
    assert r.choices[0].finish_reason == "tool_calls"
    args, finish = "", None
    for ch in client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "Weather?"}],
                                             tools=tools, stream=True):
        for tc in ch.choices[0].delta.tool_calls or []:
            args += tc.function.arguments or ""
        finish = ch.choices[0].finish_reason or finish
    assert json.loads(args) == {"city": "Paris"} and finish == "tool_calls"
    # a tool turn goes back to the engine as it was sent
    r = client.chat.completions.create(model="fake", messages=[
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
                                                                "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}], max_tokens=30)
    assert r.choices[0].message.content


def _silent_server():
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(sock.accept()) for _ in range(16)], daemon=True).start()
    return sock


def test_dead_and_silent_engines_give_502_and_504():
    dead_port = _silent_server()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    url_dead = f"http://127.0.0.1:{dead.getsockname()[1]}"
    dead.close()  # nothing listens there now
    silent = _silent_server()
    url_silent = f"http://127.0.0.1:{silent.getsockname()[1]}"
    servers = [InThread(create_app(OpenAICompatBackend(url, "tiny", TINY, timeout=0.5), "tiny"))
               for url in (url_dead, url_silent)]
    try:
        for srv, status, code in ((servers[0], 502, "upstream_unreachable"), (servers[1], 504, "upstream_timeout")):
            for stream in (False, True):
                r = ask(srv.url, messages=[{"role": "user", "content": "hi"}], stream=stream, max_tokens=5)
                assert r.status_code == status, r.text
                assert r.json()["error"]["code"] == code
    finally:
        for s in servers:
            s.stop()
        silent.close()
        dead_port.close()


def test_cli_ask_and_bench_score_an_engine(servers, tmp_path):
    runner = CliRunner()
    up = ["--upstream", servers["engine"].url, "--upstream-model", "tiny", "--tokenizer", TINY, "--upstream-key", KEY]
    res = runner.invoke(cli_app, ["ask", EASY, "--json", *up])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["answer"] == "13"
    out = tmp_path / "b.json"
    res = runner.invoke(cli_app, ["bench", "--strategies", "nothink", "--suites", "over", "--limit", "6",
                                  "--concurrency", "6", "--json", str(out), "--fresh", *up])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["results"][0]["n"] == 6 and data["results"][0]["accuracy"] > 0.5
    res = runner.invoke(cli_app, ["ask", EASY, "--upstream", servers["engine"].url])
    assert res.exit_code == 2 and "--upstream-model" in res.output


def test_disconnect_through_the_proxy_stops_the_engine(servers):
    engine, raw = servers["engine"], servers["raw"]
    before = metric(engine.url, "thinkgate_cancelled_total"), metric(raw.url, "thinkgate_cancelled_total")
    long = "Count the letters: " + "abc " * 60
    with httpx.stream("POST", raw.url + "/v1/chat/completions", timeout=30,
                      json={"model": "tiny", "messages": [{"role": "user", "content": long}], "max_tokens": 900,
                            "stream": True}) as resp:
        for i, _ in enumerate(resp.iter_lines()):
            if i > 10:
                break
    deadline = time.time() + 10
    while metric(engine.url, "thinkgate_cancelled_total") == before[0] and time.time() < deadline:
        time.sleep(0.1)
    assert metric(raw.url, "thinkgate_cancelled_total") == before[1] + 1
    assert metric(engine.url, "thinkgate_cancelled_total") == before[0] + 1  # the engine stopped too


def test_chat_fallback_puts_the_decision_in_each_engines_own_fields():
    from thinkgate.backends.engines import EngineFieldError
    from thinkgate.server.upstream_chat import UpstreamChat

    def chat(engine):
        return UpstreamChat("http://127.0.0.1:1", "m", engine=engine)

    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "thinking": {"mode": "off"},
            "tools": [{"type": "function", "function": {"name": "f"}}]}
    kw = chat("vllm").body(body, "nothink")
    assert kw["chat_template_kwargs"] == {"enable_thinking": False} and "thinking" not in kw
    assert kw["model"] == "m" and kw["tools"] == body["tools"] and kw["temperature"] == 0.0  # greedy, sent
    assert chat("vllm").body({**body, "temperature": 0.7}, "think")["temperature"] == 0.7
    assert "chat_template_kwargs" not in chat("vllm").body(body, "auto")
    # a budget in each engine's own field; an effort as its budget there, and as the engine's own level
    assert chat("vllm").body(body, "think", budget=64)["thinking_token_budget"] == 64
    low = chat("vllm").body(body, "think", effort="low")
    assert low["thinking_token_budget"] == 128 and low["reasoning_effort"] == "low"
    assert chat("sglang").body(body, "think", budget=64)["custom_params"] == {"thinking_budget": 64}
    assert chat("llamacpp").body(body, "think", effort="minimal")["thinking_budget_tokens"] == 32
    assert chat("thinkgate").body(body, "think", budget=9, min_budget=3)["thinking"] == {"mode": "on", "budget": 9,
                                                                                       "min_budget": 3}
    assert chat("openai").body(body, "nothink")["reasoning_effort"] == "none"
    assert chat("ollama").body(body, "think", effort="minimal")["reasoning_effort"] == "low"
    assert "thinking_token_budget" not in chat("vllm").body(body, "think", effort="high")
    # where the engine has no field, a clear error naming it: never a silent drop
    for engine, kw, param, says in (
            ("openai", {"budget": 64}, "thinking.budget", "'openai' has no thinking-budget field"),
            ("ollama", {"budget": 8}, "thinking.budget", "'ollama' has no thinking-budget field"),
            ("vllm", {"min_budget": 8}, "thinking.min_budget", "'vllm' has no field for a minimum"),
            ("llama-cpp-python", {"effort": "low"}, "thinking", "'llama-cpp-python' has no thinking switch"),
            ("vllm", {"strategy": "early_exit"}, "thinking.strategy", "needs the raw-prefix upstream")):
        with pytest.raises(EngineFieldError, match=says) as e:
            chat(engine).body(body, "think", **kw)
        assert e.value.param == param
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        chat("tgi")


def test_chat_fallback_has_no_raw_completions(servers):
    r = httpx.post(servers["chat"].url + "/v1/completions", json={"model": "tiny", "prompt": "hi"}, timeout=10)
    assert r.status_code == 400 and "chat fallback" in r.json()["error"]["message"]


def test_reasoning_an_engine_split_out_is_returned_in_both_fields():
    from thinkgate.server.upstream_chat import both_reasoning_fields

    vllm = both_reasoning_fields({"choices": [{"delta": {"reasoning": "hm", "content": None}}]})
    assert vllm["choices"][0]["delta"] == {"reasoning": "hm", "reasoning_content": "hm", "content": None}
    older = both_reasoning_fields({"choices": [{"message": {"reasoning_content": "hm", "content": "4"}}]})
    assert older["choices"][0]["message"]["reasoning"] == "hm"
    plain = both_reasoning_fields({"choices": [{"delta": {"content": "4"}}]})
    assert plain["choices"][0]["delta"] == {"content": "4"}


def test_a_backend_used_before_the_server_started_moves_to_the_servers_loop(servers):
    """Probing the engine while the server is built (the capability probe, a router's preparation) starts
    the backend's private loop; once serving, its I/O moves to the server's loop, where inline strategies
    run, and requests are served (they used to hang on a greenlet switched from the wrong thread)."""
    backend = OpenAICompatBackend(servers["engine"].url, "tiny", TINY, api_key=KEY)
    # a blocking call: the private loop starts; an upstream thinkgate reports its self-certainty too
    assert {"logprobs", "self_certainty"} <= backend.capabilities
    srv = InThread(create_app(backend, "tiny", strategy="parallel:n=2", freeze_gc=False))
    try:
        body = {"model": "tiny", "messages": [{"role": "user", "content": EASY}], "max_tokens": 120}
        r = httpx.post(srv.url + "/v1/chat/completions", json=body, timeout=30)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "13"
        with httpx.stream("POST", srv.url + "/v1/chat/completions", json={**body, "stream": True}, timeout=30) as s:
            assert s.status_code == 200 and any('"content":"13"' in line.replace(" ", "") for line in s.iter_lines())
    finally:
        srv.stop()


def test_chat_fallback_puts_the_engines_reasoning_inline_when_asked(servers):
    from thinkgate.server.upstream_chat import UpstreamChat

    chat = UpstreamChat(servers["engine"].url, "tiny", api_key=KEY, engine="thinkgate")
    srv = InThread(create_app(None, "tiny", chat=chat, reasoning_format="inline", freeze_gc=False))
    try:
        check_inline(srv.url, EASY, "13", 150)
    finally:
        srv.stop()


class _Canned:
    """A stand-in engine on loopback for the write-path tests: each streamed request gets `events` (its SSE
    `data:` payloads, chat or completions by the path) in one write (`paced` 0: a burst, as an engine that
    fell behind sends it), or one write per event `paced` seconds apart; a request not streamed (the
    capability probe) gets a one-token completion."""

    def __init__(self, chat: list[dict], completions: list[dict]):
        self.events = {"/v1/chat/completions": chat, "/v1/completions": completions}
        self.paced = 0.0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            size = int(next(x.split(b":")[1] for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")))
            while len(body) < size:
                body += conn.recv(65536)
            path, req = head.split(b" ")[1].decode(), json.loads(body)
            if not req.get("stream"):
                out = json.dumps({"choices": [{"index": 0, "text": "x", "finish_reason": "length",
                                               "logprobs": {"token_logprobs": [-0.1], "top_logprobs": [{"x": -0.1}]}}]})
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(out), out.encode()))
                return
            events = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in self.events[path]] + [b"data: [DONE]\n\n"]
            frames = [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]
            head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n")
            if not self.paced:
                conn.sendall(head + b"".join(frames))
                return
            conn.sendall(head)
            for f in frames:
                time.sleep(self.paced)
                conn.sendall(f)

    def close(self):
        self.sock.close()


def _streamed(url: str, body: dict) -> tuple[int, bytes]:
    """A streamed request read off the socket: how many writes its body came in (uvicorn sends each write of
    the response as one HTTP chunk) and the body, unchunked."""
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        raw = b""
        while data := s.recv(65536):
            raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower(), raw[:300]
    parts = []
    while True:
        size, _, rest = rest.partition(b"\r\n")
        if not int(size, 16):
            return len(parts), b"".join(parts)
        parts.append(rest[:int(size, 16)])
        rest = rest[int(size, 16) + 2:]


THOUGHT = [f" w{i}" for i in range(8)]
ANSWER = [" a0", " a1", " a2"]


def _burst_then_paced(app, engine, body: dict) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    """(writes, body) of one streamed request with the engine sending everything at once, then of the same
    request with the engine pacing its chunks 20 ms apart; the app served in this process."""
    srv = InThread(app)
    try:
        burst = _streamed(srv.url, body)
        engine.paced = 0.02
        return burst, _streamed(srv.url, body)
    finally:
        srv.stop()
        engine.close()


def test_events_ready_together_leave_in_one_write_in_the_chat_fallback():
    """Chunks an engine sends at once (a burst, as one that fell behind sends them) reach the client in one
    write, and the body is byte for byte the one the same chunks give one write each."""
    from thinkgate.server.upstream_chat import UpstreamChat

    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    deltas = ([{"role": "assistant", "content": ""}] + [{"reasoning_content": w} for w in THOUGHT]
              + [{"content": w} for w in ANSWER])
    chat = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chat.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    engine = _Canned(chat, [])
    app = create_app(None, "fake", chat=UpstreamChat(engine.url, "m", engine="vllm"), freeze_gc=False)
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    (burst_writes, burst), (paced_writes, paced) = _burst_then_paced(app, engine, body)
    assert burst == paced
    events = [json.loads(e[6:]) for e in paced.decode().split("\n\n") if e.startswith("data: {")]
    assert [e["choices"][0]["delta"] for e in events[:-1]] == [
        {**d, "reasoning": d["reasoning_content"]} if "reasoning_content" in d else d for d in deltas]
    assert events[-1]["choices"][0]["finish_reason"] == "stop" and paced.endswith(b"data: [DONE]\n\n")
    assert paced_writes >= len(chat) and burst_writes <= 2  # the chunks, then [DONE] with the end of the body


def test_tokens_ready_together_leave_in_one_write_in_front_of_an_engine():
    """Raw-prefix mode, as `benchmarks/serve_overhead.py` measures it: tokens the engine sends at once reach
    the client in one write (their deltas merged), the end of the stream in one more, with the same text
    and order of events as tokens sent one at a time."""
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    pieces = THOUGHT + ["\n</think>\n\n"] + ANSWER
    completions = [{**base, "choices": [{"index": 0, "text": p, "finish_reason": None, "logprobs": None}]}
                   for p in pieces]
    completions.append({**base, "choices": [{"index": 0, "text": "", "finish_reason": "stop", "logprobs": None}]})
    engine = _Canned([], completions)
    app = create_app(OpenAICompatBackend(engine.url, "m", TINY), "fake", freeze_gc=False)
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 50}

    def parts(sse: bytes) -> list[tuple[str, str]]:
        out = []
        for e in sse.decode().split("\n\n"):
            if e.startswith("data: {"):
                choice = json.loads(e[6:])["choices"][0]
                d = choice["delta"]
                kind = "role" if "role" in d else "reasoning" if "reasoning_content" in d else \
                    "content" if d.get("content") else f"finish:{choice['finish_reason']}"
                text = d.get("reasoning_content") or d.get("content") or ""
                if out and out[-1][0] == kind and kind in ("reasoning", "content"):
                    out[-1] = (kind, out[-1][1] + text)
                else:
                    out.append((kind, text))
            elif e:
                out.append((e, ""))
        return out

    (burst_writes, burst), (paced_writes, paced) = _burst_then_paced(app, engine, body)
    expected = [("role", ""), ("reasoning", "".join(THOUGHT).strip()), ("content", "".join(ANSWER).strip()),
                ("finish:stop", ""), ("data: [DONE]", "")]
    assert parts(burst) == parts(paced) == expected
    assert paced_writes >= len(pieces) and burst_writes <= 2


def test_raw_completions_stream_through_an_engine(servers):
    """`/v1/completions` streamed by thinkgate in front of an engine (raw-prefix mode, the command line's
    `serve --upstream`): the engine's pieces arrive as they are written, add up to the text the same request
    gets unstreamed, and the stream ends with its reason and [DONE] (it was a 500: the completions sink
    lacked what an engine backend calls when the engine answers)."""
    import openai

    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    prompt = "<|im_start|>user\nWhat is 5+8?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    whole = client.completions.create(model="tiny", prompt=prompt, max_tokens=24)
    parts = list(client.completions.create(model="tiny", prompt=prompt, max_tokens=24, stream=True))
    pieces = [p.choices[0].text for p in parts if p.choices and p.choices[0].text]
    assert len(pieces) > 3 and "".join(pieces) == whole.choices[0].text
    assert parts[-1].choices[0].finish_reason == whole.choices[0].finish_reason
