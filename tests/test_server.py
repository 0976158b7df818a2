"""`thinkgate serve` on loopback serving the embedded model, through the official openai client and raw HTTP."""

import concurrent.futures as cf
import time

import httpx
import openai
import pytest
from _serving import metric

KEY = "sk-test"
ADD = "What is 48213+3977?"
EASY = "What is 5+8?"
LONG = "Count the letters: " + "abc " * 60  # the model writes until max_tokens


def chat(server, body, key=KEY, **kw):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(server.url + "/v1/chat/completions", json={"model": "tiny", **body}, headers=headers,
                      timeout=60, **kw)


def test_models_health_metrics(server, client):
    assert [m.id for m in client.models.list()] == ["tiny"]
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    text = httpx.get(server.url + "/metrics").text
    for name in ("thinkgate_requests_total", "thinkgate_request_latency_seconds_bucket", "thinkgate_reasoning_tokens_total",
                 "thinkgate_answer_tokens_total", "thinkgate_decisions_total", "thinkgate_tokens_saved_estimate_total"):
        assert f"# TYPE {name.rsplit('_', 1)[0] if name.endswith(('_total', '_bucket')) else name}" in text


def test_chat_separates_reasoning_and_answer(client):
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": EASY}], max_tokens=200)
    msg = r.choices[0].message
    assert msg.content == "13"
    assert msg.reasoning_content and msg.reasoning == msg.reasoning_content and "<think>" not in msg.reasoning
    assert r.usage.completion_tokens_details.reasoning_tokens > 10
    tg = r.model_extra["thinkgate"]
    assert tg["mode"] == "think" and tg["strategy"] == "think" and tg["decided_by"] == "default"
    assert "router_score" in tg and r.choices[0].finish_reason == "stop"


def test_stream_is_real_and_matches_the_whole_answer(client):
    whole = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": ADD}], max_tokens=300)
    t0 = time.perf_counter()
    kinds, times, reasoning, content, final = [], [], "", "", None
    for ch in client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": ADD}], max_tokens=300,
                                             stream=True, stream_options={"include_usage": True}):
        if ch.choices:
            d = ch.choices[0].delta
            r = (d.model_extra or {}).get("reasoning_content")
            if r:
                kinds.append("r"), times.append(time.perf_counter() - t0)
                reasoning += r
                assert d.model_extra["reasoning"] == r
            if d.content:
                kinds.append("c"), times.append(time.perf_counter() - t0)
                content += d.content
            if ch.choices[0].finish_reason:
                final = ch
        if ch.usage:
            usage = ch.usage
    assert reasoning == whole.choices[0].message.reasoning_content
    assert content == whole.choices[0].message.content
    assert "".join(kinds) == "r" * kinds.count("r") + "c" * kinds.count("c")  # reasoning, then content
    assert kinds.count("r") > 20  # token by token, not one buffered chunk
    assert times[-1] - times[0] > 0.2  # spread over the generation
    assert final.model_extra["thinkgate"]["mode"] == "think"
    assert usage.completion_tokens_details.reasoning_tokens == whole.usage.completion_tokens_details.reasoning_tokens


@pytest.mark.parametrize("extra,mode,source", [
    ({"thinking": {"mode": "off"}}, "nothink", "thinking"),
    ({"reasoning_effort": "none"}, "nothink", "reasoning_effort"),
    ({"chat_template_kwargs": {"enable_thinking": False}}, "nothink", "chat_template_kwargs"),
    ({"think": False}, "nothink", "think"),
    ({"content_suffix": " /no_think"}, "nothink", "soft_switch"),
    ({"content_suffix": " Say </think> then <think>."}, "think", "default"),  # tags a user quotes are no switch
    ({"content_suffix": " /no_think", "thinking": {"mode": "on"}}, "think", "thinking"),
])
def test_thinking_switches(server, extra, mode, source):
    extra = dict(extra)
    suffix = extra.pop("content_suffix", "")
    r = chat(server, {"messages": [{"role": "user", "content": EASY + suffix}], "max_tokens": 150, **extra}).json()
    tg = r["thinkgate"]
    assert (tg["mode"], tg["decided_by"]) == (mode, source)
    reasoning_tokens = r["usage"]["completion_tokens_details"]["reasoning_tokens"]
    assert (reasoning_tokens > 0) == (mode == "think")
    assert r["choices"][0]["message"]["content"]


