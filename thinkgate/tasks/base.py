"""The task contract: a seeded generator, an exact verifier, a difficulty knob and a faithful trace.

A task family makes items at difficulty levels 1..N (1: a direct answer works; N: it does not), checks an
answer exactly, and writes the step-by-step thinking trace the embedded model is trained on.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

ABSTAIN_ANSWER = "The question cannot be answered: {why}."
_ABSTAIN_RE = re.compile(r"cannot be (answered|determined)|not (given|defined)|is missing|unanswerable", re.I)
_INT_RE = re.compile(r"-?\d+")


class Item(BaseModel):
    """One question with its reference answer. `meta` holds what the generator drew (operands, etc.)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: str
    suite: str
    difficulty: int
    prompt: str
    answer: str
    meta: dict[str, Any] = {}


def is_abstention(text: str) -> bool:
    """True when an answer explicitly declines because the question lacks something."""
    return bool(_ABSTAIN_RE.search(text))


def last_int(text: str) -> int | None:
    found = _INT_RE.findall(text.replace(",", ""))
    return int(found[-1]) if found else None


class Task(ABC):
    """A task family. Subclasses set `name`, `suite`, `levels` and implement the three methods."""

    name: ClassVar[str]
    suite: ClassVar[str]  # "over", "under" or "mip"
    levels: ClassVar[int]  # difficulty runs 1..levels

    @abstractmethod
    def generate(self, rng: random.Random, difficulty: int) -> Item: ...

    @abstractmethod
    def trace(self, item: Item) -> str:
        """The faithful thinking (no think tags) that leads to `item.answer`."""

    def verify(self, item: Item, answer_text: str) -> bool:
        """Exact check of a final answer (the text after the think block). Integers by default."""
        if self.suite == "mip":
            return is_abstention(answer_text)
        got = last_int(answer_text)
        return got is not None and str(got) == item.answer

    def item(self, difficulty: int, prompt: str, answer: Any, **meta: Any) -> Item:
        """Build an item; the id is a content hash so the same question always has the same id."""
        import hashlib

        key = hashlib.sha1(f"{self.name}|{prompt}".encode()).hexdigest()[:12]
        return Item(id=f"{self.name}-{key}", family=self.name, suite=self.suite, difficulty=difficulty,
                    prompt=prompt, answer=str(answer), meta=meta)

    def check_level(self, difficulty: int) -> None:
        if not 1 <= difficulty <= self.levels:
            raise ValueError(f"{self.name}: difficulty must be in 1..{self.levels}, got {difficulty}")
