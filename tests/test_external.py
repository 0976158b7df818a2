import json
from pathlib import Path

import pytest

from thinkgate.tasks import get_task
from thinkgate.tasks.external import extract_answer, last_boxed, load_external

FIX = Path(__file__).parent / "fixtures"


def test_answer_extraction():
    assert last_boxed(r"so \boxed{\frac{3}{4}} and then \boxed{x^{2}}") == "x^{2}"
    assert extract_answer(r"Thus \boxed{42}.", "numeric") == "42"
    assert extract_answer("Lots of steps.\nFinal answer: 1,234", "numeric") == "1,234"
    assert extract_answer("I think 3 then 17 apples", "numeric") == "17"
    assert extract_answer("The answer is (C).", "mcq") == "C"
    assert extract_answer("The answer is Ozone layer.", "short") == "Ozone layer"


def test_gsm8k_style_file():
    items = load_external(str(FIX / "gsm8k_style.jsonl"))
    assert [i.answer for i in items] == ["5", "6", "9"]
    assert all(i.suite == "under" and i.family == "external:numeric" for i in items)
    task = get_task(items[0].family)
    assert task.verify(items[0], "2+3=5, so the answer is 5")
    assert task.verify(items[0], r"\boxed{5.0}")
    assert not task.verify(items[0], "The answer is 6")


def test_otb_style_file_types_and_suites():
    items = load_external(str(FIX / "otb_style.jsonl"))
    assert [i.suite for i in items] == ["over", "over", "over", "under"]
    mcq = items[1]
    assert mcq.meta["answer_type"] == "mcq" and "B. a" in mcq.prompt
    task = get_task(mcq.family)
    assert task.verify(mcq, "The answer is B") and not task.verify(mcq, "The answer is A")
    short = items[2]
    assert get_task(short.family).verify(short, "Final answer: Blue.")
    assert not get_task(short.family).verify(short, "Final answer: red")


def test_math_style_boxed_fractions():
    items = load_external(str(FIX / "math_style.jsonl"))
    assert items[0].answer == r"\frac{3}{4}"
    task = get_task(items[0].family)
    assert task.verify(items[0], r"\boxed{0.75}") and task.verify(items[0], "Final answer: 3/4")
    assert not task.verify(items[0], r"\boxed{2/3}")


def test_hf_datasets_loader_on_a_local_file():
    pytest.importorskip("datasets")
    items = load_external(f"hf:{FIX / 'gsm8k_style.jsonl'}")
    assert [i.answer for i in items] == ["5", "6", "9"]


