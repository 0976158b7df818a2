"""`cascade` (issue #37 point 5) on the shipped model: the answer without thinking first, thinking where it is
unsure; the calibrated threshold; what a stream shows; the tokens of both attempts."""

import json
import shutil

import pytest

from thinkgate.errors import RouterError
from thinkgate.gate import Gate
from thinkgate.roster import resolve_model
from thinkgate.types import Request

ADD = "What is 48213+3977?"
EASY = "What is 5+8?"


def test_a_sure_answer_is_kept_and_an_unsure_one_thinks_counting_both_attempts(backend):
    keep = Gate(backend, "cascade:threshold=0").run(Request.of(ADD))
    alone = Gate(backend, "nothink").run(Request.of(ADD))
    assert keep.answer == alone.answer and keep.mode == "nothink" and keep.usage.reasoning_tokens == 0
    assert keep.route()["decision"] == "nothink" and keep.route()["router"] == "cascade"
    assert keep.confidence == pytest.approx(alone.confidence)
    think = Gate(backend, "cascade:threshold=1").run(Request.of(ADD))
    thought = Gate(backend, "think").run(Request.of(ADD))
    assert think.answer == thought.answer and think.mode == "think" and think.route()["decision"] == "think"
    assert think.usage.completion_tokens == thought.usage.completion_tokens + alone.usage.completion_tokens
    assert think.usage.reasoning_tokens == thought.usage.reasoning_tokens
    first = next(e.detail for e in think.trace if e.kind == "first_attempt")
    assert first["answer"] == alone.answer and first["kept"] is False
    assert 0 < think.route()["score"] < 1  # the least likely token's probability


def test_the_calibrated_threshold_is_the_models_own(backend, tmp_path):
    shipped = json.loads((resolve_model("tiny") / "router" / "cascade.json").read_text())
    gate = Gate(backend, "cascade")
    results = gate.run_batch([Request.of(EASY), Request.of(ADD)])
    assert {r.route()["threshold"] for r in results} == {round(shipped["thresholds"]["least"], 4)}
    assert Gate(backend, "cascade:signal=mean").run(Request.of(EASY)).route()["threshold"] == round(
        shipped["thresholds"]["mean"], 4)
    with pytest.raises(RouterError, match="thinkgate calibrate"):
        Gate(backend, f"cascade:dir={tmp_path}").run(Request.of(EASY))
    stale = dict(shipped, model_fingerprint="another")
    (tmp_path / "cascade.json").write_text(json.dumps(stale))
    with pytest.raises(RouterError, match="another model"):
        Gate(backend, f"cascade:dir={tmp_path}").run(Request.of(EASY))
    shutil.copy(resolve_model("tiny") / "router" / "cascade.json", tmp_path / "cascade.json")
    assert Gate(backend, f"cascade:dir={tmp_path}").run(Request.of(EASY)).answer == "13"


def test_a_stream_shows_the_first_answer_only_once_it_is_kept(backend):
    for threshold, decision in ((0, "nothink"), (1, "think")):
        gate = Gate(backend, f"cascade:threshold={threshold}")
        events = list(gate.stream(Request.of(ADD)))
        result = events[-1][1]
        assert result.route()["decision"] == decision
        assert "".join(p for k, p in events if k == "content").strip() == result.answer
        assert "".join(p for k, p in events if k == "reasoning").strip() == result.reasoning
        if decision == "think":  # the thinking attempt streams live, token by token
            assert len([k for k, _ in events if k == "reasoning"]) > 20


def test_the_policy_composes_a_cap_and_serves_thinking_off_without_a_second_attempt(backend):
    gate = Gate(backend, "cascade:threshold=1")
    ask = Request.of(ADD)
    capped = gate.run(ask.model_copy(update={"thinking": ask.thinking.model_copy(update={"budget": 16})}))
    assert capped.usage.reasoning_tokens <= 16 and capped.route()["via"] == "budget:max=16"
    off = gate.run(Request.of(ADD, mode="nothink"))
    assert off.usage.reasoning_tokens == 0 and off.strategy == "nothink"
