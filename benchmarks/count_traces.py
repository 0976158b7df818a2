"""Alternative letter-count traces, for sweeps that compare them with the shipped one
(`thinkgate.tasks.under.Count.trace`). A plan entry of `train_sweep.py` names one as "count_trace"; the run
then trains with it in place of the shipped trace. Experiments only: nothing in the package imports this.
"""

from __future__ import annotations


def running(item) -> str:
    """Copy each letter and write the running count after it (no mark): `e 0, h 1, h 2`."""
    target, letters = item.meta["target"], item.meta["letters"]
    steps, total = [], 0
    for letter in letters:
        total += letter == target
        steps.append(f"{letter} {total}")
    return (f"Count the letter {target}, keeping a running count.\nCounts: " + ", ".join(steps) + "\n"
            f"Wait, let me check: the last letter is {letters[-1]}, and the count is {total}.\n"
            f"So {target} appears {total} times.")


def paired(item) -> str:
    """Write the target beside each copied letter, so that the mark compares two adjacent tokens:
    `e vs h- 0, h vs h+ 1`."""
    target, letters = item.meta["target"], item.meta["letters"]
    steps, total = [], 0
    for letter in letters:
        total += letter == target
        steps.append(f"{letter} vs {target}{'+' if letter == target else '-'} {total}")
    return (f"Compare each letter with {target}: + if the same, - if not. Count the + marks.\nMarks: "
            + ", ".join(steps) + "\n"
            f"Wait, let me check: the last letter is {letters[-1]}, and the count is {total}.\n"
            f"So {target} appears {total} times.")


def install(name: str) -> None:
    """Replace the shipped count trace with the one called `name` in this process."""
    from thinkgate.tasks.under import Count

    trace = {"running": running, "paired": paired}[name]
    Count.trace = lambda self, item: trace(item)
