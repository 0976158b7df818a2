"""Answer verifiers: checks of a final answer that need no reference answer.

A verifier is any `Callable[[str], bool]` on `Request.verifier`. The library takes any callable; the CLI
(`thinkgate ask --verify REGEX`) and the server (`thinking.verify`) build one from a regular expression the
whole answer must match (e.g. `-?\\d+` for "an integer"), so every face can ask for verifier selection.
The bench passes each task family's exact checker (see `thinkgate.bench.runner`).
"""

from __future__ import annotations

import re
from collections.abc import Callable


def regex_verifier(pattern: str) -> Callable[[str], bool]:
    """A verifier that accepts an answer whose whole text (stripped) matches `pattern`.
    Raises ValueError naming the pattern when it does not compile."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"verifier pattern {pattern!r} is not a regular expression: {e}") from None

    def check(answer: str) -> bool:
        return rx.fullmatch(answer.strip()) is not None

    return check
