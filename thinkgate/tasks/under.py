"""`under` suite: items where reasoning is needed.

Each family's trace is a faithful procedure built from local steps (every step reads only the line before
it and a few prompt tokens), so a small model can learn to execute it; the direct answer needs the whole
computation in one forward pass and fails as difficulty rises. Traces carry checks ("Wait", "check")
where a careful solver would make them.
"""

from __future__ import annotations

import random
import string

from .base import Item, Task


def _digits_number(rng: random.Random, digits: int) -> int:
    return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)


def addition_steps(a: int, b: int) -> tuple[list[str], int]:
    """Column addition from the right, one line per column: the numbers left to add, the column sum with
    the carry, the digit written, and the result so far. Returns the lines and the sum."""
    lines, carry, result, x, y = [], 0, "", a, b
    while x or y or not lines:
        dx, dy = x % 10, y % 10
        total = dx + dy + carry
        result = str(total % 10) + result
        lines.append(f"{x}+{y}: {dx}+{dy}+{carry}={total}, write {total % 10} carry {total // 10}, so far {result}")
        carry, x, y = total // 10, x // 10, y // 10
    if carry:
        result = "1" + result
        lines.append(f"carry 1 goes in front, so far {result}")
    return lines, int(result)


def multiply_steps(a: int, d: int) -> tuple[list[str], int]:
    """a times one digit d, from the right, one line per digit of a."""
    lines, carry, result, x = [], 0, "", a
    while x or not lines:
        dx = x % 10
        total = dx * d + carry
        result = str(total % 10) + result
        lines.append(f"{x}*{d}: {dx}*{d}+{carry}={total}, write {total % 10} carry {total // 10}, so far {result}")
        carry, x = total // 10, x // 10
    if carry:
        result = str(carry) + result
        lines.append(f"carry {carry} goes in front, so far {result}")
    return lines, int(result)


class Add(Task):
    """Multi-digit addition. Difficulty d: operands of d+1 and d digits (2+1 .. 6+5 digits)."""

    name, suite, levels = "add", "under", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        a, b = _digits_number(rng, difficulty + 1), _digits_number(rng, rng.choice([difficulty, difficulty + 1]))
        if rng.random() < 0.5:
            a, b = b, a
        return self.item(difficulty, f"What is {a}+{b}?", a + b, a=a, b=b)

    def trace(self, item: Item) -> str:
        a, b = item.meta["a"], item.meta["b"]
        lines, total = addition_steps(a, b)
        return (
            f"Add {a}+{b} column by column from the right.\n" + "\n".join(lines) + "\n"
            f"Check: the last digits {a % 10}+{b % 10} end in {(a + b) % 10}, and {total} ends in {total % 10}.\n"
            f"So {a}+{b}={total}."
        )


class Mul(Task):
    """Multi-digit multiplication. Difficulty 1..4: a (d digits) times one digit; 5: three digits times two
    digits, as two one-digit products and a column addition. (Level 5 was two digits times two digits until
    the model trained on it answered it directly as often as level 4, 0.077 against 0.078 over 1000 items
    each.)"""

    name, suite, levels = "mul", "under", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        if difficulty < 5:
            a, b = _digits_number(rng, difficulty), rng.randrange(2, 10)
        else:
            a, b = rng.randrange(101, 1000), rng.randrange(11, 100)
        return self.item(difficulty, f"What is {a}*{b}?", a * b, a=a, b=b)

    def trace(self, item: Item) -> str:
        a, b = item.meta["a"], item.meta["b"]
        if b < 10:
            lines, product = multiply_steps(a, b)
            return (
                f"Multiply {a}*{b} digit by digit from the right.\n" + "\n".join(lines) + "\n"
                f"Check: {a % 10}*{b} ends in {(a % 10) * b % 10}, and {product} ends in {product % 10}.\n"
                f"So {a}*{b}={product}."
            )
        ones, tens = b % 10, b // 10
        l1, p1 = multiply_steps(a, ones)
        l2, p2 = multiply_steps(a, tens)
        l3, total = addition_steps(p1, p2 * 10)
        return (
            f"Split {b} into {tens} tens and {ones} ones: {a}*{b}={a}*{ones}+{a}*{tens}0.\n"
            f"First {a}*{ones}.\n" + "\n".join(l1) + f"\nSo {a}*{ones}={p1}.\n"
            f"Then {a}*{tens}.\n" + "\n".join(l2) + f"\nSo {a}*{tens}={p2}, and {a}*{tens}0={p2 * 10}.\n"
            f"Now add {p1}+{p2 * 10}.\n" + "\n".join(l3) + "\n"
            f"Wait, let me check the size: {a} is about {round(a, -1)} and {b} is about {round(b, -1)}, "
            f"so about {round(a, -1) * round(b, -1)}. {total} is close. Good.\n"
            f"So {a}*{b}={total}."
        )


_VARS = "abcdefghjkmnpqrstuvwxyz"