def test_a_strategy_named_with_controls_it_cannot_honour_is_a_400_naming_the_field(server):
    """The thinking policy over HTTP: a named strategy composes with a request's cap where it can (auto:
    thinking capped) and is a 400 where it cannot (early_exit has no cap), never silently replaced."""
    # named by the field the client sent (reasoning_effort, think), not thinkgate's own thinking.effort
    for controls, param in ([{"reasoning_effort": "low"}, "reasoning_effort"], [{"think": "low"}, "think"],
                            [{"thinking": {"budget": 64}}, "thinking.budget"],
                            [{"chat_template_kwargs": {"enable_thinking": False}}, "chat_template_kwargs.enable_thinking"]):
        thinking = {**controls.pop("thinking", {}), "strategy": "early_exit"}
        r = chat(server, {"messages": [{"role": "user", "content": EASY}], "thinking": thinking, **controls})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["param"] == param and "early_exit" in r.json()["error"]["message"]
    r = chat(server, {"messages": [{"role": "user", "content": ADD}], "max_tokens": 200,
                      "thinking": {"strategy": "route:then=think", "budget": 12}}).json()
    assert r["thinkgate"]["strategy"] == "route:then=budget;max=12" and r["thinkgate"]["budget"] == 12
    assert "router" in r["thinkgate"]["policy"] and r["usage"]["completion_tokens_details"]["reasoning_tokens"] <= 12


def test_budgets_effort_and_strategy(server):
    r = chat(server, {"messages": [{"role": "user", "content": ADD}], "max_tokens": 300,
                      "thinking": {"budget": 12}}).json()
    assert r["usage"]["completion_tokens_details"]["reasoning_tokens"] == 12
    assert r["thinkgate"]["strategy"] == "budget:max=12" and r["thinkgate"]["budget"] == 12
    assert "thinking.budget" in r["thinkgate"]["policy"]  # the server's default strategy gave way to it
    assert r["choices"][0]["message"]["content"]
    r = chat(server, {"messages": [{"role": "user", "content": ADD}], "max_tokens": 300, "reasoning_effort": "low"}).json()
    assert r["thinkgate"]["budget"] == 128 and r["thinkgate"]["decided_by"] == "reasoning_effort"
    r = chat(server, {"messages": [{"role": "user", "content": EASY}], "max_tokens": 100,
                      "thinking": {"strategy": "nothinking"}}).json()
    assert r["thinkgate"]["strategy"] == "nothinking" and r["choices"][0]["message"]["content"]
    assert r["choices"][0]["message"]["reasoning_content"] == "Okay, I think I have finished thinking."
    r = chat(server, {"messages": [{"role": "user", "content": EASY}], "max_tokens": 100,
                      "thinking": {"mode": "auto", "strategy": "auto"}}).json()
    tg = r["thinkgate"]  # the calibrated router decided, and says how sure it was
    assert tg["decided_by"] in ("probe", "text") and isinstance(tg["router_score"], float)
    assert tg["mode"] in ("think", "nothink") and tg["requested_mode"] == "auto"


def test_max_tokens_inside_thinking_is_visible(client):
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": ADD}], max_tokens=8)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.reasoning_content and r.choices[0].message.content == ""
    assert r.model_extra["thinkgate"]["truncated"] == "thinking"
    assert r.model_extra["thinkgate"]["thinking_closed"] is False


def test_clients_fields_are_tolerated(client):
    r = client.chat.completions.create(
        model="tiny", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": EASY}],
        max_tokens=100, n=1, user="u1", stop=["\n\n\n"], temperature=0, seed=3, logit_bias={},
        tool_choice="none", tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        extra_body={"thinking": {"mode": "off"}})
    assert r.choices[0].message.content == "13"
    # tools the model's template cannot take are refused, naming why: never dropped silently
    with pytest.raises(openai.BadRequestError, match="no tool-call format") as e:
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": EASY}], max_tokens=8,
                                       tools=[{"type": "function", "function": {"name": "f"}}])
    assert e.value.body["param"] == "tools"


