"""Alternative letter-count traces, for sweeps that compare them with the shipped one
(`thinkgate.tasks.under.Count.trace`). A plan entry of `train_sweep.py` names one as "count_trace"; the run
then trains with it in place of the shipped trace. Experiments only: nothing in the package imports this.
"""

from __future__ import annotations


def _walk(item, header: str, label: str, step) -> str:
    """A trace that writes `step(letter, target, count so far)` for each letter, then the check and answer."""
    target, letters = item.meta["target"], item.meta["letters"]
    steps, total = [], 0
    for letter in letters:
        total += letter == target
        steps.append(step(letter, target, total))
    return (f"{header}\n{label}: " + ", ".join(steps) + "\n"
            f"Wait, let me check: the last letter is {letters[-1]}, and the count is {total}.\n"
            f"So {target} appears {total} times.")


def running(item) -> str:
    """Copy each letter and write the running count after it (no mark): `e 0, h 1, h 2`."""
    return _walk(item, f"Count the letter {item.meta['target']}, keeping a running count.", "Counts",
                 lambda letter, target, total: f"{letter} {total}")


def paired(item) -> str:
    """Write the target beside each copied letter, so that the mark compares two adjacent tokens:
    `e vs h- 0, h vs h+ 1`."""
    return _walk(item, f"Compare each letter with {item.meta['target']}: + if the same, - if not. Count the + marks.",
                 "Marks", lambda letter, target, total: f"{letter} vs {target}{'+' if letter == target else '-'} {total}")


def install(name: str) -> None:
    """Replace the shipped count trace with the one called `name` in this process."""
    from thinkgate.tasks.under import Count

    trace = {"running": running, "paired": paired}[name]
    Count.trace = lambda self, item: trace(item)
