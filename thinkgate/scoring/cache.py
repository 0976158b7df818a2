"""Append-only JSONL cache of bench rows, flushed per row, so a killed run resumes where it stopped.

Each line is one scored (item, sample) under a key of (model fingerprint, strategy spec, suite, item id,
sample index, sampling settings), with a check: a short hash of the line's key and row as canonical JSON,
written with it. Reading skips a final line cut short by a kill, and ends a whole last row whose newline
was never written (either way the next write starts on a fresh line), so a crash at any moment neither
loses a finished row nor duplicates one. Any other line that is not a row, a row that is not the (suite,
item, sample) its key names, or a second row for a key that says something else than the first (two runs
of one key differ only in wall time), is an error naming the line: a changed cache is never read as if it
were right.

A row whose check does not match its content (its figures edited by hand: token counts, `correct`), or
that has none (written before rows carried one, or with the check taken out), is not used: it is dropped
from the file — every other line kept as it was — and run again, with one warning saying how many rows
were dropped and why. The check tells an edited row from one the bench wrote; it is not a signature (who
edits a row on purpose can recompute it). Rows without a check, of any scoring version, count as changed:
a cache written before rows carried checks is run again once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel

from .metrics import Row

log = logging.getLogger("thinkgate.cache")


def model_fingerprint(model_dir: str | Path) -> str:
    """Path plus a hash of config.json and the weights' sizes: a retrained model gets a new key (a GGUF
    file: its size and modification time)."""
    folder = Path(model_dir)
    h = hashlib.sha1(str(folder.resolve()).encode())
    if folder.is_file():
        st = folder.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    for name in sorted(os.listdir(folder)) if folder.is_dir() else []:
        p = folder / name
        if name == "config.json":
            h.update(p.read_bytes())
        elif name.endswith((".safetensors", ".bin")):
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


SCORING_VERSION = "9"  # bump when how a row is scored, counted or generated changes, so old rows are not reused


def row_key(model: str, strategy: str, suite: str, item: str, sample: int, sampling: str) -> str:
    return "|".join([f"v{SCORING_VERSION}", model, strategy, suite, item, str(sample), sampling])


def check(key: str, row: dict) -> str:
    """The check a cache line carries: a short hash of its key and row as canonical JSON."""
    canonical = json.dumps({"key": key, "row": row}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def line(key: str, row: dict) -> str:
    """A cache line (without its newline): the key, the row and their check."""
    return json.dumps({"key": key, "row": row, "check": check(key, row)})


def _result(row: BaseModel) -> dict:
    """What a row says about its generation; two runs of one key differ only in wall time."""
    return row.model_dump(exclude={"wall_s", "strategy"})


def _difference(a: BaseModel, b: BaseModel) -> str:
    x, y = _result(a), _result(b)
    return ", ".join(f"{k} {x[k]!r} vs {y[k]!r}" for k in x if x[k] != y[k])


class ResultsCache:
    """`path` None: rows live in memory for one run (`--fresh`), so a run still scores a generation once.
    `record`: the model of a line's row (bench rows; the judge keeps its verdicts the same way)."""

    def __init__(self, path: str | Path | None, record: type[BaseModel] = Row):
        self.path = Path(path) if path is not None else None
        self.record = record
        self.rows: dict[str, BaseModel] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete = raw.endswith(b"\n")
        good_bytes = 0
        first_line: dict[str, int] = {}
        kept: list[bytes] = []  # the lines read as rows, as they are
        dropped = {"none": 0, "wrong": 0}  # rows without a check, and rows whose check is not their content's
        for no, text in enumerate(lines):
            last = no == len(lines) - 1
            if last and not text:
                break
            try:
                rec = json.loads(text)
                if not isinstance(rec, dict):
                    raise ValueError(f"a JSON {type(rec).__name__}, not an object")
                key, row = rec["key"], self.record.model_validate(rec["row"])
                if not isinstance(key, str):
                    raise ValueError("its key is not a string")
                if isinstance(row, Row) and f"|{row.suite}|{row.item}|{row.sample}|" not in key:
                    raise ValueError(f"its row (suite {row.suite!r}, item {row.item!r}, sample {row.sample}) is "
                                     "not the one its key names")
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, ValueError) as e:
                if last and not complete:  # a write cut short by a kill: drop it
                    break
                raise ValueError(f"{self.path}:{no + 1}: corrupt cache line ({e}); delete the file or use --fresh") from None
            good_bytes += len(text) + 1
            if rec.get("check") != check(key, rec["row"]):  # changed since the bench wrote it: run it again
                dropped["none" if "check" not in rec else "wrong"] += 1
                continue
            kept.append(text)
            if key in self.rows:
                if _result(self.rows[key]) != _result(row):
                    raise ValueError(f"{self.path}:{no + 1}: the row for {key!r} differs from the one on line "
                                     f"{first_line[key]} ({_difference(self.rows[key], row)}): the cache was "
                                     "changed; delete the file or use --fresh")
            else:
                self.rows[key] = row
                first_line[key] = no + 1
        if sum(dropped.values()):
            self._drop(kept, dropped)
        elif good_bytes > len(raw):  # the last row is whole but its newline was never written: write it now
            with open(self.path, "ab") as f:
                f.write(b"\n")
        elif good_bytes < len(raw):  # truncate the torn tail so appends start on a fresh line
            with open(self.path, "r+b") as f:
                f.truncate(good_bytes)

    def _drop(self, kept: list[bytes], dropped: dict[str, int]) -> None:
        """Write the file again with only the `kept` lines (whole, in order, each as it was), replacing it at
        once, and say what was dropped."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(text + b"\n" for text in kept))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        reasons = {"wrong": "whose check does not match the row (edited since it was written)",
                   "none": "without a check (written before rows carried one, or edited)"}
        why = [f"{dropped[k]} {what}" for k, what in reasons.items() if dropped[k]]
        total = sum(dropped.values())
        log.warning("%s: %d cached row%s dropped, to be run again: %s", self.path, total, "s" * (total != 1),
                    "; ".join(why))

    def get(self, key: str) -> BaseModel | None:
        return self.rows.get(key)

    def add(self, items: list[tuple[str, BaseModel]]) -> None:
        if self.path is None:
            self.rows.update((k, r) for k, r in items if k not in self.rows)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            for key, row in items:
                if key in self.rows:
                    continue
                f.write(line(key, row.model_dump()) + "\n")
                f.flush()
                self.rows[key] = row
            os.fsync(f.fileno())