def test_raw_completions_with_logprobs(client, server):
    r = client.completions.create(model="tiny", prompt="<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
                                  "<think>\n\n</think>\n\n", max_tokens=5, logprobs=1)
    c = r.choices[0]
    assert c.text.startswith("4") and len(c.logprobs.token_logprobs) == len(c.logprobs.tokens) > 0
    chunks = list(client.completions.create(model="tiny", prompt="<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                                            "<|im_start|>assistant\n<think>\n", max_tokens=12, stream=True))
    assert len([c for c in chunks if c.choices and c.choices[0].text]) > 3


def test_errors_are_openai_style(server, client):
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "thinking": {"mode": "on", "budgte": 5}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "thinking.budgte"
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "temperature"
    bad = httpx.post(server.url + "/v1/chat/completions", content=b"{not json", timeout=10,
                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "thinking": {"strategy": "telepathy"}})
    assert bad.status_code == 400 and "unknown strategy" in bad.json()["error"]["message"]
    for spec in ("route:threshold=nan", "route:threshold=inf", "parallel:power=1e309", "parallel:temperature=1e309"):
        # non-finite parameters are refused by name before anything runs, streamed or not
        for stream in (False, True):
            bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "stream": stream,
                                "thinking": {"strategy": spec}})
            assert bad.status_code == 400 and "finite number" in bad.json()["error"]["message"], (spec, bad.text)
            assert bad.json()["error"]["param"] == "thinking.strategy", bad.json()
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "extreme"})
    assert bad.status_code == 400
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}], "thinking": {"verify": "(unclosed"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "thinking.verify"
    bad = chat(server, {"messages": [{"role": "user", "content": "hi"}],
                        "thinking": {"strategy": "parallel:n=2,select=verifier"}})
    assert bad.status_code == 400 and "needs a verifier" in bad.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"
    for key, code in ((None, "missing_api_key"), ("sk-wrong", "invalid_api_key")):
        r = chat(server, {"messages": [{"role": "user", "content": "hi"}]}, key=key)
        assert r.status_code == 401 and r.json()["error"]["code"] == code
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()


def test_concurrent_requests_share_generate_calls_and_queue_is_bounded(server):
    rows_before = metric(server.url, "thinkgate_batch_rows_sum")
    calls_before = metric(server.url, "thinkgate_batch_rows_count")
    body = {"messages": [{"role": "user", "content": LONG}], "max_tokens": 120}
    with cf.ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(chat, server, body) for _ in range(10)]
        codes = [f.result().status_code for f in futures]
    assert codes.count(429) >= 1 and codes.count(200) >= 4, codes  # --max-queue 6
    rejected = [f.result().json() for f in futures if f.result().status_code == 429]
    assert rejected[0]["error"]["code"] == "queue_full"
    rows = metric(server.url, "thinkgate_batch_rows_sum") - rows_before
    calls = metric(server.url, "thinkgate_batch_rows_count") - calls_before
    assert rows / calls > 2  # several requests per generate call


def test_disconnect_cancels_generation(server):
    cancelled = metric(server.url, "thinkgate_cancelled_total")
    with httpx.stream("POST", server.url + "/v1/chat/completions", timeout=30, headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "tiny", "messages": [{"role": "user", "content": LONG}], "max_tokens": 900,
                            "stream": True}) as resp:
        seen = 0
        for line in resp.iter_lines():
            seen += line.startswith("data:")
            if seen > 5:
                break
    deadline = time.time() + 10
    while metric(server.url, "thinkgate_cancelled_total") == cancelled and time.time() < deadline:
        time.sleep(0.1)
    assert metric(server.url, "thinkgate_cancelled_total") == cancelled + 1
    time.sleep(0.3)
    a = metric(server.url, "thinkgate_generated_tokens_total")
    time.sleep(0.6)
    assert metric(server.url, "thinkgate_generated_tokens_total") == a  # nothing generates any more
    assert httpx.get(server.url + "/health").json()["in_flight"] == 0


