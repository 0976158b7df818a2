"""An LLM judge for free-form answers: pointwise verdicts that score rows, and pairwise comparisons with the
two answers asked in both orders, whose disagreement (the flip rate) says how much the judge's choice
depends on position rather than on the answers.

OptimalThinkingBench (Aggarwal et al. 2025) scores its free-form OverthinkingBench answers with an LLM
verifier given the question, the reference and the response, read from a final "Final Decision: Yes/No"
line; a reply without that line counts as yes when it says yes and not no (its code's fallback). J1
(Whitehouse et al. 2025) and CodeJudgeBench (Jiang et al. 2025) show that pairwise judges change their
choice when the two answers swap places, so a pairwise verdict is only read together with its swap.

The judge is any backend thinkgate runs (the embedded model, a folder or GGUF file, an engine upstream)
behind a `Gate`, so it is asked through the same library call as everything else; its strategy (default
`think`) and sampling (greedy) are the caller's. Choices where the papers are silent: the prompts are
thinkgate's own and fixed (`POINTWISE`, `PAIRWISE`) and take the verdict alone or after reasoning (small
judges answer in a word; larger ones reason, then write the decision line); the judge sees the answer text
after the thought, never the thought; a reply with no readable verdict is "unclear" and scores as wrong
(counted apart); pairwise verdicts are A, B or Tie (both right or both wrong), and identical answers are a
tie without a call. Every call is cached by the judge's model, strategy, sampling and the exact prompt, so
a rerun asks nothing again.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from ..gate import Gate
from ..tasks import Item
from ..types import Request, Sampling
from ..scoring.cache import ResultsCache
from ..scoring.metrics import Row

POINTWISE = """You are grading a response to a question against the reference answer.

Question:
{question}

Reference answer:
{reference}

Response:
{response}

Is the response's final answer the same as the reference answer? Judge the final answer only, not the
working or the wording; an equivalent form of the same answer counts as the same. Reply with the verdict
alone, Yes or No; if you reason first, end with the line "Final Decision: Yes" or "Final Decision: No"."""

PAIRWISE = """You are comparing two responses to a question, given its reference answer.

Question:
{question}

Reference answer:
{reference}

Response A:
{a}

Response B:
{b}

