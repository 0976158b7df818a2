"""`thinkgate tasks export`: a suite's fixed test split as JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, fail, tasks_app, writable


@tasks_app.command("export")
def tasks_export(
    suite: Annotated[str, typer.Argument(help="over, under or mip")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write.")],
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Regenerate from the test seeds instead of copying the shipped split.")] = False,
) -> None:
    """Write a suite's fixed test split as JSONL."""
    from ..tasks import SUITES, build_test_split, load_split, write_jsonl

    if suite not in SUITES:
        fail(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    writable(out, "--out")
    items = build_test_split(suite) if rebuild else load_split(suite)
    try:
        write_jsonl(items, out)
    except OSError as e:
        fail(f"--out {out}: cannot be written ({e.strerror or e})")
    console.print(f"wrote {len(items)} items to {out}")