def make_chain(rng: random.Random, hops: int) -> tuple[list[str], list[str], list[int], list[str]]:
    """A chain of `hops` definitions: the first is a constant, each next one adds or subtracts a digit
    from the previous variable. Values stay in 0..29. Returns (names, definitions, values, ops)."""
    names = rng.sample(_VARS, hops)
    values = [rng.randrange(1, 20)]
    defs = [f"{names[0]}={values[0]}"]
    ops = [""]
    for i in range(1, hops):
        k = rng.randrange(1, 10)
        op = "-" if values[-1] - k >= 0 and (values[-1] + k > 29 or rng.random() < 0.5) else "+"
        values.append(values[-1] + k if op == "+" else values[-1] - k)
        defs.append(f"{names[i]}={names[i - 1]}{op}{k}")
        ops.append(f"{op}{k}")
    return names, defs, values, ops


class Chain(Task):
    """Variable chains: k definitions listed in shuffled order, asked for the last. Difficulty d: d+1
    hops (2..6)."""

    name, suite, levels = "chain", "under", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        names, defs, values, _ = make_chain(rng, difficulty + 1)
        shown = defs[:]
        rng.shuffle(shown)
        prompt = f"Let {', '.join(shown)}. What is {names[-1]}?"
        return self.item(difficulty, prompt, values[-1], names=names, defs=defs, values=values)

    def trace(self, item: Item) -> str:
        names, defs, values = item.meta["names"], item.meta["defs"], item.meta["values"]
        back = [f"We need {n}. {d}." for n, d in zip(reversed(names), reversed(defs))]
        fwd = [f"So {names[0]}={values[0]}."]
        for i in range(1, len(names)):
            op = defs[i][len(names[i]) + 2:]
            fwd.append(f"So {names[i]}={values[i - 1]}{op}={values[i]}.")
        last = defs[-1][len(names[-1]) + 2:]
        return (
            "\n".join(back) + "\n" + "\n".join(fwd) + "\n"
            f"Wait, let me check {names[-1]}: {names[-2]} is {values[-2]} and {values[-2]}{last}={values[-1]}. Yes.\n"
            f"So {names[-1]}={values[-1]}."
        )


class Count(Task):
    """Count one letter in a spaced string. Difficulty d: 4d letters (4..20), the target letter common."""

    name, suite, levels = "count", "under", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        target = rng.choice(string.ascii_lowercase)
        others = [c for c in string.ascii_lowercase if c != target]
        letters = [target if rng.random() < 0.3 else rng.choice(others) for _ in range(4 * difficulty)]
        text = " ".join(letters)
        prompt = f"How many times does the letter {target} appear in: {text}"
        return self.item(difficulty, prompt, letters.count(target), target=target, letters=letters)

    def trace(self, item: Item) -> str:
        """Walk the letters one by one: copy each, mark it `+` if it is the target and `-` if not, and write
        the running count of `+` marks after it. The header shows the target's own mark (`h+`), so a mark is
        either a look-up of the letter's earlier mark or a comparison with one letter of the prompt; the
        count then only ever grows by the mark just written. (A trace that copied four letters at a time and
        counted the target in each group was never learnt by the 3M model: it wrote "1" for every group.)"""
        target, letters = item.meta["target"], item.meta["letters"]
        steps, total = [], 0
        for letter in letters:
            total += letter == target
            steps.append(f"{letter}{'+' if letter == target else '-'} {total}")
        return (
            f"Mark each letter: {target}+ and any other letter -. Count the + marks.\n"
            + "Marks: " + ", ".join(steps) + "\n"
            f"Wait, let me check: the last letter is {letters[-1]}, so every letter is marked, and the count is "
            f"{total}.\n"
            f"So {target} appears {total} times."
        )


class ListSum(Task):
    """Sum of a list of one-digit numbers. Difficulty d: 2d+1 terms (3, 5, 7, 9, 11). (Levels one term apart,
    3..7 terms, were too close: a direct answer tracks the size of the sum more than the number of terms,
    and the model trained on them answered 5- and 6-term sums directly equally well, 0.617 and 0.621 over
    6000 items each.)"""

    name, suite, levels = "listsum", "under", 5

    def generate(self, rng: random.Random, difficulty: int) -> Item:
        self.check_level(difficulty)
        terms = [rng.randrange(1, 10) for _ in range(2 * difficulty + 1)]
        return self.item(difficulty, f"What is {'+'.join(map(str, terms))}?", sum(terms), terms=terms)

    def trace(self, item: Item) -> str:
        terms = item.meta["terms"]
        lines, acc, rest = [], terms[0], terms[1:]
        while rest:
            nxt = acc + rest[0]
            tail = "".join(f"+{t}" for t in rest[1:])
            lines.append(f"{acc}+{rest[0]}={nxt}, left {nxt}{tail}")
            acc, rest = nxt, rest[1:]
        return (
            "Add the numbers one at a time from the left.\n" + "\n".join(lines) + "\n"
            f"Wait, let me check: there were {len(terms)} numbers and I added {len(terms) - 1} times. Good.\n"
            f"So the sum is {acc}."
        )
