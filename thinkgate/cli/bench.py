"""`thinkgate bench`: strategies scored on task suites or external data, with the judge for free-form answers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..bench import tables
from .common import (BackendOpt, Engine, FormatOpt, MaxTokensOpt, ModelsOpt, TemperatureOpt, _any_backend, _gate, _roster,
                     app, console, engine_options, err, fail, need, writable)


@app.command()
@engine_options()
def bench(
    strategies: Annotated[str, typer.Option("--strategies", help=(
        "Comma-separated strategy specs: name or name:key=value,... e.g. think,nothink,budget:max=64,min=16. "
        "'oracle' adds the per-item cheapest correct of think and nothink (on each model with both: think@M, "
        "nothink@M), and the options of a router between models. NAME@M runs a strategy on the model named M."))] = "think,nothink",
    suites: Annotated[str, typer.Option("--suites", help="Comma-separated suites: over, under, mip.")] = "over,under,mip",
    model: ModelsOpt = None,
    backend_kind: BackendOpt = "auto",
    json_out: Annotated[Optional[Path], typer.Option("--json", help=(
        "Write the results as JSON here (with `rows`: every strategy's per-item rows)."))] = None,
    csv_out: Annotated[Optional[Path], typer.Option("--csv", help=(
        "Write the per-item rows as CSV here (one line per strategy, item and sample)."))] = None,
    max_tokens: MaxTokensOpt = 768,
    temperature: TemperatureOpt = 0.0,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0)] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k", min=0, help="0: no top-k cut.")] = 0,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Samples per item (seeds seed..seed+n-1).")] = 1,
    seed: Annotated[int, typer.Option("--seed", help=(
        "Sampling seed; sample k of an item uses seed+k. Default 0, so sampled rows (--temperature, parallel's "
        "samples) are reproducible."))] = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N items of each suite.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Requests per generate call.")] = 64,
    cache: Annotated[Path, typer.Option("--cache", help="Append-only results cache (JSONL).")] = Path(".thinkgate/bench-cache.jsonl"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore (and do not read) the cache.")] = False,
    report_dir: Annotated[Optional[Path], typer.Option("--report", help="Write an HTML report with plots to this folder.")] = None,
    data: Annotated[Optional[str], typer.Option("--data", help=(
        "Score external items instead of the embedded suites: a JSONL file (OptimalThinkingBench-, GSM8K- or "
        "MATH-style) or hf:NAME[:CONFIG][:SPLIT] for a Hugging Face dataset."))] = None,
    data_suite: Annotated[str, typer.Option("--data-suite", help="Suite of --data records that name none: over or under.")] = "under",
    t_max: Annotated[Optional[int], typer.Option("--t-max", min=1, help=(
        "AUC_OAA horizon in thinking tokens; default 150 on the embedded suites, 1000 (the paper's) on --data."))] = None,
    otb_compat: Annotated[bool, typer.Option("--otb-compat", help=(
        "Score as OptimalThinkingBench's published code does, to reproduce the paper: t_max 1000, samples "
        "averaged per question before the AUC, an unclosed response counted in full as thinking, the first "
        "\\boxed{}, its math macro average (docs/bench.md). The default is per sample."))] = False,
    num_tol: Annotated[float, typer.Option("--num-tol", min=0.0, help=(
        "Numeric answers of --data: how far from the gold answer still counts, relative to its size (absolute "
        "below 1); 0 is exact."))] = 1e-6,
    judge: Annotated[Optional[str], typer.Option("--judge", help=(
        "Score the free-form answers of --data with an LLM judge asked a fixed verification prompt: an embedded "
        "model's name, a model folder or GGUF file, or an engine's base URL (then --judge-model and "
        "--judge-tokenizer). Its calls are cached beside --cache."))] = None,
    judge_model: Annotated[Optional[str], typer.Option("--judge-model", help="The model name the judge's engine serves.")] = None,
    judge_tokenizer: Annotated[Optional[Path], typer.Option("--judge-tokenizer", help=(
        "The judge engine's tokenizer folder (its chat template).")) ] = None,
    judge_key: Annotated[Optional[str], typer.Option("--judge-key", envvar="THINKGATE_JUDGE_KEY",
                                                     help="API key sent to the judge's engine.")] = None,
    judge_strategy: Annotated[str, typer.Option("--judge-strategy", help="How the judge thinks (a strategy spec).")] = "think",
    judge_max_tokens: Annotated[int, typer.Option("--judge-max-tokens", min=1, help="Most tokens of one judge reply.")] = 1024,
    judge_pairwise: Annotated[bool, typer.Option("--judge-pairwise", help=(
        "Also compare every two strategies' free-form answers pairwise, each pair asked in both orders; "
        "reports wins, ties and the flip rate (how often the verdict changes with the order)."))] = False,
    engine: Engine = Engine(),
    fmt: FormatOpt = None,
) -> None:
    """Score strategies on the fixed test splits: accuracy, thinking and answer tokens, think rate,
    AUC_OAA / Acc_ut / F1_otb, per family and difficulty. Rows are cached; a killed run resumes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..bench.runner import report, run_suite
    from ..scoring.cache import ResultsCache, model_fingerprint
    from ..strategies import split_specs
    from ..tasks import SUITES, load_split
    from ..types import Sampling

    suite_list = [s.strip() for s in suites.split(",") if s.strip()]
    for s in suite_list:
        if s not in SUITES:
            fail(f"unknown suite {s!r} in --suites; known: {', '.join(SUITES)}")
    specs = split_specs(strategies)
    if not specs:
        fail("--strategies is empty")
    _no_twice(specs)
    if not fresh:
        writable(cache, "--cache")
    if json_out:
        writable(json_out, "--json")
    if csv_out:
        writable(csv_out, "--csv")
    if report_dir:
        need("matplotlib", "report", "--report")
        writable(report_dir, "--report", folder=True)
    if otb_compat and t_max is not None:
        fail("--otb-compat fixes t_max at OptimalThinkingBench's 1000; give one or the other")
    if judge is None and (judge_model or judge_tokenizer or judge_pairwise):
        fail("--judge-model, --judge-tokenizer and --judge-pairwise go with --judge")
    if judge and not data:
        fail("--judge scores the free-form answers of --data; the embedded suites are checked exactly")
    if judge:
        _check_judge(judge, judge_model, judge_tokenizer, judge_key)
    with_oracle = "oracle" in specs
    if with_oracle:
        specs = [s for s in specs if s != "oracle"]
        specs += [s for s in ("think", "nothink") if s not in specs]
    models = _roster(model, engine, batch_size=batch_size, kind=backend_kind)
    backend = models.primary.backend
    if engine.url:  # items go to the engine `concurrency` at a time; a library call takes enough to fill that
        batch_size = max(batch_size, engine.concurrency)
    gates = [_gate(models, spec, fmt) for spec in specs]
    caps: dict[int, int] = {}  # a gate's max_tokens where not the bench's (a router's budget options)
    if with_oracle:  # a router between models: every option's rows, for the per-query oracle and the curve
        for gate in list(gates):
            for spec, cap in gate.strategy.option_specs(gate.backend, gate.models):
                if spec not in specs:
                    specs.append(spec)
                    gates.append(_gate(models, spec, fmt))
                    if cap is not None:
                        caps[len(gates) - 1] = cap
    try:
        store = ResultsCache(None if fresh else cache)
    except ValueError as e:
        fail(str(e))
    if data:
        from ..tasks.external import load_external

        try:
            items = load_external(data, data_suite, otb_compat=otb_compat, num_tol=num_tol)
        except ValueError as e:
            fail(str(e))
        by_suite: dict = {}
        for it in items:
            by_suite.setdefault(it.suite, []).append(it)
        suites_data = {s: v[:limit] for s, v in by_suite.items()}
    else:
        suites_data = {s: load_split(s)[:limit] for s in suite_list}
    sampling = Sampling(max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
    model_key = model_fingerprint(backend.model_id)
    if not engine.scores_every_answer and (engine.url or any(
            (m.fingerprint_source or "").startswith(("http://", "https://")) for m in models)):
        model_key += "|unscored"  # an engine's answers without confidences: rows of their own, not replayed by default
    started = time.time()
    rows = []
    from ..errors import ContextOverflow, MissingCapability, RouterError, UpstreamError

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        for g, gate in enumerate(gates):
            gate_sampling = sampling if g not in caps else sampling.model_copy(
                update={"max_tokens": min(max_tokens, caps[g])})
            for suite, items in suites_data.items():
                bar = progress.add_task(f"{gate.strategy.spec} · {suite}", total=len(items) * samples)
                try:
                    rows += run_suite(gate, items, gate_sampling, model_key, store, samples=samples, chunk=batch_size,
                                      advance=lambda n, b=bar: progress.advance(b, n))
                except (MissingCapability, RouterError, UpstreamError, ContextOverflow) as e:
                    kept = "--fresh keeps no rows" if fresh else f"rows finished so far are kept in {cache}"
                    what = f"an item of {suite} is too long for the model: " if isinstance(e, ContextOverflow) else ""
                    fail(f"{what}{e} ({kept})")
    judging = None
    if judge:
        rows, judging = _judge_rows(rows, [it for v in suites_data.values() for it in v], judge, judge_model,
                                    judge_tokenizer, judge_key, engine.timeout, judge_strategy, judge_max_tokens,
                                    judge_pairwise, None if fresh else cache, batch_size)
    out, all_rows = report(backend.model_id, rows, with_oracle=with_oracle, t_max=t_max or (1000 if data else None),
                           otb_compat=otb_compat)
    if judging:
        out["judge"] = judging
    out["scoring"] = "otb-compat" if otb_compat else "per-sample"
    out["wall_s"] = round(time.time() - started, 1)
    out["thinking_mode"] = gates[0].format.has_thinking
    console.print(tables.PER_SUITE.console(out["results"], f"thinkgate bench · {Path(backend.model_id).name} · "
                                                            f"{out['wall_s']}s"))
    if any(len(r.get("tokens_by_model") or {}) > 1 for r in out["results"]):
        console.print(tables.MODELS.console(out["results"]))
    if not out["thinking_mode"]:
        console.print(f"[yellow]this model has no thinking mode (family {gates[0].format.name!r}): every strategy "
                      "answered without thinking[/]")
    if out["summary"]:
        console.print(tables.OTB.console(out["summary"], tables.OTB.title + (", as its code scores them" if otb_compat
                                                                             else "")))
    if judging:
        p = judging["pointwise"]
        console.print(f"judge {Path(judging['model']).name} ({judging['strategy']}): {p['judged']} free-form rows, "
                      f"{p['yes']} yes, {p['no']} no, {p['unclear']} unclear; agrees with exact match on "
                      f"{'-' if p['agree_exact'] is None else format(p['agree_exact'], '.3f')}; "
                      f"{judging['calls']} calls, {judging['cached']} cached")
        if judging.get("pairwise"):
            console.print(tables.PAIRWISE.console(judging["pairwise"]))
    if out.get("routing"):
        console.print(tables.ROUTING.console(out["routing"]))
    if out.get("calibration"):  # per suite, the confidence's calibration is in the table above
        from ..bench.runner import CONFIDENCE

        console.print(tables.CALIBRATION_TEST.console([c for c in out["calibration"]
                                                       if c["of"] != CONFIDENCE or c["set"] == "all"]))
    if out.get("routing_models"):
        console.print(tables.OPTIONS.console(out["routing_models"]), width=max(console.width, 140))
        console.print(tables.SHARES.console(tables.share_rows(out["routing_models"])))
    kept = "" if fresh else f"; every row is kept in {cache}: rerun to write it"
    if json_out:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(out, indent=1))
        except OSError as e:
            fail(f"--json {json_out}: cannot be written ({e.strerror or e}){kept}")
        console.print(f"[dim]wrote {json_out}[/]")
    if csv_out:
        from ..bench.runner import write_csv

        try:
            csv_out.parent.mkdir(parents=True, exist_ok=True)
            write_csv(all_rows, csv_out)
        except OSError as e:
            fail(f"--csv {csv_out}: cannot be written ({e.strerror or e}){kept}")
        console.print(f"[dim]wrote {csv_out}[/]")
    if report_dir:
        from ..bench.report import write_report

        try:
            console.print(f"[dim]wrote {write_report(out, all_rows, report_dir)}[/]")
        except OSError as e:
            fail(f"--report {report_dir}: cannot be written ({e.strerror or e}){kept}")


