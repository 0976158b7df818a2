"""Task families, suites and the fixed test splits.

A registry maps a family name to its class; adding a family touches its own file and this table.
Splits: the fixed test split of each suite is drawn from seeds in the "test" namespace and shipped as
JSONL under `splits/`; training draws from the "train" namespace and skips every test prompt, except for
`arith1`, whose whole space (about 150 one-digit questions) is smaller than what a test split needs.
Calibration (routers, `thinkgate calibrate`) draws from a third namespace, "calib", and skips every test
prompt too (arith1 excepted, as above); `held_out_prompts()` is the set a training run should skip so
that it sees neither test nor calibration prompts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

from .base import Item, Task, is_abstention
from .mip import AddMissing, ChainMissing, CountMissing
from .over import Arith1, Compare, Reverse, Successor
from .under import Add, Chain, Count, ListSum, Mul

FAMILIES: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (Compare, Arith1, Successor, Reverse, Add, Mul, Chain, Count, ListSum,
                ChainMissing, AddMissing, CountMissing)
}
SUITES = ("over", "under", "mip")
TEST_ITEMS_PER_SUITE = 300
SPLITS_DIR = Path(__file__).parent / "splits"
# Families whose question space is too small to hold out the test prompts from training.
SHARED_SPACE = frozenset({"arith1"})


def get_task(family: str) -> Task:
    if family.startswith("external:"):
        from .external import ExternalTask

        return ExternalTask()
    try:
        return FAMILIES[family]()
    except KeyError:
        raise KeyError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}") from None


def families(suite: str) -> list[Task]:
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    return [cls() for cls in FAMILIES.values() if cls.suite == suite]


def seeded_rng(namespace: str, *parts: object) -> random.Random:
    """A generator seeded by a string; "test" and "train" namespaces never share a seed."""
    return random.Random("|".join([namespace, *map(str, parts)]))


def build_test_split(suite: str, n: int = TEST_ITEMS_PER_SUITE) -> list[Item]:
    """Deterministically draw `n` distinct items, spread evenly over families and difficulty levels."""
    return draw_split(suite, n, "test", set())


CALIB_ITEMS_PER_SUITE = 300


def build_calib_split(suite: str, n: int = CALIB_ITEMS_PER_SUITE) -> list[Item]:
    """The calibration split: like the test split (evenly over families and levels) but drawn from the
    "calib" seed namespace and holding no test prompt (arith1, whose space is too small, excepted). A
    cell whose question space is nearly used up by the test split (count_missing at level 1) gives fewer
    items rather than repeating test prompts."""
    exclude = {it.prompt for it in load_split(suite) if it.family not in SHARED_SPACE}
    return draw_split(suite, n, "calib", exclude, strict=False)


def held_out_prompts(calib_n: int = CALIB_ITEMS_PER_SUITE) -> set[str]:
    """Every test and calibration prompt of every suite: what a training run should skip."""
    return {it.prompt for s in SUITES for it in load_split(s) + build_calib_split(s, calib_n)}


def draw_split(suite: str, n: int, namespace: str, exclude: set[str], strict: bool = True) -> list[Item]:
    """`n` distinct items of `suite` from the seed namespace `namespace`, spread evenly over families and
    levels, none of whose prompts is in `exclude`. `strict`: a cell that runs out of distinct items raises
    (else it gives fewer)."""
    tasks = families(suite)
    cells = [(t, d) for t in tasks for d in range(1, t.levels + 1)]
    per_cell, extra = divmod(n, len(cells))
    items: list[Item] = []
    prompts: set[str] = set()  # distinct across the whole suite (levels of a family can overlap)
    for i, (task, d) in enumerate(cells):
        rng, got, want = seeded_rng(namespace, suite, task.name, d), 0, per_cell + (i < extra)
        for _ in range(want * 200):
            if got == want:
                break
            item = task.generate(rng, d)
            if item.prompt not in prompts and item.prompt not in exclude:
                prompts.add(item.prompt)
                items.append(item)
                got += 1
        if got < want and strict:
            raise RuntimeError(f"{task.name} level {d}: only {got} distinct items, {want} needed")
    return items


def write_jsonl(items: Iterable[Item], path: str | Path) -> None:
    with open(path, "w") as f:
        for item in items:
            f.write(item.model_dump_json() + "\n")


def read_jsonl(path: str | Path) -> list[Item]:
    """Load items; a malformed line is an error naming the file and line number."""
    items = []
    with open(path) as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(Item.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValueError) as e:
                raise ValueError(f"{path}:{no}: not a valid item: {e}") from None
    return items


def load_split(suite: str) -> list[Item]:
    """The fixed test split shipped with the package."""
    path = SPLITS_DIR / f"{suite}.jsonl"
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    if not path.exists():
        raise FileNotFoundError(f"test split {path} is missing; rebuild it with `thinkgate tasks export`")
    return read_jsonl(path)


def training_stream(seed: int, weights: dict[str, float], exclude: set[str]) -> Iterator[Item]:
    """An endless stream of training items: family by `weights`, difficulty uniform, test prompts skipped."""
    rng = seeded_rng("train", seed)
    tasks = {name: get_task(name) for name in weights}
    names, probs = list(weights), list(weights.values())
    while True:
        task = tasks[rng.choices(names, probs)[0]]
        item = task.generate(rng, rng.randint(1, task.levels))
        if task.name in SHARED_SPACE or item.prompt not in exclude:
            yield item


__all__ = ["FAMILIES", "SUITES", "Item", "Task", "build_calib_split", "build_test_split", "held_out_prompts", "families", "get_task", "is_abstention",
           "read_jsonl", "load_split", "training_stream", "write_jsonl"]