def test_reasoning_inline_puts_the_thought_in_content_between_the_familys_tags(backend):
    """--reasoning-format inline: for pipelines that read only `content` (OptimalThinkingBench's scripts,
    lm-evaluation-harness), the thought arrives there, between the tags, streamed and not."""
    import httpx
    from _serving import InThread, check_inline

    from thinkgate.server.app import create_app

    with pytest.raises(ValueError, match="separate or inline"):
        create_app(backend, "tiny", reasoning_format="both", freeze_gc=False)
    srv = InThread(create_app(backend, "tiny", reasoning_format="inline", freeze_gc=False))
    try:
        check_inline(srv.url, EASY, "13", 200)
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none", max_retries=0)
        msgs = [{"role": "user", "content": EASY}]
        off = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=50,
                                             extra_body={"thinking": {"mode": "off"}})
        assert off.choices[0].message.content == "13"  # no thought: nothing to put inline
        cut = httpx.post(srv.url + "/v1/chat/completions", timeout=60, json={
            "model": "tiny", "messages": msgs, "max_tokens": 5}).json()["choices"][0]
        assert cut["message"]["content"].startswith("<think>\n") and "</think>" not in cut["message"]["content"]
    finally:
        srv.stop()


REFUSED = [  # (endpoint, field, a value that asks for something thinkgate's generation does not do)
    ("chat", "response_format", {"type": "json_object"}),
    ("chat", "response_format", {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}),
    ("chat", "logit_bias", {"15": 100}),
    ("chat", "presence_penalty", 1.0), ("chat", "frequency_penalty", -0.5), ("chat", "repetition_penalty", 1.2),
    ("chat", "guided_json", {"type": "object"}),
    ("completions", "suffix", " end"), ("completions", "best_of", 3), ("completions", "logit_bias", {"15": -100}),
    ("completions", "presence_penalty", 2), ("completions", "frequency_penalty", 0.5), ("completions", "min_p", 0.1),
]


def test_fields_that_would_change_the_output_are_refused_not_ignored(server, client):
    for endpoint, field, value in REFUSED:
        for stream in (False, True):
            if endpoint == "chat":
                r = chat(server, {"messages": [{"role": "user", "content": EASY}], "max_tokens": 8, "stream": stream,
                                  field: value})
            else:
                r = httpx.post(server.url + "/v1/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                               json={"model": "tiny", "prompt": "The", "max_tokens": 4, "stream": stream, field: value})
            assert r.status_code == 400, (field, value, r.text)
            err = r.json()["error"]
            assert err["param"] == field and err["code"] == "unsupported" and field in err["message"], err
    # the values that ask for nothing are accepted, and so is metadata that changes nothing
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": EASY}], max_tokens=50,
                                       response_format={"type": "text"}, logprobs=False, logit_bias={},
                                       presence_penalty=0, frequency_penalty=0.0, user="u1",
                                       extra_body={"thinking": {"mode": "off"}, "top_logprobs": 0})
    assert r.choices[0].message.content == "13" and r.choices[0].logprobs is None
    r = client.completions.create(model="tiny", prompt="The", max_tokens=3, best_of=1, suffix="", presence_penalty=0,
                                  user="u1", extra_body={"repetition_penalty": 1.0})
    assert r.choices[0].text
    r = client.completions.create(model="tiny", prompt="The", max_tokens=3, n=2, best_of=2, temperature=0.8)
    assert len(r.choices) == 2