def _check_judge(judge: str, judge_model, judge_tokenizer, judge_key) -> None:
    """The judge's options, and an engine judge's URL and reachability, checked before the model run rather
    than after it."""
    url = judge.startswith(("http://", "https://"))
    if url and (not judge_model or not judge_tokenizer):
        fail("--judge URL needs --judge-model NAME (as the engine serves it) and --judge-tokenizer PATH")
    if not url and (judge_model or judge_tokenizer):
        fail("--judge-model and --judge-tokenizer go with --judge URL (an engine)")
    if url:
        from ..backends.engines import answers
        from ..backends.http1 import check_url
        from ..errors import UpstreamError

        try:
            check_url(judge)
            answers(judge, judge_key)
        except (ValueError, UpstreamError) as e:
            fail(f"--judge: {e}")


def _no_twice(specs: list[str]) -> None:
    """A strategy named twice (`think,think`, or the same parameters in another order) would run and report
    every row twice: an error naming it, before any model is loaded."""
    from ..strategies import parse_strategy

    seen: dict[str, str] = {}
    for text in specs:
        try:
            key = parse_strategy(text).spec if text != "oracle" else text
        except ValueError:
            continue  # reported with its reason when the gates are built
        if key in seen:
            fail(f"--strategies names {key!r} twice ({seen[key]!r} and {text!r})")
        seen[key] = text


