"""Several models in one gate: the roster's spelling, the two-model strategies on the embedded pair (tiny and
mini, two tokenizers of their own), their accounting per model, streaming and the faces that take them."""

import json

import pytest
from typer.testing import CliRunner

from thinkgate.cli import app as cli
from thinkgate.gate import Gate
from thinkgate.roster import ModelSpec, Roster
from thinkgate.types import Request, Sampling

ADD = "What is 48213+3977?"
PAIR = ["speculative", "specreason", "foreal:p=1.0", "foreal:p=0.0"]


@pytest.fixture(scope="module")
def pair(backend, mini_backend):
    return Roster([Roster.of(backend, name="tiny").primary, Roster.of(mini_backend, name="mini").primary])


def test_a_member_is_written_one_way_and_its_mistakes_are_named():
    assert ModelSpec.parse("tiny").name == "tiny"
    assert ModelSpec.parse("runs/my-model/").name == "my-model"
    s = ModelSpec.parse("big=http://127.0.0.1:8080,served=qwen3,tokenizer=/m/qwen3,params=8e9")
    assert (s.name, s.is_engine, s.served, s.tokenizer, s.params) == ("big", True, "qwen3", "/m/qwen3", 8_000_000_000)
    assert ModelSpec.parse("http://127.0.0.1:8080,served=qwen3,tokenizer=/t").name == "qwen3"
    for text, says in [("big=http://127.0.0.1:8080", "served=NAME"), ("a=tiny,foo=1", "'foo=1' is not one of"),
                       ("a=tiny,params=many", "params must be a number"), ("a=tiny,params=0", "positive"),
                       ("a=tiny,backend=onnx", "backend must be"), ("a=tiny,served=x", "go with an engine"),
                       ("a=tiny,format=qwen3,format=none", "given twice"), ("a=", "names no model"),
                       ("a=tiny,params=1e400", "params must be a number")]:
        with pytest.raises(ValueError, match=says):
            ModelSpec.parse(text)


def test_the_pair_is_chosen_by_size_or_by_name(pair, backend):
    small, large = pair.pair(None, None, "x")
    assert (small.name, large.name) == ("mini", "tiny") and small.params < large.params / 5
    assert [m.name for m in pair.pair("tiny", "mini", "x")] == ["tiny", "mini"]
    assert [m.name for m in pair.pair("tiny", None, "x")] == ["tiny", "mini"]  # the other one is large
    with pytest.raises(ValueError, match="needs two models"):
        Roster.of(backend).pair(None, None, "strategy 'specreason'")
    with pytest.raises(ValueError, match="both 'tiny'"):
        pair.pair("tiny", "tiny", "x")
    with pytest.raises(ValueError, match="no model is named 'big'"):
        pair.pair(None, "big", "x")
    with pytest.raises(ValueError, match="named 'tiny'"):
        Roster([pair.primary, pair.primary])


def test_the_embedded_pair_has_two_tokenizers(pair):
    """Handover is by text: the two models do not share a vocabulary."""
    a, b = (m.backend.tokenizer for m in pair)
    assert a.get_vocab() != b.get_vocab()


@pytest.mark.parametrize("spec", PAIR)
def test_each_two_model_strategy_answers_and_counts_what_each_model_wrote(pair, spec):
    gate = Gate(pair, spec)
    res = gate.run(Request.of(ADD, sampling=Sampling(max_tokens=400)))
    assert res.closed and res.answer and res.finish_reason == "stop"
    u = res.usage
    assert set(u.by_model) <= {"tiny", "mini"} and sum(u.by_model.values()) == u.completion_tokens
    params = {m.name: m.params for m in pair}
    assert u.cost == pytest.approx(sum(2 * params[k] * v / 1e9 for k, v in u.by_model.items()), abs=1e-6)
    assert res.trace[0].kind == "pair" and res.trace[0].detail == {"small": "mini", "large": "tiny"}
    writers = {e.detail["model"] for e in res.trace if "model" in e.detail and e.kind != "score"}
    assert writers == set(k for k, v in u.by_model.items() if v)
    if spec == "foreal:p=0.0":  # the leader never leads: the small model writes it all
        assert set(u.by_model) == {"mini"}
    if spec == "foreal:p=1.0":  # the leader leads every sentence
        assert u.by_model["tiny"] > 0 and all(e.detail["model"] == "tiny" for e in res.trace if e.kind == "lead")


def test_specreason_rewrites_what_the_large_model_finds_unlikely(pair):
    """A draft scoring below the threshold is rewritten by the large model, one above it kept; a threshold of 0
    keeps every draft."""
    req = Request.of(ADD, sampling=Sampling(max_tokens=400))
    strict, lax = (Gate(pair, f"specreason:threshold={t}").run(req) for t in (8.99, 0))
    assert "tiny" not in lax.usage.by_model or lax.usage.by_model["tiny"] == 0
    assert all(e.detail["accepted"] for e in lax.trace if e.kind == "draft")
    assert strict.usage.by_model["tiny"] > 0
    drafts = [e for e in strict.trace if e.kind == "draft"]
    rejected = [e for e in drafts if not e.detail["accepted"]]
    assert rejected and all(e.detail["score"] < 8.99 for e in rejected)
    assert all(e.detail["score"] >= 8.99 for e in drafts if e.detail["accepted"])
    assert len([e for e in strict.trace if e.kind == "rewrite"]) == len(rejected)


