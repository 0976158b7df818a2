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
