"""An engine that misbehaves (benchmarks/bad_engine.py, every fault it has) in front of `thinkgate serve` in
both engine modes — raw prefix (`--upstream ... --tokenizer ...`) and the chat fallback (`--upstream-chat`) —
streamed and not: every fault is a JSON 502 or 504 naming what the engine did (streamed after a first piece:
an error event, then `[DONE]`), or an answer that is right (cut at max_tokens, usage counted here); never a
500, an empty 200 or a request past its deadline."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from _serving import ROOT, Process, metric, serve

from thinkgate.roster import resolve_model

TINY = str(resolve_model("tiny"))
TIMEOUT, IDLE = 5, 2
DEADLINE = TIMEOUT + 3  # the engine's deadline, and the server's own time around it
CUT = 8  # max_tokens where an engine is to be cut


@pytest.fixture(scope="module")
def engines():
    bad = Process([sys.executable, str(ROOT / "benchmarks" / "bad_engine.py"), "--port", "{port}", "--slow", "30"],
                  probe="/v1/models").wait()
    up = ("--upstream", bad.url, "--upstream-model", "bad", "--upstream-timeout", str(TIMEOUT),
          "--upstream-idle-timeout", str(IDLE), "--max-tokens", "64")
    procs = {"raw": serve(*up, "--tokenizer", TINY), "chat": serve(*up, "--upstream-chat", "--engine", "vllm",
                                                                      "--tokenizer", TINY)}
    for p in procs.values():
        p.wait()
    yield {"bad": bad, **procs}
    for p in (bad, *procs.values()):
        p.stop()


def call(url: str, fault: str, stream: bool, max_tokens: int | None = None, path: str = "/v1/chat/completions") -> dict:
    """One request naming `fault`: its status, its answer (text, finish reason, usage) or its error (code,
    message), whether a stream ended with [DONE], and how long it took."""
    # the stand-in's words are several of the shipped tokenizer's tokens: room for its 8, unless cut
    max_tokens = max_tokens or (CUT if ANSWERED.get(fault) == "cut" else 48)
    body = {"model": "bad", "max_tokens": max_tokens, "stream": stream}
    if path == "/v1/chat/completions":
        body["messages"] = [{"role": "user", "content": f"fault:{fault} What is 5+8?"}]
    else:
        body["prompt"] = f"fault:{fault} The answer is"
    if stream:
        body["stream_options"] = {"include_usage": True}
    out = {"text": "", "finish": None, "usage": None, "usages": [], "error": None, "done": False, "stream": stream,
           "cut": None}
    started = time.perf_counter()
    with httpx.stream("POST", url + path, json=body, timeout=30) as r:
        out["status"] = r.status_code
        if r.status_code != 200 or not stream:
            data = json.loads(r.read())
            if r.status_code != 200:
                out["error"] = data["error"]
            else:
                c = data["choices"][0]
                msg = c.get("message") or {}
                out.update(text=c.get("text") or (msg.get("reasoning_content") or "") + (msg.get("content") or ""),
                           finish=c["finish_reason"], usage=data.get("usage"), cut=(data.get("thinkgate") or {}).get("cut"))
                out["usages"] = [data["usage"]] if data.get("usage") else []
        else:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    out["done"] = True
                    continue
                ev = json.loads(line[6:])
                if "error" in ev:
                    out["error"] = ev["error"]
                    continue
                out["usage"] = ev.get("usage") or out["usage"]
                out["usages"] += [ev["usage"]] if ev.get("usage") else []
                out["cut"] = (ev.get("thinkgate") or {}).get("cut") or out["cut"]
                for c in ev.get("choices") or []:
                    d = c.get("delta") or {}
                    out["text"] += c.get("text") or (d.get("reasoning_content") or "") + (d.get("content") or "")
                    out["finish"] = c.get("finish_reason") or out["finish"]
    out["s"] = time.perf_counter() - started
    return out


# fault -> what the client gets: "ok" (the right answer), "cut" (cut at max_tokens), "usage" (the answer, with
# usage counted here), or the engine-fault status, with a word its message must hold; per mode where they differ
ANSWERED = {"ok": "ok", "http10": "ok", "done_open": "ok", "trickle": "cut", "ignore_max": "cut",
            "negative_usage": "usage", "reasoning_over": "usage", "usage_str": "usage"}
FAILED = {"huge_body": (502, "limit"), "not_json": (502, "not JSON"), "redirect302": (502, "redirect"),
          "redirect307": (502, "redirect"), "no_content": (502, "204"), "silent": (504, "stopped answering"),
          "endless": (504, "within 5 s"), "early_close": (502, ("ended before the answer did", "broke the connection")),
          "choices_str": (502, "choices is str"),
          "choices_item": (502, "choices[0] is int"), "text_type": (502, "is int 5"),
          "negative_length": (502, "Content-Length"), "negative_chunk": (502, "chunk size"),
          "stream_error": (502, "failed mid-stream"), "empty200": (502, "not JSON"), "error500": (502, "KV cache"),
          "not_http": (502, "malformed"), "json_to_stream": (502, "not an event stream")}
BY_MODE = {("raw", "logprobs_junk"): (502, "token_logprobs"), ("chat", "logprobs_junk"): "ok",
           ("raw", "tool_calls_str"): "ok", ("chat", "tool_calls_str"): (502, "tool_calls is str"),
           ("raw", "message_str"): "ok", ("chat", "message_str"): (502, "is str 'x'"),
           ("chat", "json_to_stream", False): "ok", ("raw", "json_to_stream", False): (502, "not an event stream"),
           # the raw-prefix mode streams every engine request: a body that is no stream is named so
           ("raw", "empty200"): (502, "not an event stream"), ("chat", "empty200", True): (502, "not an event stream"),
           # the stand-in streams these whatever was asked: a whole answer that never ends, or is no JSON
           ("chat", "done_open", False): (504, "stopped answering"), ("chat", "trickle", False): (504, "within 5 s"),
           ("chat", "stream_error", False): (502, "not JSON")}
FAULTS = sorted({*ANSWERED, *FAILED, "logprobs_junk", "tool_calls_str", "message_str"})


def expected(mode: str, fault: str, stream: bool):
    return BY_MODE.get((mode, fault, stream), BY_MODE.get((mode, fault), ANSWERED.get(fault) or FAILED.get(fault)))


def check(got: dict, want, fault: str, mode: str = "raw") -> None:
    assert got["s"] < DEADLINE, f"{fault}: {got['s']:.1f} s"
    if isinstance(want, tuple):  # the engine's fault, named
        status, words = want
        assert got["error"] is not None and got["status"] in (status, 200), got
        assert any(w in got["error"]["message"] for w in ((words,) if isinstance(words, str) else words)), got["error"]
        codes = ("upstream_timeout",) if status == 504 else ("upstream_error", "upstream_unreachable")
        assert got["error"]["code"] in codes, got["error"]
        if got["status"] == 200:  # it failed after the stream started: the error event, then [DONE]
            assert got["done"], got
        return
    assert got["status"] == 200 and got["error"] is None, got
    assert got["text"], got  # never an empty 200
    assert got["done"] or not got["stream"], got  # a stream ends with [DONE]
    for u in got["usages"]:  # whatever usage reached the client is sound
        assert min(v for v in u.values() if isinstance(v, int)) >= 0, u
        assert (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0) <= u["completion_tokens"], u
    if want == "ok":
        assert got["text"].endswith("The answer is 13") or got["text"].endswith(" 13"), got
    elif want == "cut":
        assert got["finish"] == "length" and len(got["text"]) <= 4 * CUT, got  # uncut: thousands
        if got["usage"] is not None:
            assert got["usage"]["completion_tokens"] <= CUT + 2, got["usage"]
        if mode == "chat":  # the fallback says it cut the engine off
            assert got["cut"] and "max_tokens" in got["cut"], got
    elif want == "usage":
        u = got["usage"]
        assert u is not None and u["completion_tokens"] >= 0 and u["prompt_tokens"] >= 0, got
        details = u.get("completion_tokens_details") or {}
        assert details.get("reasoning_tokens", 0) <= u["completion_tokens"], u


@pytest.mark.parametrize("mode", ["raw", "chat"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_engine_fault_is_named_or_answered_right(engines, mode, stream):
    # the faults at once, as a server meets them: each one's deadline is its own (the waits for the timeouts,
    # one after another, took most of this test's time)
    with ThreadPoolExecutor(max_workers=len(FAULTS)) as pool:
        answers = list(pool.map(lambda fault: call(engines[mode].url, fault, stream), FAULTS))
    bad = []
    for fault, got in zip(FAULTS, answers):
        try:
            check(got, expected(mode, fault, stream), fault, mode)
        except AssertionError as e:
            bad.append(f"{fault}: {e}")
    assert not bad, "\n".join(bad)
    assert httpx.get(engines[mode].url + "/health").json()["status"] == "ok"


@pytest.mark.parametrize("stream", [False, True])
def test_raw_completions_name_engine_faults_too(engines, stream):
    url = engines["raw"].url
    for fault in ("choices_item", "not_json", "silent", "early_close"):
        check(call(url, fault, stream, path="/v1/completions"), FAILED[fault], fault)
    check(call(url, "ignore_max", stream, path="/v1/completions"), "cut", "ignore_max")
    check(call(url, "ok", stream, path="/v1/completions"), "ok", "ok")


@pytest.mark.parametrize("mode", ["raw", "chat"])
def test_a_client_that_leaves_cancels_its_engine_request(engines, mode):
    """A request that is not streamed, to an engine that takes 30 s: the client leaves after one second, the
    engine's request is closed at once, and the server counts it as cancelled and in requests_total."""
    url, bad = engines[mode].url, engines["bad"].url

    def closed() -> int:
        return httpx.get(bad + "/stats").json()["closed_by_fault"].get("slow", 0)

    before = closed()
    cancelled, requests = metric(url, "thinkgate_cancelled_total"), metric(url, "thinkgate_requests_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/chat/completions", timeout=1.0,
                   json={"model": "bad", "max_tokens": 8, "messages": [{"role": "user", "content": "fault:slow hi"}]})
    deadline = time.time() + 5
    while closed() == before and time.time() < deadline:
        time.sleep(0.1)
    assert closed() == before + 1  # well before the engine's 30 s
    deadline = time.time() + 5
    while metric(url, "thinkgate_requests_total") == requests and time.time() < deadline:
        time.sleep(0.1)
    assert metric(url, "thinkgate_cancelled_total") == cancelled + 1
    assert metric(url, "thinkgate_requests_total") == requests + 1


