"""`thinkgate calibrate`: the routers the `route` strategy uses, from the model's own outcomes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (BackendOpt, Engine, FormatOpt, MaxTokensOpt, _any_backend, _roster, app, choices, console,
                     engine_options, err, fail, writable)

Rule = choices("Rule", "margin", "nothink")


@app.command()
@engine_options(logprobs="needed")
def calibrate(
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help=(
        "A model, written as on every face (an embedded name, a folder, a GGUF file, or NAME=SOURCE[,key=value...]). "
        "Repeat for a router between models (the first is the primary; each needs a known size). Default: the "
        "embedded tiny alone."))] = None,
    backend_kind: BackendOpt = "auto",
    suites: Annotated[str, typer.Option("--suites", help="Comma-separated suites of the calibration split.")] = "over,under",
    data: Annotated[Optional[str], typer.Option("--data", help="Calibrate on external items (JSONL or hf:NAME...) instead.")] = None,
    data_suite: Annotated[str, typer.Option("--data-suite", help="Suite of --data records that name none.")] = "under",
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the routers; default <model>/router.")] = None,
    target_think_rate: Annotated[Optional[float], typer.Option("--target-think-rate", min=0.0, max=1.0, help=(
        "Set the threshold by quantile so that this share of calibration queries thinks."))] = None,
    objective: Annotated[str, typer.Option("--objective", help=(
        "f1: the threshold that maximises F1_otb on calibration; drop:D (e.g. drop:0.01): the fewest thinking "
        "tokens with every suite's accuracy within D of its better mode."))] = "f1",
    budgets: Annotated[str, typer.Option("--budgets", help="Thinking budgets to try besides think and nothink ('' for none).")] = "32,64",
    per_suite: Annotated[int, typer.Option("--per-suite", min=1, help="Calibration items per suite.")] = 300,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N calibration items of each suite.")] = None,
    routers: Annotated[str, typer.Option("--routers", help="Which routers to train: probe, text.")] = "probe,text",
    rule: Annotated[Rule, typer.Option("--rule", help=(
        "Routing score: margin (P(nothink right) - P(think right)) or nothink (P(nothink right), Self-Route's)."))] = "margin",
    max_tokens: MaxTokensOpt = 768,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
    cache: Annotated[Path, typer.Option("--cache", help="The bench's results cache (JSONL), reused.")] = Path(".thinkgate/bench-cache.jsonl"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore the cache.")] = False,
    threads: Annotated[int, typer.Option("--threads", min=0, help="torch threads (0: torch's default).")] = 0,
    fmt: FormatOpt = None,
    engine: Engine = Engine(),
) -> None:
    """Run think, nothink and a few budgets on the calibration split (disjoint from the test split), then
    train the hidden-state probe and the text router on those outcomes and set their thresholds, and the
    `cascade` strategy's threshold on the answer's confidence without thinking (one model). With
    --upstream, the outcomes are the engine's model's (raw-prefix mode), the router is the text one, and
    --out names its folder (use it with `serve --upstream ... --strategy route:dir=OUT`). With two models or
    more (--model repeated; --upstream counts as the first), every level runs on every model and the router
    sends each query to the cheapest (model, level) whose predicted P(correct) clears its threshold (use it
    with `route:models=A;B`)."""
    from ..bench.calibrate import CalibConfig, run
    from ..errors import MissingCapability, UpstreamError
    from ..roster import Roster
    from ..routers.router import ROUTER_KINDS
    from ..tasks import SUITES

    if target_think_rate is not None and objective != "f1":
        fail("give --target-think-rate or --objective, not both")
    max_drop = None
    if objective.startswith("drop:"):
        try:
            max_drop = float(objective[5:])
        except ValueError:
            max_drop = None
        if max_drop is None or not 0.0 <= max_drop <= 1.0:
            fail(f"--objective drop:D needs D between 0 and 1, not {objective[5:]!r}")
    elif objective != "f1":
        fail(f"--objective must be f1 or drop:D, not {objective!r}")
    suite_list = tuple(s.strip() for s in suites.split(",") if s.strip())
    for s in suite_list:
        if s not in SUITES:
            fail(f"unknown suite {s!r} in --suites; known: {', '.join(SUITES)}")
    kinds = tuple(k.strip() for k in routers.split(",") if k.strip())
    for k in kinds:
        if k not in ROUTER_KINDS:
            fail(f"unknown router {k!r} in --routers; known: {', '.join(ROUTER_KINDS)}")
    try:
        budget_list = tuple(int(b) for b in budgets.split(",") if b.strip())
    except ValueError:
        fail(f"--budgets must be comma-separated integers, not {budgets!r}")
    if any(b < 1 for b in budget_list):
        fail("--budgets must be positive")
    between = len(model or []) + (engine.url is not None) > 1
    if out is not None:
        writable(out, "--out", folder=True)
    cfg = CalibConfig(model=None if between or not model else model[0], suites=suite_list, data=data, data_suite=data_suite, out=str(out) if out else None,
                      per_suite=per_suite, limit=limit, budgets=budget_list, target_think_rate=target_think_rate,
                      max_drop=max_drop, kinds=kinds, rule=rule, max_tokens=max_tokens, batch_size=batch_size,
                      cache=None if fresh else str(cache), threads=threads, fmt=fmt)
    if rule != "margin" and between:
        fail("--rule is for a router on one model; between models the rule is the cheapest option that clears "
             "the threshold")
    if model or engine.url:  # the models as every face names them (NAME=SOURCE,key=value...)
        models = _roster(model, engine, batch_size=batch_size, kind=backend_kind, lazy=False)
    else:  # the embedded model alone (not the embedded pair: a pair is calibrated when both are named)
        models = Roster.of(_any_backend(None, engine, batch_size=batch_size, kind=backend_kind))
    if out is None and not Path(models.primary.backend.model_id).is_dir():
        fail(f"the model {models.primary.name!r} has no folder of its own to keep routers in (an engine's model, a "
             "GGUF file or a hub name): give --out FOLDER")
    if engine.url:  # items go to the engine `concurrency` at a time: a call takes enough to fill that
        cfg.batch_size = max(batch_size, engine.concurrency)
    try:
        record = run(cfg, models=models, log=lambda m: err.print(m))
    except (ValueError, UpstreamError, MissingCapability) as e:
        fail(str(e))
    console.print(f"routing on the calibration split: {record['n']} items, out-of-fold, {record['wall_s']}s; "
                  f"routers in {Path(next(iter(record['routers'].values()))['file']).parent if record['routers'] else '-'}")
    from ..bench.tables import CALIBRATION, OPTIONS, SHARES, calibration_rows, option_rows, share_rows

    console.print(CALIBRATION.console(calibration_rows(record), ""), width=max(console.width, 120))
    if "models" in record:
        console.print(OPTIONS.console(option_rows(record), ""), width=max(console.width, 140))
        console.print(SHARES.console(share_rows(option_rows(record)), ""))
