import itertools
import random

import pytest

from thinkgate.tasks import (FAMILIES, SHARED_SPACE, SUITES, build_test_split, get_task, read_jsonl,
                             load_split, training_stream, write_jsonl)
from thinkgate.tasks.base import is_abstention


def perturb(task, item):
    if item.suite == "mip":
        return "42"
    if item.family == "reverse":
        return item.answer[::-1] if item.answer[::-1] != item.answer else item.answer + " x"
    return str(int(item.answer) + 1)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_verifier_accepts_own_answers_and_rejects_perturbed(family):
    task = get_task(family)
    rng = random.Random(1)
    for d in range(1, task.levels + 1):
        for _ in range(20):
            item = task.generate(rng, d)
            assert task.verify(item, item.answer), (item, item.answer)
            assert task.verify(item, f"So the answer is {item.answer}") or item.suite == "mip"
            assert not task.verify(item, perturb(task, item)), item
            assert not task.verify(item, "")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_traces_reach_the_answer(family):
    task = get_task(family)
    rng = random.Random(2)
    for d in range(1, task.levels + 1):
        item = task.generate(rng, d)
        trace = task.trace(item)
        if item.suite == "mip":
            assert is_abstention(trace)
        else:
            assert item.answer in trace.splitlines()[-1]


def test_difficulty_knob_is_checked():
    with pytest.raises(ValueError, match="difficulty"):
        get_task("add").generate(random.Random(0), 9)


@pytest.mark.parametrize("family", [t.name for t in FAMILIES.values() if t.suite == "under"])
def test_each_level_of_a_reasoning_family_takes_more_steps(family):
    task, rng = get_task(family), random.Random(3)
    length = [sum(len(task.trace(task.generate(rng, d))) for _ in range(20)) for d in range(1, task.levels + 1)]
    assert all(b > a for a, b in zip(length, length[1:])), length


def test_list_sums_and_products_at_the_top_level():
    rng = random.Random(4)
    assert [len(get_task("listsum").generate(rng, d).meta["terms"]) for d in range(1, 6)] == [3, 5, 7, 9, 11]
    top = [get_task("mul").generate(rng, 5).meta for _ in range(50)]
    assert all(100 < m["a"] < 1000 and 10 < m["b"] < 100 for m in top)


def test_suites_have_enough_families():
    counts = {s: sum(cls.suite == s for cls in FAMILIES.values()) for s in SUITES}
    assert counts["over"] >= 3 and counts["under"] >= 5 and counts["mip"] >= 1
    assert counts["over"] + counts["under"] >= 8


@pytest.mark.parametrize("suite", SUITES)
def test_shipped_split_is_fixed_and_large_enough(suite):
    items = load_split(suite)
    assert len(items) >= 300
    assert len({i.prompt for i in items}) == len(items)
    assert [i.model_dump() for i in items] == [i.model_dump() for i in build_test_split(suite)]


def test_training_stream_never_yields_test_prompts():
    test_prompts = {i.prompt for s in SUITES for i in load_split(s)}
    weights = {name: 1.0 for name in FAMILIES}
    seen = list(itertools.islice(training_stream(0, weights, test_prompts), 5000))
    leaked = [i for i in seen if i.prompt in test_prompts and i.family not in SHARED_SPACE]
    assert not leaked
    # the same generator without exclusion does hit test prompts of small families: the filter works
    raw = list(itertools.islice(training_stream(0, weights, set()), 5000))
    assert any(i.prompt in test_prompts and i.family not in SHARED_SPACE for i in raw)


def test_train_and_test_seeds_are_disjoint():
    from thinkgate.tasks import seeded_rng

    a = [seeded_rng("test", "under", "add", 1).random() for _ in range(3)]
    b = [seeded_rng("train", 0).random() for _ in range(3)]
    assert a != b


def test_jsonl_round_trip_and_bad_line(tmp_path):
    items = load_split("mip")[:5]
    path = tmp_path / "x.jsonl"
    write_jsonl(items, path)
    assert read_jsonl(path) == items
    path.write_text(path.read_text() + '{"id": "broken"\n')
    with pytest.raises(ValueError, match=r"x.jsonl:6"):
        read_jsonl(path)
    path.write_text('{"id": "a", "family": "add", "suite": "under", "difficulty": 1, "prompt": "p", "answer": "1", "typo": 1}\n')
    with pytest.raises(ValueError, match=r"x.jsonl:1"):
        read_jsonl(path)
