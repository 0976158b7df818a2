"""Bench metrics, computed per sample first and then averaged.

A row is one (item, sample) outcome: correct, thinking tokens, answer tokens. Thinking tokens are the
tokens of the reasoning part; a response that never closes its think block counts in full as thinking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: str
    suite: str
    family: str
    difficulty: int
    item: str
    sample: int = 0
    correct: bool
    think_tokens: int
    answer_tokens: int
    closed: bool
    finish_reason: str
    wall_s: float
    answer: str


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def aggregate(rows: list[Row]) -> dict:
    return {
        "n": len(rows),
        "accuracy": round(_mean([float(r.correct) for r in rows]), 4),
        "think_tokens_mean": round(_mean([r.think_tokens for r in rows]), 2),
        "answer_tokens_mean": round(_mean([r.answer_tokens for r in rows]), 2),
        "think_rate": round(_mean([float(r.think_tokens > 0) for r in rows]), 4),
    }


def results_table(rows: Iterable[Row]) -> list[dict]:
    """One row per (strategy, suite), in first-seen order."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.strategy, r.suite)].append(r)
    return [{"strategy": s, "suite": q, **aggregate(g)} for (s, q), g in groups.items()]


def breakdown(rows: Iterable[Row]) -> list[dict]:
    """Per (strategy, suite, family, difficulty)."""
    groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in rows:
        groups[(r.strategy, r.suite, r.family, r.difficulty)].append(r)
    return [{"strategy": s, "suite": q, "family": f, "difficulty": d, **aggregate(g)}
            for (s, q, f, d), g in sorted(groups.items(), key=lambda kv: kv[0])]