@pytest.mark.parametrize("mode", ["raw", "chat"])
def test_a_dropped_stream_is_counted_in_requests_total(engines, mode):
    url = engines[mode].url
    requests = metric(url, 'thinkgate_requests_total')
    body = {"model": "bad", "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": "fault:trickle"}]}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=10) as r:
        next(r.iter_lines())
    deadline = time.time() + 5
    while metric(url, "thinkgate_requests_total") == requests and time.time() < deadline:
        time.sleep(0.1)
    text = httpx.get(url + "/metrics").text
    assert metric(url, "thinkgate_requests_total") == requests + 1
    assert 'status="499"' in text, text


def test_an_engine_body_over_the_limit_is_refused_before_it_is_read(engines, tmp_path):
    """`--upstream-max-body` is the operator's: 1 MiB here refuses the good answer of `ignore_max` (8 MB,
    with its declared length) at once."""
    small = serve("--upstream", engines["bad"].url, "--upstream-model", "bad", "--upstream-chat", "--engine", "vllm",
                  "--upstream-max-body", "1").wait()
    try:
        got = call(small.url, "ignore_max", stream=False)
        assert got["status"] == 502 and "declared a body of" in got["error"]["message"], got
        assert "1 MiB (--upstream-max-body)" in got["error"]["message"]
        check(call(small.url, "ok", stream=False), "ok", "ok")
    finally:
        small.stop()


def test_a_value_that_cannot_be_passed_on_is_the_clients_400(engines):
    """The chat fallback passes a request's fields on intact; one the engine could not be sent (an integer past
    64 bits, which no JSON encoder of engines reads) is the client's 400, not a 500."""
    r = httpx.post(engines["chat"].url + "/v1/chat/completions", timeout=10,
                   json={"model": "bad", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}],
                         "logit_bias_extra": {"7": -(2 ** 70)}})
    assert r.status_code == 400 and "cannot be sent to the engine" in r.json()["error"]["message"], r.text
