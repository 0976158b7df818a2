"""No request takes the server down: hostile and malformed input against `thinkgate serve` on loopback (the
embedded model), each answered with an OpenAI-style 4xx (or a correct 2xx) within seconds, the server
serving a normal request afterwards; bounded resources; an engine that trickles tokens; a hypothesis fuzz
over request bodies."""

import json
import threading
import time

import httpx
import pytest
from _serving import InThread, fake_engine, metric
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thinkgate.backends.base import GenParams
from thinkgate.backends.hf import HFBackend
from thinkgate.backends.openai_compat import OpenAICompatBackend
from thinkgate.roster import resolve_model
from thinkgate.server.app import create_app
from thinkgate.server.guard import ServerLimits
from thinkgate.server.scheduler import BatchingBackend
from thinkgate.streaming import WorkerPool

KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
SURROGATE = '"\\ud800"'  # JSON text of a lone surrogate, as a client can send it


def post(server, path, raw: str | dict, key=KEY, timeout=30, client=None):
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    data = raw if isinstance(raw, str) else json.dumps(raw)
    return (client or httpx).post(server.url + path, content=data.encode("utf-8", "surrogatepass"), headers=headers,
                                  timeout=timeout)


def chat_body(content="What is 5+8?", **kw):
    return {"model": "tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 8, **kw}


def assert_error(r, status, code=None, param=None):
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code:
        assert err["code"] == code, err
    if param:
        assert err["param"] == param, err
    return err


def assert_serving(server):
    t = time.perf_counter()
    assert httpx.get(server.url + "/health", timeout=1).json()["status"] == "ok"
    r = post(server, CHAT, chat_body(max_tokens=16, thinking={"mode": "off"}))
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"].strip() == "13", r.text
    assert time.perf_counter() - t < 10


def test_a_lone_surrogate_anywhere_is_a_400_naming_the_field_and_the_server_serves_on(server):
    cases = [
        (COMPLETIONS, '{"model":"tiny","prompt":"x","stop":[%s]}' % SURROGATE, "stop[0]"),
        (COMPLETIONS, '{"model":"tiny","prompt":%s}' % SURROGATE, "prompt"),
        (CHAT, '{"model":"tiny","messages":[{"role":"user","content":%s}]}' % SURROGATE, "messages[0].content"),
        (CHAT, '{"model":"tiny","stream":true,"messages":[{"role":"user","content":%s}]}' % SURROGATE,
         "messages[0].content"),
        (CHAT, '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"thinking":{"strategy":'
               '"early_exit:words=\\ud800"}}', "thinking.strategy"),
        (CHAT, '{"model":"tiny","messages":[{"role":"user","content":"hi"}],"user":%s}' % SURROGATE, "user"),
    ]
    for path, raw, param in cases:
        t = time.perf_counter()
        r = post(server, path, raw)
        assert_error(r, 400, "invalid_text", param)
        assert time.perf_counter() - t < 5
    # raw bytes that are not UTF-8 (a surrogate encoded directly)
    r = httpx.post(server.url + COMPLETIONS, content=b'{"model":"tiny","prompt":"\xed\xa0\x80"}',
                   headers={**AUTH, "Content-Type": "application/json"}, timeout=10)
    assert_error(r, 400)
    assert_serving(server)


def test_a_body_the_server_cannot_read_is_a_400_or_415_that_names_no_offset(server):
    import gzip

    body = json.dumps(chat_body())
    plain = {**AUTH, "Content-Type": "application/json"}
    cases = [  # (body bytes, headers, status, code, what the message names)
        (gzip.compress(body.encode()), {**plain, "Content-Encoding": "gzip"}, 415, "unsupported_media_type",
         "Content-Encoding 'gzip'"),
        (body.encode(), {**AUTH, "Content-Type": "text/plain"}, 415, "unsupported_media_type",
         "Content-Type 'text/plain'"),
        (body.encode(), {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type",
         "Content-Type"),
        (body.encode(), AUTH, 415, "unsupported_media_type", "no Content-Type"),
        ((body + "xyz").encode(), plain, 400, "invalid_json",
         f"Extra data: line 1 column {len(body) + 1} (char {len(body)})"),
        (body.encode()[:-1], plain, 400, "invalid_json", "line 1"),
        (b'{"model":"tiny","prompt":"\xff"}', plain, 400, "invalid_json", "not UTF-8"),
        (b"", plain, 400, "invalid_json", "empty"),
    ]
    for path in (CHAT, COMPLETIONS):
        for data, headers, status, code, names in cases:
            r = httpx.post(server.url + path, content=data, headers=headers, timeout=10)
            err = assert_error(r, status, code)
            assert err["param"] is None and names in err["message"], (headers, err)
            if "Content-Encoding" in headers:
                assert r.headers["accept-encoding"] == "identity"
    # JSON by another name is JSON: a charset, a +json type
    for kind in ("application/json; charset=utf-8", "application/vnd.api+json"):
        r = httpx.post(server.url + CHAT, content=body, headers={**AUTH, "Content-Type": kind}, timeout=30)
        assert r.status_code == 200, r.text
    assert_serving(server)


def _nested(depth: int, kind: str = "list") -> str:
    """JSON text of `depth` arrays (or objects) one inside the other."""
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def test_the_body_limit_hands_the_body_on_once_so_a_disconnect_is_heard_next():
    """`LimitBody` reads the whole body and hands it on once: a request that takes it from the scope (the
    direct routes) receives the client's disconnect next, as does one that received it as a message (FastAPI's
    path); a second reading of the body by the same request gives the same bytes."""
    import asyncio

    from thinkgate.server.body import _JSONRequest
    from thinkgate.server.guard import LimitBody
    from fastapi import Request

    async def served(take_from_scope: bool) -> dict:
        messages = [{"type": "http.request", "body": b'{"a": ', "more_body": True},
                    {"type": "http.request", "body": b"1}", "more_body": False}, {"type": "http.disconnect"}]

        async def receive():
            return messages.pop(0) if messages else await asyncio.sleep(3600)

        seen: dict = {}

        async def app(scope, receive, send):
            request = (_JSONRequest if take_from_scope else Request)(scope, receive)
            seen["json"] = await request.json()
            seen["gone"] = await request.is_disconnected()
            seen["again"] = await request.body()

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [
            (b"content-type", b"application/json")]}
        await asyncio.wait_for(LimitBody(app, max_bytes=1024)(scope, receive, None), 10)
        return seen

    for take in (True, False):
        assert asyncio.run(served(take)) == {"json": {"a": 1}, "again": b'{"a": 1}', "gone": True}, take


def test_a_deeply_nested_body_is_a_400_naming_the_depth_never_a_500(server):
    from thinkgate.server.body import MAX_DEPTH

    for path in (CHAT, COMPLETIONS):
        for kind in ("list", "dict"):
            for depth in (5000, 100_000):  # past the interpreter's recursion limit, and far past it
                err = assert_error(post(server, path, _nested(depth, kind)), 400, "nesting_too_deep")
                assert f"more than {MAX_DEPTH} levels" in err["message"] and err["param"] is None, err
    # inside a field the server keeps as it came (`user`): the body is level 1, so the field may nest one less
    head = json.dumps(chat_body())[:-1]
    err = assert_error(post(server, CHAT, f'{head},"user":{_nested(MAX_DEPTH)}}}'), 400, "nesting_too_deep", "user")
    assert f"more than {MAX_DEPTH} levels deep (in 'user')" in err["message"]
    assert post(server, CHAT, f'{head},"user":{_nested(MAX_DEPTH - 1, "dict")}}}').status_code == 200
    assert_serving(server)


def test_the_unicode_check_walks_any_depth_without_recursion():
    from thinkgate.types import check_text, invalid_text_at

    deep = inner = []
    for _ in range(100_000):
        inner.append({"k": []})
        inner = inner[0]["k"]
    assert invalid_text_at(deep) is None and check_text(deep) is deep
    inner.append("\ud800")
    assert invalid_text_at(deep) == "[0].k" * 100_000 + "[0]"
    # the first bad string in order, a key before its value
    assert invalid_text_at({"a": ["ok", {"\udc00": "\ud800"}], "b": "\ud800"}) == "a[1].\udc00"
    assert invalid_text_at({"a": "ok", "b": [1, "x", "\ud800"]}) == "b[2]"


def _trickle(url: str, head: bytes, pieces: list[bytes], every: float) -> tuple[bytes, float, bool]:
    """Send a request's head, then its body a piece every `every` seconds for as long as the server reads;
    returns what the server answered, when (seconds after the head), and whether it then closed the
    connection."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        start = time.perf_counter()
        sock.settimeout(every)
        answer, took = b"", None
        for piece in pieces:
            try:
                got = sock.recv(65536)
            except TimeoutError:
                got = None
            if got is not None:  # the server answered (or closed) while the body was still coming
                answer, took = got, time.perf_counter() - start
                break
            try:
                sock.sendall(piece)
            except OSError:
                break
        sock.settimeout(5)
        rest = b""
        try:
            while chunk := sock.recv(65536):
                rest += chunk
            closed = True
        except (TimeoutError, ConnectionResetError):
            closed = False
        answer += rest
        return answer, took if took is not None else time.perf_counter() - start, closed


def test_a_body_sent_a_byte_at_a_time_meets_the_body_timeout_and_its_connection_closes():
    from _serving import serve

    srv = serve("--model", "tiny", "--body-timeout", "1.5").wait()
    try:
        body = json.dumps(chat_body()).encode()
        for framing in ("length", "chunked"):
            if framing == "length":
                head = (f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode()
                pieces = [body[i:i + 1] for i in range(len(body))]
            else:
                head = (f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n").encode()
                pieces = [b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body))]
            answer, took, closed = _trickle(srv.url, head, pieces, every=0.25)
            status, _, rest = answer.partition(b"\r\n")
            headers, _, payload = rest.partition(b"\r\n\r\n")
            assert status.startswith(b"HTTP/1.1 408"), answer
            assert b"connection: close" in headers.lower() and closed, (framing, answer)
            assert 1.4 < took < 5, took
            err = json.loads(payload)["error"]
            assert err["code"] == "body_timeout" and "1.5 s" in err["message"] and "--body-timeout" in err["message"]
        # a body that arrives in time, even in pieces, is served
        r = httpx.post(srv.url + CHAT, content=iter([body[:10], body[10:]]), timeout=30,
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert 'status="408"' in httpx.get(srv.url + "/metrics").text  # counted like every request
        assert metric(srv.url, "thinkgate_requests_total") == 3
    finally:
        srv.stop()


def test_a_stop_string_cannot_kill_the_scheduler(tiny_server, backend):
    # the library path too: a call whose parameters cannot be grouped fails alone; the worker serves on
    batched = BatchingBackend(backend)
    bad = GenParams.model_construct(**{**GenParams().model_dump(), "stop": ["\ud800"]})
    with pytest.raises(Exception):
        batched.generate(["x"], bad, sinks=[None])
    assert batched.healthy()
    good = batched.generate(["<|im_start|>user\nWhat is 5+8?<|im_end|>\n<|im_start|>assistant\n"],
                            GenParams(max_tokens=4), sinks=[None])
    assert good[0][0].tokens >= 1


def test_a_catastrophic_verifier_pattern_cannot_freeze_the_server(server):
    bodies = [chat_body("Which is larger, 37 or 52?", thinking={"strategy": "parallel:n=2,select=verifier",
                                                                "verify": pattern})
              for pattern in ("((((.*)*)*)*)*!", "(a|aa)+$", "(x+x+)+y")]
    health: list[float] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            t = time.perf_counter()
            httpx.get(server.url + "/health", timeout=5)
            health.append(time.perf_counter() - t)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for body in bodies:
            t = time.perf_counter()
            r = post(server, CHAT, body)
            assert r.status_code == 200, r.text
            assert time.perf_counter() - t < 5
    finally:
        done.set()
        watcher.join()
    assert health and max(health) < 1.0, health


@pytest.mark.parametrize("pattern", ["a{4294967296}", "(" * 3000 + ")" * 3000, "(?P<", "x" * 600])
def test_a_bad_verifier_pattern_is_a_400_on_a_kept_connection(server, pattern):
    with httpx.Client() as client:
        r = post(server, CHAT, chat_body(thinking={"strategy": "parallel:n=1,select=verifier", "verify": pattern}),
                 client=client)
        err = assert_error(r, 400, param="thinking.verify")
        assert "verifier pattern" in err["message"]
        assert r.headers.get("connection", "").lower() != "close"
        assert post(server, CHAT, chat_body(), client=client).status_code == 200  # the same connection serves on


def test_every_resource_is_bounded(server):
    t = time.perf_counter()
    before = metric(server.url, "thinkgate_requests_total")
    r = post(server, CHAT, chat_body("x" * (5 << 20)))  # 5 MB of content: refused before it is parsed
    assert_error(r, 413, "body_too_large")
    assert metric(server.url, "thinkgate_requests_total") == before + 1  # counted like every request
    assert time.perf_counter() - t < 5
    r = post(server, CHAT, chat_body("seven " * 2000))  # within the body limit, beyond the model's 1024 positions
    err = assert_error(r, 400, "context_length_exceeded")
    assert "1024" in err["message"] and "tokens" in err["message"]
    r = post(server, CHAT, {"model": "tiny", "messages": [{"role": "user", "content": "hi"}] * 10000})
    assert "10000 messages" in assert_error(r, 400)["message"]  # refused before 10,000 messages are validated
    r = post(server, CHAT, {"model": "tiny", "messages": [{"role": "user", "content": "hi"}] * 4000})
    assert_error(r, 400, "context_length_exceeded")
    assert_error(post(server, CHAT, chat_body(max_tokens=10**9)), 400, param="max_tokens")
    for spec in ("parallel:n=1000", "early_exit:max_probes=1000", "budget:max=10,max_extensions=1000",
                 "budget:max=10,answer_tokens=1000000", "route:then=early_exit;max_probes=1000"):
        err = assert_error(post(server, CHAT, chat_body(thinking={"strategy": spec})), 400, param="thinking.strategy")
        assert "limit" in err["message"]
    assert_error(post(server, COMPLETIONS, {"model": "tiny", "prompt": "x", "n": 1000}), 400, param="n")
    assert_error(post(server, COMPLETIONS, {"model": "tiny", "prompt": ["x"] * 1000}), 400, param="prompt")
    assert_error(post(server, COMPLETIONS, {"model": "tiny", "prompt": "x", "stop": ["s"] * 100}), 400)
    assert_serving(server)


def test_empty_prompts_and_degenerate_sampling(server):
    for prompt in ("", [], ["x", ""]):
        assert_error(post(server, COMPLETIONS, {"model": "tiny", "prompt": prompt}), 400, param="prompt")
    for temperature in (1e-300, 5e-324, 1e-6):  # below 1e-5 decoding is greedy: no inf / nan probabilities
        r = post(server, CHAT, chat_body(temperature=temperature))
        assert r.status_code == 200, r.text
        r = post(server, COMPLETIONS, {"model": "tiny", "prompt": "The", "temperature": temperature, "max_tokens": 3})
        assert r.status_code == 200, r.text
    for seed in (-1, 2**63 - 1):
        assert post(server, CHAT, chat_body(temperature=0.7, seed=seed)).status_code == 200
    assert_error(post(server, CHAT, chat_body(seed=2**70)), 400, param="seed")


def test_a_request_cannot_name_a_server_file_and_errors_never_show_paths(server):
    for spec in ("route:dir=/etc", "route:dir=/no/such/place", "route:dir=../../x,then=think"):
        err = assert_error(post(server, CHAT, chat_body(thinking={"strategy": spec})), 400, param="thinking.strategy")
        assert "/etc" not in err["message"] and "/no/such" not in err["message"] and "route.dir" in err["message"]


def test_a_missing_router_is_a_400_without_paths():
    # tiny-auto ships no router: `route` cannot route there
    model = resolve_model("tiny-auto")
    srv = InThread(create_app(HFBackend(model), "tiny-auto", freeze_gc=False))
    try:
        r = httpx.post(srv.url + CHAT, json={**chat_body(thinking={"strategy": "route"}), "model": "tiny-auto"},
                       timeout=30)
        err = assert_error(r, 400, "router_unavailable")
        assert str(model) not in err["message"] and "/" not in err["message"].replace("n/a", "")
    finally:
        srv.stop()


def test_the_key_is_checked_before_the_body_and_guards_the_documents(server):
    r = post(server, CHAT, "{not json", key="wrong")
    assert_error(r, 401, "invalid_api_key")
    assert_error(post(server, CHAT, "{not json", key=None), 401, "missing_api_key")
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert httpx.get(server.url + path, timeout=10).status_code == 401
    doc = httpx.get(server.url + "/openapi.json", headers=AUTH, timeout=10).json()
    for path in (CHAT, COMPLETIONS):
        responses = doc["paths"][path]["post"]["responses"]
        assert "422" not in responses
        assert {"200", "400", "401", "404", "408", "413", "415", "429", "500", "502", "504"} <= set(responses)
    assert httpx.get(server.url + "/health", timeout=5).status_code == 200  # open without a key
    assert_error(post(server, CHAT, "{not json"), 400, "invalid_json")


def test_health_says_when_the_scheduler_is_gone(backend):
    app = create_app(backend, "tiny", freeze_gc=False)
    srv = InThread(app)
    try:
        assert httpx.get(srv.url + "/health", timeout=5).json()["status"] == "ok"
        dead = threading.Thread(target=lambda: None)
        dead.start()
        dead.join()
        app.state.server.backend._worker = dead  # as if the loop had died
        r = httpx.get(srv.url + "/health", timeout=5)
        assert r.status_code == 503 and r.json()["status"] == "unhealthy"
    finally:
        srv.stop()


def test_gates_and_worker_threads_are_bounded(backend):
    app = create_app(backend, "tiny", limits=ServerLimits(max_gates=3), freeze_gc=False)
    srv = app.state.server
    for k in range(10):
        srv.gate(f"budget:max={k + 1}")
    assert len(srv.gates) == 3 and list(srv.gates) == ["named|budget:max=8", "named|budget:max=9", "named|budget:max=10"]
    pool = WorkerPool(2)
    done = []
    release = threading.Event()
    for k in range(6):
        pool.submit(lambda k=k: (release.wait(5), done.append(k)))
    assert pool.threads == 2
    pool.submit(lambda: 1 / 0)  # a failing job does not end its thread
    release.set()
    deadline = time.time() + 5
    while len(done) < 6 and time.time() < deadline:
        time.sleep(0.01)
    assert sorted(done) == list(range(6)) and pool.threads == 2


@pytest.mark.parametrize("mode", ["raw_prefix", "chat_fallback"])
def test_an_engine_that_trickles_tokens_meets_the_whole_request_deadline(mode):
    from thinkgate.server.upstream_chat import UpstreamChat

    slow = fake_engine("--rate", "2", "--tokens", "200").wait()  # a token every half second, never silent long
    app = create_app(OpenAICompatBackend(slow.url, "fake", str(resolve_model("tiny")), timeout=1.5), "fake",
                     freeze_gc=False) if mode == "raw_prefix" else \
        create_app(None, "fake", chat=UpstreamChat(slow.url, "fake", timeout=1.5, engine="openai"), freeze_gc=False)
    srv = InThread(app)
    try:
        for stream in (False, True):
            t = time.perf_counter()
            r = httpx.post(srv.url + CHAT, json={"model": "fake", "messages": [{"role": "user", "content": "hi"}],
                                                 "max_tokens": 100, "stream": stream}, timeout=30)
            took = time.perf_counter() - t
            assert took < 5, took
            if stream and r.status_code == 200:  # the stream had started: the error is its last event
                events = [json.loads(x[5:]) for x in r.text.split("\n\n") if x.startswith("data: {")]
                assert events[-1]["error"]["code"] == "upstream_timeout", r.text
            else:
                assert_error(r, 504, "upstream_timeout")
    finally:
        srv.stop()
        slow.proc.kill()  # it still sleeps on the requests cut off above


# ---- a fuzz over request bodies: whatever arrives, the answer is a 2xx or an OpenAI-style 4xx -------------

_text = st.one_of(st.text(max_size=40), st.sampled_from(["\ud800", "", "/think", "/no_think", "<think>", "\x00"]))
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), _text)
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)
_message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", "robot"]),
                                  "content": st.one_of(_text, _json)})
_thinking = st.fixed_dictionaries({}, optional={
    "mode": st.one_of(st.sampled_from(["on", "off", "auto"]), _json),
    "budget": st.one_of(st.integers(-5, 3000), _json), "min_budget": st.integers(-5, 50),
    "strategy": st.one_of(st.sampled_from(["think", "nothink", "budget:max=4", "parallel:n=2", "early_exit:max_probes=1",
                                           "auto", "route:dir=/tmp", "parallel:n=999", "telepathy", "budget:max=x",
                                           "thinkless:at=2", "dont_overthink", "nothinking"]), _text),
    "verify": st.one_of(st.sampled_from(["\\d+", "(a|aa)+$", "(", "a{99999999999}"]), _text)})
_chat = st.fixed_dictionaries({"model": st.sampled_from(["tiny", "other", ""]),
                               "messages": st.one_of(st.lists(_message, min_size=0, max_size=3), _json)}, optional={
    "max_tokens": st.one_of(st.integers(-3, 12), st.just(10**12), _json),
    "temperature": st.one_of(st.floats(-1, 3, allow_nan=False), st.just(1e-300), _json),
    "top_p": st.floats(-1, 2, allow_nan=False), "top_k": st.integers(-5, 10**9), "seed": st.integers(-2**70, 2**70),
    "stop": st.one_of(_text, st.lists(_text, max_size=3), _json), "n": st.integers(-1, 3), "stream": st.booleans(),
    "thinking": st.one_of(_thinking, _json), "reasoning_effort": st.one_of(st.sampled_from(["low", "none", "huge"]), _json),
    "chat_template_kwargs": st.one_of(st.fixed_dictionaries({"enable_thinking": _scalar}), _json),
    "think": _scalar, "stream_options": _json, "tools": _json})
_completion = st.fixed_dictionaries({"model": st.just("tiny"), "prompt": st.one_of(_text, st.lists(_text, max_size=3), _json)},
                                    optional={"max_tokens": st.integers(-1, 8), "n": st.integers(-1, 3),
                                              "logprobs": st.integers(-1, 25), "echo": st.booleans(),
                                              "stop": st.one_of(_text, _json), "stream": st.booleans(),
                                              "temperature": st.floats(0, 2)})


def _cap_generation(body):
    """Keep what would generate short (the fuzz is about input handling, not throughput)."""
    if isinstance(body, dict) and isinstance(body.get("max_tokens"), int) and 0 < body["max_tokens"] < 10**6:
        body["max_tokens"] = min(body["max_tokens"], 8)
    elif isinstance(body, dict) and "max_tokens" not in body:
        body["max_tokens"] = 8
    return body


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path_body=st.one_of(st.tuples(st.just(CHAT), _chat), st.tuples(st.just(COMPLETIONS), _completion),
                           st.tuples(st.sampled_from([CHAT, COMPLETIONS]), _json)))
def test_fuzzed_bodies_get_a_2xx_or_an_openai_style_4xx(tiny_server, path_body):
    path, body = path_body
    raw = json.dumps(_cap_generation(body))
    r = post(tiny_server, path, raw, timeout=60)
    assert r.status_code < 500, (raw, r.status_code, r.text)
    if r.status_code >= 400:
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}, r.text


def test_after_the_fuzz_the_server_is_healthy(server):
    assert_serving(server)


def test_operator_limits_cover_every_strategy_parameter_and_defaults_give_way(backend):
    """--max-tokens-limit covers every token count a strategy takes (budget's max and min, thinkless's
    insertion point), --max-loops every repeat count; a value the client named past a limit is a 400 naming
    it, and a default past a limit (early_exit's max_probes=10 under --max-loops 8) is brought down to it
    rather than refusing a request that never set it."""
    from thinkgate.server.control import BadField

    app = create_app(backend, "tiny", limits=ServerLimits(max_loops=8, max_tokens=4096), freeze_gc=False)
    srv = app.state.server
    for spec, name in (("budget:max=5000", "budget.max"), ("budget:min=1000000000", "budget.min"),
                       ("thinkless:at=1000000000", "thinkless.at"), ("early_exit:max_probes=10", "early_exit.max_probes"),
                       ("route:then=budget;max=5000", "budget.max")):
        with pytest.raises(BadField, match=rf"{name}=\d+ is above this server's limit"):
            srv.gate(spec)
    assert srv.gate("early_exit").strategy.params.max_probes == 8
    assert srv.gate("early_exit:max_probes=3").strategy.params.max_probes == 3
    assert srv.gate("budget:max=4000").strategy.params.max == 4000