def test_speculative_hands_reflective_steps_to_the_large_model(pair):
    gate = Gate(pair, "speculative:max_step=16,verify=check;so")
    res = gate.run(Request.of(ADD, sampling=Sampling(max_tokens=400)))
    handed = [e for e in res.trace if e.kind == "draft" and e.detail.get("reflection")]
    assert handed and [e.detail["kept"] for e in handed] == [False] * len(handed)
    assert res.usage.by_model["tiny"] > 0


@pytest.mark.parametrize("spec", ["specreason", "foreal"])
def test_two_model_strategies_stream_what_they_return(pair, spec):
    gate = Gate(pair, spec)
    req = Request.of(ADD, sampling=Sampling(max_tokens=300))
    events = list(gate.stream(req))
    kind, result = events[-1]
    assert kind == "done"
    assert "".join(t for k, t in events if k == "reasoning") == result.reasoning
    assert "".join(t for k, t in events if k == "content") == result.answer
    assert sum(k == "reasoning" for k, _ in events) > 5  # not one piece at the end


def test_bench_rows_carry_tokens_per_model_and_cost(tmp_path):
    out = tmp_path / "b.json"
    r = CliRunner().invoke(cli, ["bench", "--strategies", "think,foreal", "--suites", "under", "--limit", "3",
                                 "--fresh", "--json", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    rows = {(x["strategy"], x["item"]): x for x in data["rows"]}
    for (strategy, _), row in rows.items():
        assert sum(row["by_model"].values()) >= row["think_tokens"] + row["answer_tokens"]
        assert row["cost"] > 0
        assert set(row["by_model"]) == ({"tiny"} if strategy == "think" else {"tiny", "mini"} & set(row["by_model"]))
    table = {x["strategy"]: x for x in data["results"]}
    assert table["think"]["cost_mean"] > 0 and set(table["foreal"]["tokens_by_model"]) <= {"tiny", "mini"}
    assert all(f["cost_mean"] is not None for f in data["frontier"])


def test_the_models_options_are_checked_on_every_face():
    runner = CliRunner()
    r = runner.invoke(cli, ["ask", "hi", "--model", "tiny", "--strategy", "specreason"])
    assert r.exit_code == 2 and "needs two models" in r.output
    r = runner.invoke(cli, ["bench", "--model", "a=tiny,x=1", "--limit", "1", "--fresh"])
    assert r.exit_code == 2 and "'x=1' is not one of" in r.output
    r = runner.invoke(cli, ["ask", "hi", "--model", "tiny", "--model", "tiny"])
    assert r.exit_code == 2 and "two models are named 'tiny'" in r.output


def test_list_parameters_read_back_and_route_takes_no_pair():
    from thinkgate.strategies import parse_strategy

    for spec in ("speculative:verify=check;so", "foreal:ends=.\\s;\\n", "speculative:negative=hold on;wait"):
        s = parse_strategy(spec)
        assert parse_strategy(s.spec).params == s.params
    assert parse_strategy("foreal:ends=.\\s;\\n").params.ends == (". ", "\n")
    with pytest.raises(ValueError, match="speculative names models itself"):
        parse_strategy("route:then=speculative")


def test_the_server_runs_the_embedded_pair_for_a_request_that_names_it():
    import openai
    from _serving import serve

    server = serve("--max-queue", "4").wait()  # no --model: tiny served, mini beside it
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
        msgs = [{"role": "user", "content": ADD}]
        r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=300,
                                           extra_body={"thinking": {"strategy": "specreason"}})
        tg = r.model_extra["thinkgate"]
        assert r.choices[0].message.content and tg["strategy"] == "specreason"
        assert set(tg["tokens_by_model"]) <= {"tiny", "mini"} and tg["tokens_by_model"]["mini"] > 0
        assert sum(tg["tokens_by_model"].values()) == r.usage.completion_tokens and tg["cost_gflop"] > 0
        parts = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=300, stream=True,
                                                    extra_body={"thinking": {"strategy": "foreal"}}))
        reasoning = "".join(getattr(p.choices[0].delta, "reasoning_content", None) or "" for p in parts if p.choices)
        content = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
        assert reasoning and content and sum(bool(getattr(p.choices[0].delta, "reasoning_content", None))
                                             for p in parts if p.choices) > 5
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="tiny", messages=msgs, max_tokens=20,
                                           extra_body={"thinking": {"strategy": "speculative:small=nope"}})
        assert "no model is named 'nope'" in str(e.value) and e.value.body["param"] == "thinking.strategy"
    finally:
        server.stop()
