"""`mip` suite: missing-premise variants of reasoning items (after Fan et al. 2025, MiP-Overthinking).

Each question is ill-posed: a chain that uses a variable never defined, a sum whose second operand is
never given, a letter count with no string. The correct answer is an explicit abstention, recognised by
`is_abstention`. Difficulty follows the family the item was derived from.
"""

from __future__ import annotations

import random

from .base import ABSTAIN_ANSWER, Item, Task
from .under import _digits_number, make_chain


class ChainMissing(Task):
    """A variable chain whose first definition is removed: the root variable is never defined."""

    name, suite, levels = "chain_missing", "mip", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        names, defs, _, _ = make_chain(rng, difficulty + 2)
        shown = defs[1:]
        rng.shuffle(shown)
        prompt = f"Let {', '.join(shown)}. What is {names[-1]}?"
        why = f"{names[0]} is not defined"
        return self.item(difficulty, prompt, ABSTAIN_ANSWER.format(why=why), names=names, defs=defs, why=why)

    def trace(self, item: Item) -> str:
        names, defs = item.meta["names"], item.meta["defs"]
        back = [f"We need {n}. {d}." for n, d in zip(reversed(names[1:]), reversed(defs[1:]))]
        root = names[0]
        return (
            "\n".join(back) + "\n"
            f"We need {root}. Let me look for {root} in the question.\n"
            f"Wait, let me check again. The question defines {', '.join(names[1:])}, but not {root}.\n"
            f"Maybe {root} is zero? No, nothing says that. I should not guess.\n"
            f"So {root} is not defined and {names[-1]} cannot be computed."
        )


class AddMissing(Task):
    """An addition whose second operand is never given."""

    name, suite, levels = "add_missing", "mip", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        a = _digits_number(rng, difficulty + 1)
        why = "the second number is not given"
        return self.item(difficulty, f"What is {a} plus the other number?", ABSTAIN_ANSWER.format(why=why), a=a, why=why)

    def trace(self, item: Item) -> str:
        a = item.meta["a"]
        return (
            f"The user wants {a} plus another number.\n"
            f"Let me find the other number in the question. I see only {a}.\n"
            f"Wait, let me check again. There is no second number anywhere.\n"
            f"Maybe it means {a}+{a}? No, nothing says that. I should not guess.\n"
            f"So the second number is not given."
        )


class CountMissing(Task):
    """A letter count that never gives the string to count in. Difficulty picks what the prompt calls the
    missing string (list, word, string, sentence, text)."""

    name, suite, levels = "count_missing", "mip", 5
    nouns = ("list", "word", "string", "sentence", "text")

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        target = rng.choice("abcdefghijklmnopqrstuvwxyz")
        why = "the letters to count in are not given"
        prompt = f"How many times does the letter {target} appear in the {self.nouns[difficulty - 1]}?"
        return self.item(difficulty, prompt, ABSTAIN_ANSWER.format(why=why), target=target, why=why)

    def trace(self, item: Item) -> str:
        target = item.meta["target"]
        return (
            f"The user wants to count the letter {target} in a list.\n"
            f"Let me find the list in the question. There is no list of letters.\n"
            f"Wait, let me check again. The question ends without any letters.\n"
            f"So the letters to count in are not given."
        )