def _judge_rows(rows, items, judge, judge_model, judge_tokenizer, judge_key, timeout, strategy, max_tokens,
                pairwise_too, cache, batch_size):
    """Rows of free-form items rescored by the judge (and, when asked, every two strategies compared
    pairwise), with the judge's figures for the JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..bench import judge as judging
    from ..errors import MissingCapability, UpstreamError
    from ..scoring.cache import ResultsCache, model_fingerprint
    from ..types import Sampling

    url = judge.startswith(("http://", "https://"))  # its options were checked before the run (_check_judge)
    backend = _any_backend(None if url else judge, Engine(judge if url else None, judge_model, judge_tokenizer, judge_key,
                                                          timeout, logprobs="needed"), batch_size=batch_size)
    gate = _gate(backend, strategy)
    path = None if cache is None else cache.with_name(cache.stem + ".judge.jsonl")
    try:
        store = ResultsCache(path, record=judging.Verdict)
    except ValueError as e:
        fail(str(e))
    j = judging.Judge(gate, model_fingerprint(backend.model_id), Sampling(temperature=0.0, max_tokens=max_tokens),
                      store, chunk=batch_size)
    by_id = {it.id: it for it in items}
    kept = f"; the verdicts so far are kept in {path}" if path else ""
    out = {"model": backend.model_id, "strategy": gate.strategy.spec, "max_tokens": max_tokens}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        try:
            n = sum(1 for r in rows if r.item in by_id and judging.judged(by_id[r.item]))
            bar = progress.add_task("judge · pointwise", total=n)
            rows, out["pointwise"] = judging.pointwise(j, rows, by_id, lambda k: progress.advance(bar, k))
            if pairwise_too:
                bar = progress.add_task("judge · pairwise", total=sum(
                    2 * len(differ) for *_, differ in judging.comparisons(rows, by_id)))
                out["pairwise"] = judging.pairwise(j, rows, by_id, lambda k: progress.advance(bar, k))
        except (MissingCapability, UpstreamError) as e:
            fail(f"the judge: {e}{kept}")
    out.update(calls=j.calls, cached=j.cached)
    return rows, out