def test_chat_fallback_passes_those_fields_to_the_engine(backend):
    """In chat fallback the engine generates and honours them: nothing is refused on their account."""
    import sys

    from _serving import ROOT, InThread

    from thinkgate.server.app import create_app
    from thinkgate.server.upstream_chat import UpstreamChat

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fake_engine import build

    engine = InThread(build(rate=1000, tokens=12))
    srv = InThread(create_app(None, "fake", chat=UpstreamChat(engine.url, "fake", timeout=10, engine="openai"),
                              freeze_gc=False))
    try:
        for endpoint, field, value in REFUSED:
            if endpoint == "chat":
                r = httpx.post(srv.url + "/v1/chat/completions", timeout=30, json={
                    "model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, field: value})
                assert r.status_code == 200, (field, r.text)
    finally:
        srv.stop()
        engine.stop()


def test_chat_stop_strings_end_the_answer_streamed_or_not(client):
    """`stop` is honoured (lm-evaluation-harness sends its `until` there): the answer ends where the first
    stop string begins, with finish reason "stop", streamed or not; an empty string asks for nothing."""
    msgs = [{"role": "user", "content": EASY}]
    r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=200, stop=["3", "never"])
    assert r.choices[0].message.content == "1" and r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.reasoning_content  # the thought is whole
    parts = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=200, stop="3", stream=True))
    assert "".join(p.choices[0].delta.content or "" for p in parts if p.choices) == "1"
    assert [p.choices[0].finish_reason for p in parts if p.choices and p.choices[0].finish_reason] == ["stop"]
    with pytest.raises(openai.BadRequestError, match="stop string is empty") as e:
        client.chat.completions.create(model="tiny", messages=msgs, max_tokens=200, stop=[""])
    assert e.value.body["param"] == "stop"


_TRACED = """
import sys
from pathlib import Path
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient
from thinkgate.backends.openai_compat import OpenAICompatBackend
from thinkgate.server.app import create_app

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(provider)
tiny = Path(sys.argv[1])
app = create_app(OpenAICompatBackend("http://127.0.0.1:9", "tiny", tiny), "tiny")
with TestClient(app) as c:
    r = c.post("/v1/chat/completions", json={"model": "other", "messages": [{"role": "user", "content": "hi"}]})
print(app.plain, r.status_code, [s.name for s in spans.get_finished_spans()])
"""


def test_fastapi_instrumentation_is_skipped_only_where_it_is_off():
    """Requests skip FastAPI's per-request OpenTelemetry check (`ServerApp.plain`) only where no provider is
    configured at start-up: with a tracer provider set before the server starts (as `opentelemetry-instrument`
    does), the API's POSTs are traced by FastAPI as before (in a child process: a tracer provider is
    process-wide and is set once)."""
    import subprocess
    import sys
    from pathlib import Path

    from starlette.testclient import TestClient

    from thinkgate.backends.openai_compat import OpenAICompatBackend
    from thinkgate.server.app import create_app

    tiny = Path(__file__).resolve().parents[1] / "thinkgate" / "models" / "tiny"
    app = create_app(OpenAICompatBackend("http://127.0.0.1:9", "tiny", tiny), "tiny")
    assert not app.plain  # not started yet: FastAPI's own path
    native = hasattr(app, "_native_telemetry")  # a FastAPI without instrumentation of its own keeps its path
    with TestClient(app) as c:
        assert app.plain == native
        r = c.post("/v1/chat/completions", json={"model": "other", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    if not native:
        return
    out = subprocess.run([sys.executable, "-c", _TRACED, str(tiny)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    plain, status, names = out.stdout.strip().split(" ", 2)
    assert (plain, status) == ("False", "404")
    assert "POST /v1/chat/completions" in names, names


def test_middleware_a_program_adds_to_the_app_sees_the_api_posts_too():
    """The APIs' POST routes are served from the ASGI entry (`DirectRoutes`) only while the app has nothing
    but thinkgate's own guards: a program that embeds it and adds middleware (here CORS) gets it on every
    request, the POSTs included, and the guards still answer first (the key)."""
    from pathlib import Path

    from starlette.middleware.cors import CORSMiddleware
    from starlette.testclient import TestClient

    from thinkgate.backends.openai_compat import OpenAICompatBackend
    from thinkgate.server.app import create_app

    tiny = Path(__file__).resolve().parents[1] / "thinkgate" / "models" / "tiny"
    app = create_app(OpenAICompatBackend("http://127.0.0.1:9", "tiny", tiny), "tiny", api_key=KEY)
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    body = {"model": "other", "messages": [{"role": "user", "content": "hi"}]}
    with TestClient(app) as c:
        r = c.post("/v1/chat/completions", json=body, headers={"origin": "http://a.example",
                                                               "authorization": f"Bearer {KEY}"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
        assert r.headers["access-control-allow-origin"] == "*"
        r = c.post("/v1/chat/completions", json=body, headers={"origin": "http://a.example"})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "*"
