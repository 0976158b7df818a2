"""The answer's confidence on every result, its log probabilities on every face, and its calibration in the bench
(issue #37 points 1 and 2), on the shipped model, through the real openai client."""

import json
import math

import httpx
import openai
import pytest

from thinkgate.confidence import answer_tokens, chat_answer_logprobs
from thinkgate.gate import Gate
from thinkgate.types import Generation, Request, Sampling, confidence_of

KEY = "sk-test"
ADD = "What is 48213+3977?"
EASY = "What is 5+8?"


@pytest.fixture(scope="module")
def fmt(backend):
    return Gate(backend, "think").format


def gen(pieces, lps=None):
    lps = lps or [-0.1 * (k + 1) for k in range(len(pieces))]
    return Generation(text="".join(pieces), tokens=len(pieces), finish_reason="stop", token_logprobs=lps,
                      pieces=pieces)


def test_the_answers_tokens_are_those_after_the_end_tag_from_its_first_visible_character(fmt):
    close, open_ = fmt.close_tag, fmt.open_tag
    g = gen(["Let", " me", " see", close[:3], close[3:], "\n\n", "4", "2"])
    assert [g.pieces[k] for _, k in answer_tokens(fmt, open_ + "\n", [g])] == ["4", "2"]
    # the thought closed before the generation (a prefill, an injected end tag): all of it, but the line breaks
    g2 = gen(["\n", "\n", "1", "3"])
    assert [k for _, k in answer_tokens(fmt, open_ + "\nhm" + close, [g2])] == [2, 3]
    # across generations (a two-model turn's answer), in order
    assert [(x is g2, k) for x, k in answer_tokens(fmt, open_ + close, [gen(["\n"]), g2])] == [
        (True, 2), (True, 3)]
    # a thought that never closed has no answer; a turn with no thought at all is all answer
    assert answer_tokens(fmt, open_ + "\n", [gen(["still", " thinking"])]) is None
    assert [k for _, k in answer_tokens(fmt, "", [gen(["1", "3"])])] == [0, 1]
    # no log probabilities: no confidence
    assert answer_tokens(fmt, "", [Generation(text="13", tokens=1, finish_reason="stop")]) is None


@pytest.mark.parametrize("spec", ["think", "nothink", "budget:max=24", "early_exit", "parallel:mode=think,n=2",
                                  "nothinking"])
def test_every_result_says_how_sure_it_is_and_its_tokens_on_request(backend, spec):
    r = Gate(backend, spec).run(Request.of(ADD, logprobs=2, sampling={"max_tokens": 400}))
    assert r.closed and r.answer
    assert 0 < r.confidence <= 1
    assert r.confidence == pytest.approx(confidence_of([t.logprob for t in r.logprobs]))
    assert "".join(t.token for t in r.logprobs).strip() == r.answer  # exactly the answer's tokens
    for t in r.logprobs:
        assert len(t.top) == 2 and t.top[0].logprob >= t.top[1].logprob
        assert t.logprob <= t.top[0].logprob + 1e-5
    # asked for nothing: the same confidence, no tokens
    plain = Gate(backend, spec).run(Request.of(ADD, sampling={"max_tokens": 400}))
    assert plain.logprobs is None and plain.confidence == pytest.approx(r.confidence, abs=1e-6)


def test_a_thought_cut_off_has_no_answer_and_no_confidence(backend):
    r = Gate(backend, "think").run(Request.of(ADD, logprobs=0, sampling={"max_tokens": 6}))
    assert not r.closed and r.confidence is None and r.logprobs == []


def test_a_batch_of_rows_asking_different_log_probabilities_equals_each_alone(backend):
    gate = Gate(backend, "nothink")
    reqs = [Request.of(EASY, logprobs=3), Request.of(ADD), Request.of(ADD, logprobs=1)]
    for together, req in zip(gate.run_batch(reqs), reqs):
        alone = gate.run(req)
        assert together.answer == alone.answer and together.logprobs == alone.logprobs
        assert together.confidence == pytest.approx(alone.confidence)