Which response's final answer is correct? Judge the final answers only; if both are correct or both are
wrong, it is a tie. Reply with the verdict alone, A, B or Tie; if you reason first, end with the line
"Final Decision: A", "Final Decision: B" or "Final Decision: Tie"."""

JUDGE_VERSION = "1"  # bump when the prompts or how a reply is read change
# a reply that starts with its verdict, the verdict standing alone ("Yes.", "**A**", "Tie, since ...")
_ALONE = re.compile(r"\W*(yes|no|tie|(?-i:A|B))\b(?=\W*$|\s*[.,:;!)*\n])", re.I)
_DECISION = re.compile(r"final\s+decision\W{0,4}(?:is\s+)?[:：]?\s*[*\[\"'(]*\s*(?:response\s+)?(yes|no|tie|(?-i:A|B))\b",
                       re.I)


class Verdict(BaseModel):
    """One judge call as cached: the decision read from its reply ("yes", "no", "A", "B", "tie" or None)
    and the reply itself."""

    model_config = ConfigDict(extra="forbid")

    decision: str | None
    reply: str
    tokens: int


def read_pointwise(reply: str) -> str | None:
    """"yes" or "no" from a judge's reply: the last "Final Decision:" line; else a reply that starts with
    its verdict; else yes when the reply says yes and not no (OptimalThinkingBench's fallback), no when it
    says no and not yes; else None."""
    found = [m.group(1).lower() for m in _DECISION.finditer(reply)]
    found = [d for d in found if d in ("yes", "no")]
    if found:
        return found[-1]
    alone = _ALONE.match(reply)
    if alone and alone.group(1).lower() in ("yes", "no"):
        return alone.group(1).lower()
    yes, no = re.search(r"\byes\b", reply, re.I), re.search(r"\bno\b", reply, re.I)
    if yes and not no:
        return "yes"
    if no and not yes:
        return "no"
    return None


def read_pairwise(reply: str) -> str | None:
    """"A", "B" or "tie" from a judge's reply: the last "Final Decision:" line, else a reply that starts
    with its verdict (the letters in capitals); else None."""
    found = [m.group(1) for m in _DECISION.finditer(reply)]
    alone = _ALONE.match(reply)
    found = found or ([alone.group(1)] if alone else [])
    found = [d if d in ("A", "B") else d.lower() for d in found if d in ("A", "B") or d.lower() == "tie"]
    return found[-1] if found else None


class Judge:
    """Asks `gate` the fixed prompts, `chunk` at a time, through `Gate.run_batch`; calls are cached in
    `cache` (a `ResultsCache` of `Verdict`s; None: none kept) under `model_key` (the judge model's
    fingerprint), the strategy and the sampling. `calls` and `cached` count distinct prompts asked and
    found in the cache."""

    def __init__(self, gate: Gate, model_key: str, sampling: Sampling | None = None,
                 cache: ResultsCache | None = None, chunk: int = 16):
        self.gate, self.model_key, self.chunk = gate, model_key, chunk
        self.sampling = sampling or Sampling(temperature=0.0, max_tokens=1024)
        self.cache = cache if cache is not None else ResultsCache(None, record=Verdict)
        self.calls = self.cached = 0

    def _key(self, prompt: str) -> str:
        digest = hashlib.sha1(prompt.encode()).hexdigest()
        return "|".join([f"j{JUDGE_VERSION}", self.model_key, self.gate.strategy.spec,
                         self.sampling.model_dump_json(), digest])

    def ask(self, prompts: list[str], read: Callable[[str], str | None],
            advance: Callable[[int], None] | None = None) -> list[Verdict]:
        """One verdict per prompt (cached ones reused, the rest asked `chunk` at a time and cached as each
        chunk finishes)."""
        keys = [self._key(p) for p in prompts]
        distinct = dict(zip(keys, prompts))  # the same prompt twice is asked (and counted) once
        out: dict[str, Verdict] = {}
        todo = []
        for key, prompt in distinct.items():
            hit = self.cache.get(key)
            if hit is not None:
                out[key] = hit
                self.cached += 1
            else:
                todo.append((key, prompt))
        if advance and len(prompts) - len(todo):
            advance(len(prompts) - len(todo))
        for start in range(0, len(todo), self.chunk):
            part = todo[start:start + self.chunk]
            results = self.gate.run_batch([Request.of(p, sampling=self.sampling) for _, p in part])
            new = [(key, Verdict(decision=read(res.answer), reply=res.answer,
                                 tokens=res.usage.completion_tokens)) for (key, _), res in zip(part, results)]
            self.cache.add(new)
            out.update(new)
            self.calls += len(part)
            if advance:
                advance(len(part))
        return [out[k] for k in keys]


def judged(item: Item) -> bool:
    """Whether the judge scores an item: free-form answers (type short), not missing-premise items."""
    return item.family.startswith("external:") and item.suite != "mip" and item.meta.get("answer_type") == "short"


def pointwise(judge: Judge, rows: list[Row], items: dict[str, Item],
              advance: Callable[[int], None] | None = None) -> tuple[list[Row], dict]:
    """Rows of judged items rescored by the judge's verdict (`judge` set to yes / no / unclear; unclear is
    wrong); other rows as they were. Returns the rows and counts: judged, yes, no, unclear, and how often
    a verdict that was read agrees with normalized exact match."""
    todo = [i for i, r in enumerate(rows) if r.item in items and judged(items[r.item])]
    prompts = [POINTWISE.format(question=items[rows[i].item].prompt, reference=items[rows[i].item].answer,
                                response=rows[i].answer) for i in todo]
    verdicts = judge.ask(prompts, read_pointwise, advance)
    out = list(rows)
    agree = read = 0
    for i, v in zip(todo, verdicts):
        label = v.decision or "unclear"
        out[i] = rows[i].model_copy(update={"correct": label == "yes", "judge": label})
        if v.decision:
            read += 1
            agree += (label == "yes") == rows[i].correct
    counts = {k: sum(1 for i in todo if out[i].judge == k) for k in ("yes", "no", "unclear")}
    return out, {"judged": len(todo), **counts, "agree_exact": round(agree / read, 4) if read else None}


def comparisons(rows: list[Row], items: dict[str, Item]) -> list[tuple[str, str, int, list[tuple[Item, str, str]]]]:
    """Every pair of strategies over the judged items both answered: (strategy a, strategy b, how many
    (item, sample) they answered the same, and for the others (item, a's answer, b's answer)), in order."""
    by: dict[str, dict[tuple, Row]] = defaultdict(dict)
    for r in rows:
        if r.item in items and judged(items[r.item]):
            by[r.strategy][(r.suite, r.item, r.sample)] = r
    out = []
    for s, t in itertools.combinations(by, 2):
        shared = sorted(by[s].keys() & by[t].keys())
        differ = [(items[k[1]], by[s][k].answer, by[t][k].answer) for k in shared
                  if by[s][k].answer.strip() != by[t][k].answer.strip()]
        out.append((s, t, len(shared) - len(differ), differ))
    return out


def pairwise(judge: Judge, rows: list[Row], items: dict[str, Item],
             advance: Callable[[int], None] | None = None) -> list[dict]:
    """Every pair of strategies compared on the judged items they both answered: each (item, sample) whose
    answers differ is asked twice, A/B then swapped. Per pair: how many were compared, each side's
    consistent wins, consistent ties, the flips (both orders read, different choices once mapped back to
    the strategies), the flip rate over the pairs read in both orders, and how often "A" was chosen
    (position bias: 0.5 is none, on answers that differ)."""
    pairs = comparisons(rows, items)
    prompts = [PAIRWISE.format(question=item.prompt, reference=item.answer, a=x, b=y)
               for _, _, _, differ in pairs for item, a, b in differ for x, y in ((a, b), (b, a))]
    verdicts = iter(judge.ask(prompts, read_pairwise, advance))
    out = []
    for s, t, same, differ in pairs:
        stats = {"a": s, "b": t, "compared": len(differ), "same_answer": same, "a_wins": 0, "b_wins": 0, "ties": 0,
                 "flips": 0, "unclear": 0, "read_both": 0}
        chose_first = read = 0
        for _ in differ:
            first, second = next(verdicts).decision, next(verdicts).decision
            # back to the strategies: in the first order A is s; in the swapped one A is t
            one = {"A": s, "B": t, "tie": "tie"}.get(first) if first else None
            two = {"A": t, "B": s, "tie": "tie"}.get(second) if second else None
            for d in (first, second):
                if d in ("A", "B"):
                    read += 1
                    chose_first += d == "A"
            if one is None or two is None:
                stats["unclear"] += 1
                continue
            stats["read_both"] += 1
            if one != two:
                stats["flips"] += 1
            elif one == "tie":
                stats["ties"] += 1
            else:
                stats["a_wins" if one == s else "b_wins"] += 1
        stats["flip_rate"] = round(stats["flips"] / stats["read_both"], 4) if stats["read_both"] else None
        stats["first_rate"] = round(chose_first / read, 4) if read else None
        out.append(stats)
    return out
