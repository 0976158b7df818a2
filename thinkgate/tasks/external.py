"""External data: JSONL files (OptimalThinkingBench-style, GSM8K-style, MATH-style, or plain
question/answer) and Hugging Face datasets by name, turned into items with answer extraction and a
verifier per answer type.

Field names are matched by alias, so the common layouts load without a mapping:
- question: `question`, `prompt`, `problem`, `input`
- answer: `answer`, `gold`, `target`, `final_answer`; GSM8K's "... #### 42" keeps what follows `####`;
  a MATH `solution` without an `answer` gives the last `\\boxed{}` in it
- answer type: `answer_type` or `metadata.answer_type` (numeric, mcq, short, open...); guessed when absent.
  `metadata` may be an object or a JSON string (OptimalThinkingBench stores it as a string)
- options for multiple choice: `options` or `choices` (list, also inside `metadata`), rendered as "A. ...",
  "B. ..."; the gold answer may be the option's letter or its text, and so may the model's
- suite: `suite`, `split` or `subset` ("over"/"under"; OptimalThinkingBench's subsets `overthinkingbench`,
  `underthinkingbench` and their math subsets such as `overthinking-math`, whose name is kept in the item's
  family so the breakdown shows them apart), else the `--data-suite` given. Items of the `mip` suite
  (missing premise) are right when the answer abstains, whatever their source.

Answers are extracted from the model's answer text in this order: the last `\\boxed{...}`, a
"Final answer:" / "The answer is" line, then by type: an option letter for mcq, the last number for
numeric, the whole text otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..types import check_text
from .base import Item, Task, is_abstention

Q_KEYS = ("question", "prompt", "problem", "input")
A_KEYS = ("answer", "gold", "target", "final_answer")
SUITE_ALIASES = {"over": "over", "overthinking": "over", "overthinkingbench": "over", "under": "under",
                 "underthinking": "under", "underthinkingbench": "under", "mip": "mip", "missing_premise": "mip"}
_NUM = r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?"


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth, out = start + len("\\boxed{"), 1, []
    while i < len(text):
        c = text[i]
        depth += c == "{"
        depth -= c == "}"
        if depth == 0:
            return "".join(out).strip()
        out.append(c)
        i += 1
    return None


def first_boxed(text: str) -> str | None:
    """OptimalThinkingBench's extraction (`--otb-compat`): in the last 2000 characters, the first
    `\\boxed{`, up to the first `}` (nested braces are cut there, as its code does)."""
    tail = text[-2000:]
    start = tail.find("\\boxed{")
    if start < 0:
        return None
    end = tail.find("}", start + len("\\boxed{"))
    return tail[start + len("\\boxed{"):end if end >= 0 else None].strip()


def extract_answer(text: str, answer_type: str = "short", first: bool = False) -> str:
    boxed = first_boxed(text) if first else last_boxed(text)
    if boxed is not None:
        return boxed
    m = re.findall(r"(?:final answer|the answer is)\s*[:is]*\s*(.+)", text, flags=re.I)
    candidate = m[-1].strip().rstrip(".") if m else text.strip()
    if answer_type == "mcq":
        letters = re.findall(r"\b([A-J])\b", candidate)
        return letters[-1] if letters else candidate
    if answer_type == "numeric":
        nums = re.findall(_NUM, candidate)
        return nums[-1] if nums else candidate
    return candidate


def to_number(text: str) -> Fraction | None:
    text = text.replace(",", "").replace("$", "").replace("\\%", "").replace("%", "").strip()
    m = re.fullmatch(r"(-?)\\[dt]?frac\{(-?\d+)\}\{(\d+)\}", text)
    if m:
        if int(m.group(3)) == 0:
            return None
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return -value if m.group(1) else value
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


DEFAULT_NUM_TOL = 1e-6


def same_number(got: str, gold: str, tol: float = DEFAULT_NUM_TOL) -> bool:
    """Numbers equal within `tol`, relative to the gold answer's size and absolute below 1 (`|a - b| <=
    tol * max(1, |b|)`); exact for tol 0. Thousands separators, `$`, `%`, fractions and `\\frac` are read."""
    a, b = to_number(got), to_number(gold)
    if a is None or b is None:
        return False
    return a == b if tol == 0 else abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b)))


def normalize(text: str) -> str:
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text)
    return " ".join(text.lower().replace("$", "").strip().rstrip(".").split())


def guess_type(answer: str, options: list | None) -> str:
    if options:
        return "mcq"
    return "numeric" if to_number(answer) is not None else "short"


class ExternalTask(Task):
    """Verifies items loaded from a file or dataset; `family` of such items is `external:<type>`."""

    name, suite, levels = "external", "under", 1

    def generate(self, rng, difficulty):  # pragma: no cover - external items are loaded, not generated
        raise NotImplementedError("external items are loaded with load_external")

    def trace(self, item):  # pragma: no cover
        raise NotImplementedError("external items have no reference trace")

    def verify(self, item: Item, answer_text: str) -> bool:
        if item.suite == "mip":  # a missing premise: the right answer says so
            return is_abstention(answer_text)
        kind = item.meta.get("answer_type", "short")
        got = extract_answer(answer_text, kind, first=item.meta.get("boxed") == "first")
        if kind == "numeric":
            return same_number(got, item.answer, item.meta.get("num_tol", DEFAULT_NUM_TOL))
        if kind == "mcq":
            options = item.meta.get("options") or []
            want, have = option_index(item.answer, options), option_index(got, options)
            return want is not None and want == have
        return normalize(got) == normalize(item.answer)


def option_index(text: str, options: list) -> int | None:
    """Which option an answer names: its letter ("B", "(B)", "B."), or its text (the gold answer of
    OptimalThinkingBench's multiple choice is the option's text)."""
    t = text.strip()
    m = re.fullmatch(r"\(?([A-Ja-j])[).:]?", t)
    if m and (not options or ord(m.group(1).upper()) - 65 < len(options)):
        return ord(m.group(1).upper()) - 65
    wanted = normalize(t)
    for i, o in enumerate(options):
        if normalize(str(o)) == wanted:
            return i
    m = re.match(r"\(?([A-J])[).:]\s", t)  # "B. Stratosphere"
    return ord(m.group(1)) - 65 if m else None


def _first(rec: dict, keys: tuple[str, ...]) -> Any:
    for k in keys:
        if rec.get(k) not in (None, ""):
            return rec[k]
    return None


def record_to_item(rec: dict, source: str, default_suite: str, otb_compat: bool = False,
                   num_tol: float = DEFAULT_NUM_TOL) -> Item:
    if not isinstance(rec, dict):
        raise ValueError(f"a record must be a JSON object, not {type(rec).__name__}")
    check_text(rec, "the record")
    question = _first(rec, Q_KEYS)
    if not isinstance(question, str):
        raise ValueError(f"no question field (one of {', '.join(Q_KEYS)})")
    answer = _first(rec, A_KEYS)
    if answer is None and isinstance(rec.get("solution"), str):
        answer = last_boxed(rec["solution"])
    if answer is None:
        raise ValueError(f"no answer field (one of {', '.join(A_KEYS)}, or a solution with \\boxed{{}})")
    answer = str(answer)
    if "####" in answer:
        answer = answer.rsplit("####", 1)[1].strip()
    meta = rec.get("metadata")
    if isinstance(meta, str):  # OptimalThinkingBench stores it as a JSON string
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except json.JSONDecodeError:
            raise ValueError("metadata is a string but not JSON") from None
    meta = meta if isinstance(meta, dict) else {}
    options = rec.get("options") or rec.get("choices") or meta.get("options") or meta.get("choices")
    if options is not None and not isinstance(options, list):
        raise ValueError(f"options must be a list, not {type(options).__name__}")
    kind = str(rec.get("answer_type") or meta.get("answer_type") or guess_type(answer, options)).lower()
    kind = {"mcq": "mcq", "multiple_choice": "mcq", "multiple-choice": "mcq", "multiple choice": "mcq",
            "numeric": "numeric", "numerical": "numeric", "number": "numeric", "integer": "numeric",
            "int": "numeric", "float": "numeric"}.get(kind, "short")
    if options:
        question += "\n" + "\n".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options))
    raw_suite = str(rec.get("suite") or rec.get("subset") or rec.get("split") or default_suite).lower()
    suite, subset = suite_of(raw_suite)
    key = hashlib.sha1(f"{source}|{question}".encode()).hexdigest()[:12]
    family = f"external:{subset}:{kind}" if subset else f"external:{kind}"
    # how answers are checked, not what is asked: the item keeps its id, and cached generations are
    # checked again under these (bench.runner.run_suite)
    extra = {"boxed": "first"} if otb_compat else {}
    if num_tol != DEFAULT_NUM_TOL:
        extra["num_tol"] = num_tol
    return Item(id=f"ext-{key}", family=family, suite=suite,
                difficulty=int(rec.get("difficulty", 1)) if str(rec.get("difficulty", 1)).isdigit() else 1,
                prompt=question, answer=answer,
                meta={"answer_type": kind, "source": source, **extra,
                      **({"options": [str(o) for o in options]} if options else {})})


def suite_of(name: str) -> tuple[str, str | None]:
    """(over | under | mip, the subset's own name when it is one of a suite's subsets): "over",
    "overthinkingbench", "overthinking-math" (a math subset, kept apart), "underthinking_gpqa", ..."""
    if name in SUITE_ALIASES:
        return SUITE_ALIASES[name], None
    for prefix, suite in (("overthinking", "over"), ("underthinking", "under")):
        if name.startswith(prefix):
            return suite, name
    raise ValueError(f"unknown suite {name!r} (over, under, mip, or OptimalThinkingBench's overthinking… / "
                     "underthinking… subsets)")


def pick_split(splits, split: str, spec: str):
    """The split asked for, else the dataset's `test` split, else its only one (OptimalThinkingBench ships
    a single `train` split), else `train`."""
    names = list(splits)
    if split:
        if split not in splits:
            raise ValueError(f"--data {spec}: no split {split!r}; it has {', '.join(names)}")
        return splits[split]
    for name in ("test", *(names if len(names) == 1 else []), "train"):
        if name in splits:
            return splits[name]
    raise ValueError(f"--data {spec}: which split? it has {', '.join(names)} (hf:NAME:CONFIG:SPLIT)")


def load_external(spec: str, default_suite: str = "under", otb_compat: bool = False,
                  num_tol: float = DEFAULT_NUM_TOL) -> list[Item]:
    """`spec` is a JSONL path, or `hf:NAME[:CONFIG][:SPLIT]` for a Hugging Face dataset (or a local
    dataset folder/file that `datasets.load_dataset` understands); without SPLIT, its test split, or its
    only split (`pick_split`). Errors name the record. `otb_compat`:
    answers are taken from the first `\\boxed{}`, as OptimalThinkingBench's code takes them. `num_tol`:
    how far a numeric answer may be from the gold one (`same_number`)."""
    if spec.startswith("hf:"):
        name, _, rest = spec[3:].partition(":")
        config, _, split = rest.partition(":")
        try:
            from datasets import load_dataset
        except ImportError:
            raise ValueError("hf: data needs the `datasets` package (pip install 'thinkgate[data]')") from None
        try:
            if Path(name).suffix in (".json", ".jsonl"):
                ds = load_dataset("json", data_files=name, split=split or "train")
            else:
                ds = pick_split(load_dataset(name, config or None), split, spec)
        except ValueError:
            raise
        except Exception as e:  # noqa: BLE001 - datasets raises many kinds (not found, offline, bad config)
            raise ValueError(f"--data {spec}: the dataset could not be loaded ({type(e).__name__}: {e})") from None
        records = list(ds)
        where = lambda i: f"{spec} record {i}"  # noqa: E731
    else:
        path = Path(spec)
        if not path.exists():
            raise ValueError(f"--data: {spec} does not exist")
        if not path.is_file():
            raise ValueError(f"--data: {spec} is not a file (a JSONL file, one JSON object a line)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"--data: {spec} is not UTF-8 text (byte {e.start}); give a JSONL file") from None
        except OSError as e:
            raise ValueError(f"--data: {spec} cannot be read ({e.strerror or e})") from None
        records = []
        for no, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{spec}:{no}: not JSON ({e})") from None
        where = lambda i: f"{spec}:{i + 1}"  # noqa: E731
    items = []
    for i, rec in enumerate(records):
        try:
            items.append(record_to_item(rec, spec, default_suite, otb_compat, num_tol))
        except ValueError as e:
            raise ValueError(f"{where(i)}: {e}") from None
    if not items:
        raise ValueError(f"--data {spec}: no records")
    return items