def test_chat_completions_give_openais_logprobs_streamed_live_and_whole(tiny_server):
    client = openai.OpenAI(base_url=tiny_server.url + "/v1", api_key=KEY, max_retries=0)
    whole = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": ADD}], max_tokens=300,
                                           logprobs=True, top_logprobs=2)
    content = whole.choices[0].logprobs.content
    assert "".join(t.token for t in content).strip() == whole.choices[0].message.content
    assert all(len(t.top_logprobs) == 2 and t.bytes == list(t.token.encode()) for t in content)
    sure = whole.model_extra["thinkgate"]["confidence"]
    assert sure == pytest.approx(math.exp(sum(t.logprob for t in content) / len(content)))

    kinds, streamed, final = [], [], None
    for ch in client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": ADD}],
                                             max_tokens=300, logprobs=True, top_logprobs=2, stream=True):
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        if (d.model_extra or {}).get("reasoning_content"):
            kinds.append("r")
        if d.content:
            kinds.append("c")
        if ch.choices[0].logprobs and ch.choices[0].logprobs.content:
            kinds.append("l")
            streamed += ch.choices[0].logprobs.content
        if ch.choices[0].finish_reason:
            final = ch
    assert kinds.count("r") > 20 and kinds.index("c") > 20  # the reasoning streamed live, token by token
    assert kinds.count("l") >= 2 and kinds.index("l") < len(kinds) - 1  # the answer's log p streamed with it
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]
    assert final.model_extra["thinkgate"]["confidence"] == pytest.approx(sure)


def test_top_logprobs_without_logprobs_is_a_400(tiny_server):
    r = httpx.post(tiny_server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                   json={"model": "tiny", "messages": [{"role": "user", "content": EASY}], "top_logprobs": 2})
    assert r.status_code == 400 and "top_logprobs needs logprobs" in r.json()["error"]["message"]


def test_chat_fallback_reads_the_engines_own_log_probabilities():
    choice = {"logprobs": {"content": [{"token": "\n", "logprob": -0.01}, {"token": "1", "logprob": -0.5},
                                       {"token": "3", "logprob": -0.25}, {"token": "x", "logprob": "junk"}]}}
    assert chat_answer_logprobs(choice, []) == [-0.5, -0.25]
    assert chat_answer_logprobs({"logprobs": None}, []) == []
    # an engine that lists the thought's tokens too: only those that write the answer are read
    both = {"logprobs": {"content": [{"token": "hm", "logprob": -3.0}, {"token": "\n", "logprob": -0.01},
                                     {"token": "1", "logprob": -0.5}, {"token": "3", "logprob": -0.25}]}}
    assert chat_answer_logprobs(both, [], answer="13") == [-0.5, -0.25]


def test_the_bench_reports_each_strategys_calibration_and_a_reliability_diagram(tmp_path):
    from typer.testing import CliRunner

    from thinkgate.cli import app

    out = CliRunner().invoke(app, ["bench", "--strategies", "think,nothink,route", "--suites", "over,under", "--limit", "40",
                                   "--cache", str(tmp_path / "cache.jsonl"), "--json", str(tmp_path / "b.json"),
                                   "--report", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "b.json").read_text())
    for row in data["results"]:
        assert row["confidence_n"] == row["n"] == 40
        assert 0 <= row["ece"] <= 1 and 0 <= row["brier"] <= 1
    cal = {(c["strategy"], c["set"]): c for c in data["calibration"] if c["of"] == "the answer's confidence"}
    assert set(cal) == {(s, x) for s in ("think", "nothink", "route") for x in ("all", "over", "under")}
    # the router's P(correct) of the level it chose, on the test items
    routed = {c["set"]: c for c in data["calibration"] if c["of"] == "the chosen option's P(correct)"}
    assert set(routed) == {"all", "over", "under"} and routed["all"]["n"] == 80 and routed["all"]["ece"] < 0.2
    nothink = cal[("nothink", "under")]
    assert nothink["auroc"] > 0.6 and sum(b["n"] for b in nothink["bins"]) == 40  # it tells right from wrong
    rows = [r for r in data["rows"] if r["strategy"] == "nothink"]
    assert all(0 < r["confidence"] <= 1 for r in rows)
    assert (tmp_path / "report" / "reliability.png").stat().st_size > 10_000
    assert (tmp_path / "report" / "reliability_router_0.png").exists()
    assert "the answer&#x27;s confidence" in (tmp_path / "report" / "index.html").read_text() or \
        "the answer's confidence" in (tmp_path / "report" / "index.html").read_text()


@pytest.mark.parametrize("spec,question,stop", [("budget:min=100", EASY, []), ("think", ADD, ["9"])])
def test_a_stream_sends_exactly_the_answers_tokens(backend, spec, question, stop):
    """A thought reopened after its end tag ("Wait") sends none of its tokens as the answer's; an answer ended
    by a stop string has its tokens up to the one that wrote its last character; streamed and whole agree."""
    gate = Gate(backend, spec)
    request = Request.of(question, logprobs=1, sampling=Sampling(max_tokens=400, stop=stop))
    result = gate.run(request)
    events = list(gate.stream(request))
    streamed = [t for kind, payload in events if kind == "logprobs" for t, _, _ in payload]
    assert streamed == [t.token for t in result.logprobs]
    assert "".join(streamed).strip() == result.answer and result.answer
    if spec.startswith("budget"):
        assert any(e.kind == "extend" for e in result.trace)  # the thought was reopened
