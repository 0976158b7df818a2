"""The LLM judge for free-form answers: verdicts read from replies, pointwise scoring of rows, pairwise
comparison in both orders with the flip rate, and every call cached. The judge is a real model:
SmolLM2-135M-Instruct (the GGUF from PyPI, run by llama.cpp in-process); the answers judged are the
embedded model's."""

import hashlib
import json
from collections import Counter

import pytest
from _models import smollm2
from typer.testing import CliRunner

from thinkgate.bench.judge import PAIRWISE, read_pairwise, read_pointwise
from thinkgate.cli import app
from thinkgate.tasks.external import load_external

FREE_FORM = [("Name the planet closest to the sun.", "Mercury"), ("What is the capital of France?", "Paris"),
             ("What is 7 minus 4? Answer in words.", "three"), ("What colour is a clear daytime sky?", "blue")]


def free_form_fixture(path):
    """OptimalThinkingBench's layout (metadata as a JSON string), free-form answers."""
    with open(path, "w") as f:
        for q, a in FREE_FORM:
            f.write(json.dumps({"question": q, "answer": a, "subset": "overthinkingbench",
                                "metadata": json.dumps({"answer_type": "open-ended"})}) + "\n")
    return path


@pytest.mark.parametrize("reply,verdict", [
    ("Final Decision: Yes", "yes"), ("**Final Decision:** No", "no"), ("The final decision is yes.", "yes"),
    ("It matches. Yes.", "yes"), ("No, it does not.", "no"), ("Yes and no.", None), ("I know it.", None),
    ("Yes. The response says no more than needed.", "yes"), ("**No**", "no"), ("Yes, it does.", "yes"),
    ("Final Decision: Yes\nOn reflection... Final Decision: No", "no")])
def test_a_pointwise_verdict_is_read_from_the_final_decision_line_or_a_plain_yes_or_no(reply, verdict):
    assert read_pointwise(reply) == verdict


@pytest.mark.parametrize("reply,choice", [
    ("Final Decision: A", "A"), ("Final Decision: [[B]]", "B"), ("final decision: response A", "A"),
    ("FINAL DECISION: TIE", "tie"), ("Final decision: a tie", None), ("B.", "B"), ("Tie", "tie"),
    ("Both are wrong.", None), ("a", None), ("B is better", None), ("**A**", "A")])
def test_a_pairwise_choice_is_read_from_the_final_decision_line(reply, choice):
    assert read_pairwise(reply) == choice


def test_judge_scores_free_form_answers_pairwise_with_the_flip_rate_and_caches_every_call(tmp_path):
    data = free_form_fixture(tmp_path / "free.jsonl")
    cache, out = tmp_path / "c.jsonl", tmp_path / "out.json"
    args = ["bench", "--data", str(data), "--strategies", "think,nothink", "--max-tokens", "48", "--cache",
            str(cache), "--json", str(out), "--judge", str(smollm2()), "--judge-strategy", "nothink",
            "--judge-max-tokens", "24", "--judge-pairwise"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    judge = report["judge"]
    point, (pair,) = judge["pointwise"], judge["pairwise"]
    assert point["judged"] == 8 and point["yes"] + point["no"] + point["unclear"] == 8
    # a row's correctness is the judge's verdict; unclear is wrong
    rows = report["rows"]
    assert all(r["judge"] in ("yes", "no", "unclear") and r["correct"] == (r["judge"] == "yes") for r in rows)
    assert Counter(r["judge"] for r in rows) == {k: point[k] for k in ("yes", "no", "unclear") if point[k]}
    # pairwise: every (item, sample) is a same answer, or compared in both orders and accounted once
    assert (pair["a"], pair["b"]) == ("think", "nothink") and pair["compared"] + pair["same_answer"] == 4
    assert pair["a_wins"] + pair["b_wins"] + pair["ties"] + pair["flips"] + pair["unclear"] == pair["compared"]
    assert pair["read_both"] == pair["compared"] - pair["unclear"]
    # one call per distinct prompt: each distinct (item, answer) once, each compared pair twice
    lines = [json.loads(line) for line in (tmp_path / "c.judge.jsonl").read_text().splitlines()]
    assert len(lines) == judge["calls"] == len({(r["item"], r["answer"]) for r in rows}) + 2 * pair["compared"]
    # the flips, recomputed here from the cached replies, each found by its prompt
    decision = {line["key"].rsplit("|", 1)[1]: line["row"]["decision"] for line in lines}
    answer = {(r["strategy"], r["item"]): r["answer"] for r in rows}
    flips = read_both = 0
    for it in load_external(str(data)):
        a, b = answer[("think", it.id)], answer[("nothink", it.id)]
        if a.strip() == b.strip():
            continue
        asked = lambda x, y, it=it: decision[hashlib.sha1(PAIRWISE.format(  # noqa: E731
            question=it.prompt, reference=it.answer, a=x, b=y).encode()).hexdigest()]
        first = {"A": "think", "B": "nothink", "tie": "tie"}.get(asked(a, b))
        second = {"A": "nothink", "B": "think", "tie": "tie"}.get(asked(b, a))
        if first and second:
            read_both += 1
            flips += first != second
    assert (pair["flips"], pair["read_both"]) == (flips, read_both)
    assert pair["flip_rate"] == (round(flips / read_both, 4) if read_both else None)
    # a rerun asks the judge nothing: every verdict comes from the cache, and the figures are the same
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    again = json.loads(out.read_text())["judge"]
    assert again["calls"] == 0 and again["cached"] == judge["calls"] + judge["cached"]
    assert again["pointwise"] == point and again["pairwise"] == judge["pairwise"]


def test_judge_options_are_checked_before_anything_runs(tmp_path):
    data = free_form_fixture(tmp_path / "free.jsonl")
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--judge", "tiny", "--suites", "over"])
    assert res.exit_code == 2 and "--judge scores the free-form answers of --data" in res.output
    res = runner.invoke(app, ["bench", "--data", str(data), "--judge-pairwise"])
    assert res.exit_code == 2 and "go with --judge" in res.output
    res = runner.invoke(app, ["bench", "--data", str(data), "--fresh", "--max-tokens", "4",
                              "--judge", "http://127.0.0.1:9"])
    assert res.exit_code == 2 and "--judge-model" in res.output
    res = runner.invoke(app, ["bench", "--data", str(data), "--fresh", "--max-tokens", "4", "--judge", "/no/such/model"])
    assert res.exit_code == 2 and "/no/such/model" in res.output