def test_hf_loader_takes_a_dataset_folder_whose_only_split_is_train(tmp_path):
    """OptimalThinkingBench ships one split, `train`: without a split named, that is the one read."""
    pytest.importorskip("datasets")
    folder = tmp_path / "otb"
    folder.mkdir()
    rows = [{"question": "What is 2+2?", "answer": "4", "subset": "overthinkingbench",
             "metadata": json.dumps({"answer_type": "numeric"})},
            {"question": "Count the primes below 30.", "answer": "10", "subset": "underthinkingbench",
             "metadata": "{}"}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = load_external(f"hf:{folder}")
    assert [(i.suite, i.answer) for i in items] == [("over", "4"), ("under", "10")]
    with pytest.raises(ValueError, match="no split 'test'; it has train"):
        load_external(f"hf:{folder}::test")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_external(f"hf:{tmp_path / 'missing'}")


def test_bad_records_are_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\n{"question": "no answer here"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: no answer field"):
        load_external(str(bad))
    bad.write_text('{"question": "q", "answer": "1"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not JSON"):
        load_external(str(bad))
    with pytest.raises(ValueError, match="does not exist"):
        load_external(str(tmp_path / "missing.jsonl"))


def _otb_records() -> list[dict]:
    """Twenty records in OptimalThinkingBench's own layout: question, answer, metadata as a JSON string,
    subset named as the benchmark names it (the questions are ones the embedded model can answer)."""
    import json

    recs = []
    for i in range(10):
        recs.append({"question": f"What is {i + 2}+{i + 3}?", "answer": str(2 * i + 5),
                     "metadata": json.dumps({"answer_type": "numeric", "domain": "arithmetic"}),
                     "subset": "overthinkingbench" if i < 8 else "overthinking-math"})
    for i in range(10):
        a, b = 4821 + 37 * i, 397 + 11 * i
        recs.append({"question": f"What is {a}+{b}?", "answer": str(a + b),
                     "metadata": json.dumps({"answer_type": "numeric"}), "subset": "underthinkingbench"})
    return recs


def test_optimalthinkingbench_as_published_scores_both_suites(tmp_path):
    import json

    from typer.testing import CliRunner

    from thinkgate.cli import app

    data = tmp_path / "otb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _otb_records()))
    items = load_external(str(data))
    assert [i.suite for i in items] == ["over"] * 10 + ["under"] * 10
    assert {i.family for i in items} == {"external:numeric", "external:overthinking-math:numeric"}  # math apart
    assert all(i.meta["answer_type"] == "numeric" for i in items)  # from the metadata string
    out = tmp_path / "b.json"
    res = CliRunner().invoke(app, ["bench", "--data", str(data), "--strategies", "think,nothink", "--fresh",
                                   "--json", str(out), "--max-tokens", "400"])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert {(r["strategy"], r["suite"], r["n"]) for r in report["results"]} == {
        (s, suite, 10) for s in ("think", "nothink") for suite in ("over", "under")}
    summary = {r["strategy"]: r for r in report["summary"]}
    assert set(summary) == {"think", "nothink"} and all(0 <= r["f1_otb"] <= 1 and 0 <= r["auc_oaa"] <= 1
                                                        for r in summary.values())
    assert summary["think"]["acc_ut"] > summary["nothink"]["acc_ut"]  # the embedded model needs to think there
    math = [b for b in report["breakdown"] if b["family"] == "external:overthinking-math:numeric"]
    assert {b["strategy"] for b in math} == {"think", "nothink"} and all(b["n"] == 2 for b in math)


def test_multiple_choice_gold_as_letter_or_text_and_missing_premise_by_abstention(tmp_path):
    import json

    recs = [{"question": "Where is the ozone layer?", "answer": "Stratosphere", "subset": "overthinkingbench",
             "metadata": json.dumps({"answer_type": "mcq", "options": ["Sahara", "Stratosphere", "Sea"]})},
            {"question": "Pick the second.", "answer": "B", "options": ["x", "y"], "suite": "over"},
            {"question": "Let y = x + 2. What is y?", "answer": "cannot be determined", "suite": "mip"}]
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    text_gold, letter_gold, mip = load_external(str(data))
    task = get_task(text_gold.family)
    assert "B. Stratosphere" in text_gold.prompt
    assert task.verify(text_gold, r"\boxed{B}") and task.verify(text_gold, r"\boxed{Stratosphere}")
    assert not task.verify(text_gold, r"\boxed{Sahara}") and not task.verify(text_gold, r"\boxed{A}")
    assert task.verify(letter_gold, "The answer is (B).") and task.verify(letter_gold, r"\boxed{y}")
    assert not task.verify(letter_gold, r"\boxed{x}")
    assert mip.suite == "mip"
    assert get_task(mip.family).verify(mip, "The question cannot be answered: x is not defined.")
    assert not get_task(mip.family).verify(mip, "y = 4")  # an answer, not an abstention
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1", "metadata": "{not json"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: metadata is a string but not JSON"):
        load_external(str(bad))
    bad.write_text('{"question": "q", "answer": "1", "subset": "sideways"}\n')
    with pytest.raises(ValueError, match="unknown suite 'sideways'"):
        load_external(str(bad))


def test_otb_compat_matches_the_papers_code_computed_here(tmp_path):
    """--otb-compat on the OTB-layout fixture, two sampled answers per question: the summary equals
    OptimalThinkingBench's published formula computed here from the per-item rows (samples averaged per
    question first, t_max 1000, unclosed responses counted in full, (all + math) / 2 on each side)."""
    import json
    from collections import defaultdict

    from typer.testing import CliRunner

    from thinkgate.cli import app

    recs = _otb_records()
    recs = recs[6:14]  # over: two of overthinkingbench and both of overthinking-math; under: four
    assert sum("math" in r["subset"] for r in recs) == 2 and sum("under" in r["subset"] for r in recs) == 4
    data = tmp_path / "otb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "b.json"
    res = CliRunner().invoke(app, ["bench", "--data", str(data), "--strategies", "think,nothink", "--otb-compat",
                                   "--samples", "2", "--temperature", "0.8", "--max-tokens", "120", "--fresh",
                                   "--json", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["scoring"] == "otb-compat"
    for strategy in ("think", "nothink"):
        per_q = defaultdict(list)
        for r in report["rows"]:
            if r["strategy"] == strategy:
                per_q[(r["suite"], r["family"], r["item"])].append(r)
        sides = {"over": [], "under": []}
        for (suite, family, _), rs in per_q.items():
            acc = sum(r["correct"] for r in rs) / len(rs)
            tok = sum(r["think_tokens"] + (0 if r["closed"] else r["answer_tokens"]) for r in rs) / len(rs)
            sides[suite].append(("math" in family, acc * max(0, 1000 - tok) / 1000 if suite == "over" else acc))
        macro = {}
        for side, scores in sides.items():
            alls = sum(s for _, s in scores) / len(scores)
            math = [s for m, s in scores if m]
            macro[side] = (alls + sum(math) / len(math)) / 2 if math else alls
        o, u = macro["over"], macro["under"]
        got = next(r for r in report["summary"] if r["strategy"] == strategy)
        assert abs(got["auc_oaa"] - round(o, 4)) < 1e-9 and abs(got["acc_ut"] - round(u, 4)) < 1e-9
        assert abs(got["f1_otb"] - round(2 * o * u / (o + u) if o + u else 0.0, 4)) < 1e-9
    res = CliRunner().invoke(app, ["bench", "--data", str(data), "--otb-compat", "--t-max", "500"])
    assert res.exit_code == 2 and "--otb-compat" in res.output


def test_otb_compat_takes_the_first_box():
    from thinkgate.tasks.external import record_to_item

    rec = {"question": "What is 2+2?", "answer": "4", "subset": "overthinkingbench"}
    ours, theirs = record_to_item(rec, "x", "under"), record_to_item(rec, "x", "under", otb_compat=True)
    task = get_task(ours.family)
    text = r"First \boxed{5}, no wait: \boxed{4}"
    assert task.verify(ours, text) and not task.verify(theirs, text)
    assert ours.id == theirs.id  # one generation, checked either way


def test_a_cached_row_is_checked_again_under_the_scoring_asked_for(tmp_path):
    """A generation is cached once; reading it back under another scoring (first box, a numeric
    tolerance) checks its answer again rather than reusing the old verdict or generating anew."""
    from thinkgate.scoring.cache import ResultsCache, model_fingerprint, row_key
    from thinkgate.scoring.metrics import Row
    from thinkgate.bench.runner import run_suite
    from thinkgate.gate import Gate
    from thinkgate.roster import load_backend
    from thinkgate.tasks.external import record_to_item
    from thinkgate.types import Sampling

    gate = Gate(load_backend("tiny"), "nothink")
    rec = {"question": "What is 9/2?", "answer": "4.5", "subset": "overthinkingbench"}
    items = {"default": record_to_item(rec, "x", "under"), "otb": record_to_item(rec, "x", "under", otb_compat=True),
             "loose": record_to_item(rec, "x", "under", num_tol=0.2)}
    sampling, key = Sampling(max_tokens=8), model_fingerprint(gate.backend.model_id)
    cache = ResultsCache(tmp_path / "c.jsonl")
    answer = r"Roughly \boxed{4.4}; exactly \boxed{4.5}"
    cache.add([(row_key(key, "nothink", "over", items["default"].id, 0, sampling.model_dump_json()),
                Row(strategy="nothink", suite="over", family=items["default"].family, difficulty=1,
                    item=items["default"].id, correct=False, think_tokens=0, answer_tokens=9, closed=True,
                    finish_reason="stop", wall_s=0.1, answer=answer))])
    got = {name: run_suite(gate, [it], sampling, key, cache)[0] for name, it in items.items()}
    assert {name: r.answer for name, r in got.items()} == dict.fromkeys(items, answer)  # nothing generated
    assert got["default"].correct and not got["otb"].correct  # the last box is 4.5; the first, 4.4
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 1
    loose = dict(items["otb"].meta, num_tol=0.1)
    assert get_task(items["otb"].family).verify(items["otb"].model_copy(update={"meta": loose}), answer)
