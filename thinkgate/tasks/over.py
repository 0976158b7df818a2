"""`over` suite: simple queries where thinking is unnecessary.

Their traces are deliberately verbose — restating, re-verifying, "Wait, let me double-check" — the way
real reasoning models overthink easy questions. That waste is what thinkgate exists to measure and cut.
"""

from __future__ import annotations

import random

from .base import Item, Task

class Compare(Task):
    """Which of two numbers is larger. Difficulty: digits per number (1..3)."""

    name, suite, levels = "compare", "over", 3

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        lo, hi = (0, 10) if difficulty == 1 else (10 ** (difficulty - 1), 10**difficulty)
        a, b = rng.sample(range(lo, hi), 2)
        return self.item(difficulty, f"Which is larger, {a} or {b}?", max(a, b), a=a, b=b)

    def trace(self, item: Item) -> str:
        a, b = item.meta["a"], item.meta["b"]
        big, small = max(a, b), min(a, b)
        return (
            f"The user wants to know which number is larger: {a} or {b}.\n"
            f"Let me compare them carefully. {big} is more than {small}.\n"
            f"Wait, let me double-check. {small} is less than {big}, so {small} is the smaller one.\n"
            f"Yes, {big} is larger than {small}.\n"
            f"So the answer is {big}."
        )


class Arith1(Task):
    """One-digit addition or subtraction (no negative results). Difficulty: 1 add, 2 subtract, 3 either
    with a result up to 18."""

    name, suite, levels = "arith1", "over", 3

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        op = "+" if difficulty == 1 else "-" if difficulty == 2 else rng.choice("+-")
        a, b = rng.randrange(10), rng.randrange(10)
        if op == "-" and b > a:
            a, b = b, a
        value = a + b if op == "+" else a - b
        return self.item(difficulty, f"What is {a}{op}{b}?", value, a=a, b=b, op=op)

    def trace(self, item: Item) -> str:
        a, b, op, v = item.meta["a"], item.meta["b"], item.meta["op"], int(item.answer)
        step = "up" if op == "+" else "down"
        return (
            f"The user asks for {a}{op}{b}. This is simple arithmetic.\n"
            f"{a}{op}{b}={v}.\n"
            f"Wait, let me double-check by counting {step} {b} from {a}. I get {v}.\n"
            f"Yes, {a}{op}{b}={v}.\n"
            f"So the answer is {v}."
        )


class Successor(Task):
    """The number that comes after n. Difficulty d: n has up to d+1 digits (below 100, 1000, 10000)."""

    name, suite, levels = "successor", "over", 3

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        n = rng.randrange(0 if difficulty == 1 else 10**difficulty, 10 ** (difficulty + 1))
        return self.item(difficulty, f"What number comes after {n}?", n + 1, n=n)

    def trace(self, item: Item) -> str:
        n = item.meta["n"]
        return (
            f"The user wants the number that comes after {n}.\n"
            f"The next number is {n}+1={n + 1}.\n"
            f"Wait, let me double-check. Counting: {n}, {n + 1}. Yes, {n + 1} comes right after {n}.\n"
            f"So the answer is {n + 1}."
        )


class Reverse(Task):
    """Reverse a short spaced word. Difficulty: 2..4 letters as 1..3."""

    name, suite, levels = "reverse", "over", 3

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        letters = [rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(difficulty + 1)]
        word = " ".join(letters)
        return self.item(difficulty, f"Reverse the letters: {word}", " ".join(reversed(letters)), word=word)

    def verify(self, item: Item, answer_text: str) -> bool:
        text = " ".join(answer_text.split()).rstrip(".")
        return text == item.answer or text.endswith((f" is {item.answer}", f": {item.answer}"))

    def trace(self, item: Item) -> str:
        word, rev = item.meta["word"], item.answer
        return (
            f"The user wants the letters {word} in reverse order.\n"
            f"Reading from the last letter to the first: {rev}.\n"
            f"Wait, let me double-check. The last letter is {rev[0]} and the first letter is {word[0]}. "
            f"Reversed: {rev}.\n"
            f"So the answer is {rev}."
        )
