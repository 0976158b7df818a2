"""Answer verifiers: checks of a final answer that need no reference answer.

A verifier is any `Callable[[str], bool]` on `Request.verifier`. The library takes any callable; the CLI
(`thinkgate ask --verify REGEX`) and the server (`thinking.verify`) build one from a regular expression the
whole answer must match (e.g. `-?\\d+` for "an integer"), so every face can ask for verifier selection.
The bench passes each task family's exact checker (see `thinkgate.bench.runner`).

A pattern may come from a client, so it must not be able to hang the process: it is compiled and matched
by the `regex` module rather than `re`, because its matcher takes a time limit and, with
`concurrent=True`, runs without the interpreter lock, so a catastrophic pattern such as `(a|aa)+$` costs
one thread `timeout_s` and nothing else (`re` holds the lock for as long as it backtracks: a server's
event loop and its health check freeze with it). A match that runs out of time counts as not accepted
(`RegexVerifier.timeouts` counts them); a pattern longer than `max_len` characters, or one that does not
compile (whatever the reason: a repeat count too big, nesting too deep), is a ValueError naming the problem.
"""

from __future__ import annotations

import time

import regex

from .types import check_text

MAX_PATTERN_LEN = 512  # characters; a verifier describes an answer's form, not a grammar
TIMEOUT_S = 0.5  # per answer checked
BUDGET_S = 2.0  # for all the answers one verifier checks (a request's samples)


class RegexVerifier:
    """Accepts an answer whose whole text (stripped) matches the pattern, within `timeout_s` per answer and
    `budget_s` over every answer it checks (one verifier serves one request: its samples share the budget)."""

    def __init__(self, pattern: str, timeout_s: float = TIMEOUT_S, max_len: int = MAX_PATTERN_LEN,
                 budget_s: float = BUDGET_S):
        if not isinstance(pattern, str):
            raise ValueError("the verifier pattern must be a string")
        if len(pattern) > max_len:
            raise ValueError(f"the verifier pattern is {len(pattern)} characters; at most {max_len} are taken")
        check_text(pattern, "the verifier pattern")
        try:
            self._rx = regex.compile(pattern)
        except RecursionError:
            raise ValueError("the verifier pattern nests too deeply to compile") from None
        except Exception as e:  # noqa: BLE001 - regex.error, OverflowError, ...: all mean "not a usable pattern"
            shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
            raise ValueError(f"the verifier pattern {shown!r} is not a regular expression: {e}") from None
        self.pattern = pattern
        self.timeout_s = timeout_s
        self.left_s = budget_s
        self.timeouts = 0

    def __call__(self, answer: str) -> bool:
        limit = min(self.timeout_s, self.left_s)
        if limit <= 0:
            self.timeouts += 1
            return False
        started = time.monotonic()
        try:
            return self._rx.fullmatch(answer.strip(), timeout=limit, concurrent=True) is not None
        except TimeoutError:
            self.timeouts += 1
            return False
        finally:
            self.left_s -= time.monotonic() - started


def regex_verifier(pattern: str, **limits: float) -> RegexVerifier:
    """A verifier from a regular expression the whole answer must match (see `RegexVerifier` for the
    limits). Raises ValueError naming the problem when the pattern is too long or does not compile."""
    return RegexVerifier(pattern, **limits)
