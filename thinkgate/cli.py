"""The command line: `thinkgate ask | bench | serve | calibrate | train sft | train tiny | train bpo | tasks export`.

Options shared by several commands are declared once below and reused.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Make reasoning models think only when, and only as much as, each query needs.")
train_app = typer.Typer(no_args_is_help=True, help="Train thinkgate's embedded models.")
tasks_app = typer.Typer(no_args_is_help=True, help="Task suites and their fixed test splits.")
app.add_typer(train_app, name="train")
app.add_typer(tasks_app, name="tasks")
console = Console()
err = Console(stderr=True)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help=(
    "Embedded model name (tiny), a model folder, or a GGUF file (converted once to a cached folder)."))]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens the model may write per request.")]
TemperatureOpt = Annotated[float, typer.Option("--temperature", "-t", min=0.0, help="0 is greedy.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Sampling seed.")]
# where tokens come from: a local model (--model) or an OpenAI-compatible engine (--upstream ...)
UpstreamOpt = Annotated[Optional[str], typer.Option("--upstream", help=(
    "Base URL of an OpenAI-compatible engine (vLLM, SGLang, llama.cpp, Ollama, thinkgate serve), e.g. "
    "http://127.0.0.1:8000; its /v1/completions continues prompts rendered here from --tokenizer."))]
UpstreamModelOpt = Annotated[Optional[str], typer.Option("--upstream-model", help="The model name the engine serves.")]
TokenizerOpt = Annotated[Optional[Path], typer.Option("--tokenizer", help=(
    "The upstream model's tokenizer folder (its chat template renders prompts locally)."))]
UpstreamKeyOpt = Annotated[Optional[str], typer.Option("--upstream-key", envvar="THINKGATE_UPSTREAM_KEY",
                                                       help="API key sent to the engine.")]
UpstreamTimeoutOpt = Annotated[float, typer.Option("--upstream-timeout", min=0.1, help=(
    "Seconds one engine request may take in all, streamed or not (then 504 / an error)."))]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight to an engine at once.")]
BackendOpt = Annotated[str, typer.Option("--backend", help=(
    "What runs a local model: hf (transformers; a GGUF file is converted once to a folder), llamacpp (a GGUF "
    "file run by llama.cpp in-process, quantized, at its speed) or auto (llamacpp for a GGUF file when "
    "llama-cpp-python is installed, else hf)."))]
EffortOpt = Annotated[Optional[str], typer.Option("--effort", help=(
    "none | minimal | low | medium | high: the model family's own effort levels where its template has them "
    "(gpt-oss, Hunyuan, Kimi K3), else a thinking cap of 32, 128, 512 or no tokens; none is thinking off."))]
FormatOpt = Annotated[Optional[str], typer.Option("--format", help=(
    "The model's family (qwen3, deepseek_r1, gpt_oss, seed_oss, magistral, cohere, ..., none: see docs/formats.md); "
    "default: detected from its chat template."))]


@app.callback()
def entry(tune_memory: Annotated[bool, typer.Option("--tune-memory/--no-tune-memory", help=(
        "Process-wide: have glibc keep freed memory for reuse, so that decoding on the CPU does not page its "
        "memory in again every step (bench on the embedded model: 44 s instead of 72 s on 2 cores)."))] = True) -> None:
    """Make reasoning models think only when, and only as much as, each query needs."""
    if tune_memory:
        from .process import keep_freed_memory

        keep_freed_memory()


def fail(message: str, code: int = 2) -> None:
    err.print("[bold red]error:[/] " + _escape(message))
    raise typer.Exit(code)


def _escape(text: str) -> str:
    """`text` as rich prints it literally: markup escaped, text that is not valid Unicode replaced."""
    from rich.markup import escape

    return escape(text.encode("utf-8", "replace").decode("utf-8"))


def writable(path: Path, option: str, folder: bool = False) -> None:
    """Fail now, naming the option, when `path` (a file, or with `folder` a folder) cannot be written:
    before a long run, not after it."""
    import os

    where = path if folder else path.parent
    try:
        if not folder and path.is_dir():
            raise IsADirectoryError(21, "it is a folder")
        if folder and path.exists() and not path.is_dir():
            raise NotADirectoryError(20, "it is a file")
        where.mkdir(parents=True, exist_ok=True)
        probe = where / f".thinkgate-write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        fail(f"{option} {path}: cannot be written ({e.strerror or e})")


def need(module: str, extra: str, what: str) -> None:
    """Fail, naming the package extra to install, when `what` needs a package that is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        fail(f"{what} needs {module}, which is not installed: pip install 'thinkgate[{extra}]'")


def _backend(model: str | None, batch_size: int = 64, kind: str = "auto"):
    from transformers.utils import logging as hf_logging

    from .errors import ModelLoadError
    from .gate import load_backend

    hf_logging.disable_progress_bar()  # the weight-loading bar is noise in a CLI that has its own
    hf_logging.set_verbosity_error()  # so are its warnings: what matters is said by thinkgate's own errors
    try:
        return load_backend(model, batch_size=batch_size, progress=lambda line: typer.echo(line, err=True), kind=kind)
    except ModelLoadError as e:
        fail(str(e))


def _any_backend(model: str | None, upstream: str | None, upstream_model: str | None, tokenizer: Path | None,
                 upstream_key: str | None = None, timeout: float = 600.0, concurrency: int = 64, batch_size: int = 64,
                 idle_timeout: float | None = None, kind: str = "auto"):
    """The backend the shared options name: a local model folder or GGUF file, or an engine upstream."""
    if kind not in ("auto", "hf", "llamacpp"):
        fail(f"--backend must be auto, hf or llamacpp, not {kind!r}")
    if upstream is None:
        if upstream_model or tokenizer:
            fail("--upstream-model and --tokenizer go with --upstream URL")
        return _backend(model, batch_size=batch_size, kind=kind)
    if model:
        fail("give either --model (a local model) or --upstream (an engine), not both")
    if not upstream_model or not tokenizer:
        fail("--upstream needs --upstream-model NAME (as the engine serves it) and --tokenizer PATH "
             "(the model's tokenizer folder, for its chat template)")
    from .errors import ModelLoadError
    from .backends.openai_compat import OpenAICompatBackend

    try:
        return OpenAICompatBackend(upstream, upstream_model, tokenizer, api_key=upstream_key, timeout=timeout,
                                   concurrency=concurrency, idle_timeout=idle_timeout)
    except ModelLoadError as e:
        fail(str(e))


def _gate(backend, strategy: str, fmt: str | None = None, named: bool = True):
    from .gate import Gate

    try:
        return Gate(backend, strategy, fmt, named=named)
    except (ValueError, KeyError) as e:
        fail(str(e).strip('"'))


@app.command()
def ask(
    prompt: Annotated[str, typer.Argument(help="The question.")],
    mode: Annotated[str, typer.Option("--mode", help="think | nothink | auto")] = "think",
    strategy: Annotated[Optional[str], typer.Option("--strategy", "-s", help="A strategy spec; defaults to the mode's.")] = None,
    model: ModelOpt = None,
    backend_kind: BackendOpt = "auto",
    budget: Annotated[Optional[int], typer.Option("--budget", min=0, help="Most thinking tokens (budget forcing).")] = None,
    min_budget: Annotated[Optional[int], typer.Option("--min-budget", min=0, help="Fewest thinking tokens (\"Wait\" extension).")] = None,
    effort: EffortOpt = None,
    max_tokens: MaxTokensOpt = 1024,
    temperature: TemperatureOpt = 0.0,
    seed: SeedOpt = None,
    verify: Annotated[Optional[str], typer.Option("--verify", help="A regular expression the whole answer must match; "
                                                  "strategies that pick among samples (parallel:select=verifier) "
                                                  "prefer an answer it accepts.")] = None,
    tools: Annotated[Optional[Path], typer.Option("--tools", help=(
        "A JSON file of tool definitions (OpenAI's shape) for the chat template; the calls the model writes "
        "are printed (templates with Hermes-style <tool_call> blocks)."))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    upstream: UpstreamOpt = None,
    upstream_model: UpstreamModelOpt = None,
    tokenizer: TokenizerOpt = None,
    upstream_key: UpstreamKeyOpt = None,
    upstream_timeout: UpstreamTimeoutOpt = 600.0,
    fmt: FormatOpt = None,
) -> None:
    """Ask one question; print the reasoning and the answer separately with their token counts."""
    from pydantic import ValidationError

    from .errors import MissingCapability, PolicyConflict, RouterError, UpstreamError
    from .types import Message, Request, Sampling, invalid_text_at
    from .verify import regex_verifier

    if mode not in ("think", "nothink", "auto"):
        fail(f"--mode must be think, nothink or auto, not {mode!r}")
    if invalid_text_at(prompt) is not None:
        fail("the question is not valid text in this terminal's encoding (it holds bytes that are not UTF-8)")
    try:
        verifier = regex_verifier(verify) if verify is not None else None
    except ValueError as e:
        fail(f"--verify: {e}")
    tool_list = _tools(tools) if tools is not None else None
    gate = _gate(_any_backend(model, upstream, upstream_model, tokenizer, upstream_key, upstream_timeout, batch_size=1,
                              kind=backend_kind),
                 strategy or "think", fmt, named=strategy is not None)
    try:
        request = Request(messages=[Message(role="user", content=prompt)], tools=tool_list,
                          thinking=_thinking(mode, effort, budget=budget, min_budget=min_budget),
                          sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed),
                          verifier=verifier)
        result = gate.run(request)
    except PolicyConflict as e:  # named by the option that set it
        options = {"thinking.mode": "--mode", "thinking.budget": "--budget", "thinking.min_budget": "--min-budget",
                   "thinking.effort": "--effort"}
        fail(f"{str(e).replace(e.param, options.get(e.param, e.param))} (--strategy {strategy})")
    except (ValidationError, ValueError, RouterError, UpstreamError, MissingCapability) as e:
        fail(str(e))
    if as_json:
        typer.echo(result.model_dump_json(indent=1))
        return
    u = result.usage
    if not result.thinking_mode:
        console.print("[dim]this model has no thinking mode: it answered without thinking[/]")
    elif result.reasoning or not result.closed:
        title = f"reasoning · {u.reasoning_tokens} tokens" + ("" if result.closed else " · never closed")
        console.print(Panel(result.reasoning or "(empty)", title=title, border_style="dim"))
    else:
        console.print("[dim]reasoning · 0 tokens (no thinking)[/]")
    console.print(Panel(result.answer or "(no answer)", title=f"answer · {u.answer_tokens} tokens", border_style="green"))
    for call in result.tool_calls or []:
        console.print(f"tool call {call['function']['name']}({call['function']['arguments']})", markup=False,
                      highlight=False)
    console.print(f"[dim]strategy {result.strategy} · finish {result.finish_reason} · {result.wall_s:.2f}s[/]")


def _tools(path: Path) -> list[dict]:
    """The tool definitions of a --tools file: a JSON list of OpenAI function tools."""
    try:
        tools = json.loads(path.read_text())
    except OSError as e:
        fail(f"--tools {path}: cannot be read ({e.strerror or e})")
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"--tools {path}: not JSON ({e})")
    if not isinstance(tools, list) or not all(isinstance(t, dict) and isinstance((t.get("function") or {}).get("name"), str)
                                              for t in tools):
        fail(f"--tools {path}: must be a JSON list of function tools ({{\"type\": \"function\", \"function\": "
             "{\"name\": ...}})")
    return tools


def _thinking(mode: str, effort: str | None, **kw):
    """The thinking spec of the CLI's options: effort none is thinking off (whatever the default --mode)."""
    from pydantic import ValidationError

    from .types import ThinkingSpec

    if effort is not None and effort not in ("none", "minimal", "low", "medium", "high"):
        fail(f"--effort must be none, minimal, low, medium or high, not {effort!r}")
    if effort == "none" and mode == "think":
        mode = "nothink"
    try:
        return ThinkingSpec(mode=mode, effort=effort, **kw)
    except ValidationError as e:
        fail("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors()))


@app.command()
def render(
    question: Annotated[str, typer.Argument(help="The user turn to render.")],
    mode: Annotated[str, typer.Option("--mode", help="think | nothink | auto")] = "think",
    model: ModelOpt = None,
    fmt: FormatOpt = None,
    effort: EffortOpt = None,
) -> None:
    """Show what thinkgate does with a model's chat template: the detected family, what it knows of the
    template, and the exact prompt for a mode."""
    from transformers import AutoTokenizer

    from .errors import FormatError, ModelLoadError
    from .backends.gguf import folder_for, is_gguf
    from .formats import get_format
    from .gate import resolve_model
    from .types import Message

    if mode not in ("think", "nothink", "auto"):
        fail(f"--mode must be think, nothink or auto, not {mode!r}")
    folder = resolve_model(model)
    if is_gguf(folder):
        try:
            folder = folder_for(folder, progress=lambda line: typer.echo(line, err=True))
        except ModelLoadError as e:
            fail(str(e))
    if not folder.is_dir():
        fail(f"--model {folder}: not a folder (a model or tokenizer folder with a chat template, or a GGUF file)")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001 - transformers raises many types; name the folder and the cause
        fail(f"--model {folder}: its tokenizer could not be loaded ({type(e).__name__}: {e})")
    try:
        family = get_format(fmt, tok)
        spec = _thinking(mode, effort)
        family.check_mode(spec.mode, f"--mode {spec.mode}")
        prompt = family.render([Message(role="user", content=question)], spec.mode, spec)
    except (FormatError, ValueError) as e:
        fail(str(e))
    think, nothink = family.prefills
    console.print(f"[bold]family[/] {family.name}" + ("" if fmt else " (detected)"))
    if family.has_thinking:
        console.print(f"reasoning markup {family.open_tag!r} ... {family.close_tag!r}; thinking prefill {think!r}; "
                      f"no-thinking prefill {nothink!r}; the template opens the thought: {family.opens_thought}; "
                      f"switch to thinking off: {family.can_skip}; the model can decide (auto): {family.supports_auto}",
                      markup=False, highlight=False)
    else:
        console.print("no thinking mode: every mode renders the same prompt", markup=False)
    console.print("[bold]prompt[/]")
    typer.echo(prompt, nl=False)
    typer.echo("")


@app.command()
def bench(
    strategies: Annotated[str, typer.Option("--strategies", help=(
        "Comma-separated strategy specs: name or name:key=value,... e.g. think,nothink,budget:max=64,min=16. "
        "'oracle' adds the per-item cheapest correct of think and nothink."))] = "think,nothink",
    suites: Annotated[str, typer.Option("--suites", help="Comma-separated suites: over, under, mip.")] = "over,under,mip",
    model: ModelOpt = None,
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
    upstream: UpstreamOpt = None,
    upstream_model: UpstreamModelOpt = None,
    tokenizer: TokenizerOpt = None,
    upstream_key: UpstreamKeyOpt = None,
    upstream_timeout: UpstreamTimeoutOpt = 600.0,
    concurrency: ConcurrencyOpt = 16,
    fmt: FormatOpt = None,
) -> None:
    """Score strategies on the fixed test splits: accuracy, thinking and answer tokens, think rate,
    AUC_OAA / Acc_ut / F1_otb, per family and difficulty. Rows are cached; a killed run resumes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .scoring.cache import ResultsCache, model_fingerprint
    from .bench.runner import report, run_suite
    from .strategies import split_specs
    from .tasks import SUITES, load_split
    from .types import Sampling

    suite_list = [s.strip() for s in suites.split(",") if s.strip()]
    for s in suite_list:
        if s not in SUITES:
            fail(f"unknown suite {s!r} in --suites; known: {', '.join(SUITES)}")
    specs = split_specs(strategies)
    if not specs:
        fail("--strategies is empty")
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
    with_oracle = "oracle" in specs
    if with_oracle:
        specs = [s for s in specs if s != "oracle"]
        specs += [s for s in ("think", "nothink") if s not in specs]
    backend = _any_backend(model, upstream, upstream_model, tokenizer, upstream_key, upstream_timeout,
                           concurrency=concurrency, batch_size=batch_size, kind=backend_kind)
    if upstream:  # items go to the engine `concurrency` at a time; a library call takes enough to fill that
        batch_size = max(batch_size, concurrency)
    gates = [_gate(backend, spec, fmt) for spec in specs]
    try:
        store = ResultsCache(None if fresh else cache)
    except ValueError as e:
        fail(str(e))
    if data:
        from .tasks.external import load_external

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
    started = time.time()
    rows = []
    from .errors import MissingCapability, RouterError, UpstreamError

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as progress:
        for gate in gates:
            for suite, items in suites_data.items():
                bar = progress.add_task(f"{gate.strategy.spec} · {suite}", total=len(items) * samples)
                try:
                    rows += run_suite(gate, items, sampling, model_key, store, samples=samples, chunk=batch_size,
                                      advance=lambda n, b=bar: progress.advance(b, n))
                except (MissingCapability, RouterError, UpstreamError) as e:
                    kept = "--fresh keeps no rows" if fresh else f"rows finished so far are kept in {cache}"
                    fail(f"{e} ({kept})")
    judging = None
    if judge:
        rows, judging = _judge_rows(rows, [it for v in suites_data.values() for it in v], judge, judge_model,
                                    judge_tokenizer, judge_key, upstream_timeout, judge_strategy, judge_max_tokens,
                                    judge_pairwise, None if fresh else cache, batch_size)
    out, all_rows = report(backend.model_id, rows, with_oracle=with_oracle, t_max=t_max or (1000 if data else None),
                           otb_compat=otb_compat)
    if judging:
        out["judge"] = judging
    out["scoring"] = "otb-compat" if otb_compat else "per-sample"
    out["wall_s"] = round(time.time() - started, 1)
    out["thinking_mode"] = gates[0].format.has_thinking
    table = Table(title=f"thinkgate bench · {Path(backend.model_id).name} · {out['wall_s']}s")
    for col in ("strategy", "suite", "n", "accuracy", "think tok", "answer tok", "think rate"):
        table.add_column(col, justify="left" if col in ("strategy", "suite") else "right")
    for r in out["results"]:
        table.add_row(r["strategy"], r["suite"], str(r["n"]), f"{r['accuracy']:.3f}", f"{r['think_tokens_mean']:.1f}",
                      f"{r['answer_tokens_mean']:.1f}", f"{r['think_rate']:.2f}")
    console.print(table)
    if not out["thinking_mode"]:
        console.print(f"[yellow]this model has no thinking mode (family {gates[0].format.name!r}): every strategy "
                      "answered without thinking[/]")
    if out["summary"]:
        t2 = Table(title="OptimalThinkingBench metrics (over + under)" + (", as its code scores them" if otb_compat else ""))
        for col in ("strategy", "AUC_OAA", "Acc_ut", "F1_otb", "think tok", "accuracy"):
            t2.add_column(col, justify="left" if col == "strategy" else "right")
        for r in out["summary"]:
            t2.add_row(r["strategy"], f"{r['auc_oaa']:.3f}", f"{r['acc_ut']:.3f}", f"{r['f1_otb']:.3f}",
                       f"{r['think_tokens_mean']:.1f}", f"{r['accuracy']:.3f}")
        console.print(t2)
    if judging:
        p = judging["pointwise"]
        console.print(f"judge {Path(judging['model']).name} ({judging['strategy']}): {p['judged']} free-form rows, "
                      f"{p['yes']} yes, {p['no']} no, {p['unclear']} unclear; agrees with exact match on "
                      f"{'-' if p['agree_exact'] is None else format(p['agree_exact'], '.3f')}; "
                      f"{judging['calls']} calls, {judging['cached']} cached")
        if judging.get("pairwise"):
            tj = Table(title="Judge, pairwise (both orders): wins, ties, flips")
            for col in ("A", "B", "compared", "same answer", "A wins", "B wins", "ties", "flips", "unclear",
                        "flip rate", "first chosen"):
                tj.add_column(col, justify="left" if col in ("A", "B") else "right")
            for r in judging["pairwise"]:
                tj.add_row(r["a"], r["b"], *(str(r[k]) for k in ("compared", "same_answer", "a_wins", "b_wins", "ties",
                                                                   "flips", "unclear")),
                           *("-" if r[k] is None else f"{r[k]:.3f}" for k in ("flip_rate", "first_rate")))
            console.print(tj)
    if out.get("routing"):
        t3 = Table(title="Routing on the test items: APGR against the oracle (threshold swept)")
        for col in ("strategy", "set", "n", "think rate", "accuracy", "APGR", "oracle APGR", "rate@50%", "rate@80%"):
            t3.add_column(col, justify="left" if col in ("strategy", "set") else "right")
        for r in out["routing"]:
            t3.add_row(r["strategy"], r["set"], str(r["n"]), f"{r['think_rate']:.2f}", f"{r['accuracy']:.3f}",
                       *("-" if r[k] is None else f"{r[k]:.3f}" for k in ("apgr", "oracle_apgr", "cost_50", "cost_80")))
        console.print(t3)
    kept = "" if fresh else f"; every row is kept in {cache}: rerun to write it"
    if json_out:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(out, indent=1))
        except OSError as e:
            fail(f"--json {json_out}: cannot be written ({e.strerror or e}){kept}")
        console.print(f"[dim]wrote {json_out}[/]")
    if csv_out:
        from .bench.runner import write_csv

        try:
            csv_out.parent.mkdir(parents=True, exist_ok=True)
            write_csv(all_rows, csv_out)
        except OSError as e:
            fail(f"--csv {csv_out}: cannot be written ({e.strerror or e}){kept}")
        console.print(f"[dim]wrote {csv_out}[/]")
    if report_dir:
        from .bench.report import write_report

        try:
            console.print(f"[dim]wrote {write_report(out, all_rows, report_dir)}[/]")
        except OSError as e:
            fail(f"--report {report_dir}: cannot be written ({e.strerror or e}){kept}")


def _judge_rows(rows, items, judge, judge_model, judge_tokenizer, judge_key, timeout, strategy, max_tokens,
                pairwise_too, cache, batch_size):
    """Rows of free-form items rescored by the judge (and, when asked, every two strategies compared
    pairwise), with the judge's figures for the JSON."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .bench import judge as judging
    from .scoring.cache import ResultsCache, model_fingerprint
    from .errors import MissingCapability, UpstreamError
    from .types import Sampling

    url = judge.startswith(("http://", "https://"))
    if url and (not judge_model or not judge_tokenizer):
        fail("--judge URL needs --judge-model NAME (as the engine serves it) and --judge-tokenizer PATH")
    if not url and (judge_model or judge_tokenizer):
        fail("--judge-model and --judge-tokenizer go with --judge URL (an engine)")
    backend = _any_backend(None if url else judge, judge if url else None, judge_model, judge_tokenizer, judge_key,
                           timeout, batch_size=batch_size)
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
                bar = progress.add_task("judge · pairwise", total=judging.pairwise_calls(rows, by_id))
                out["pairwise"] = judging.pairwise(j, rows, by_id, lambda k: progress.advance(bar, k))
        except (MissingCapability, UpstreamError) as e:
            fail(f"the judge: {e}{kept}")
    out.update(calls=j.calls, cached=j.cached)
    return rows, out


@app.command()
def calibrate(
    model: ModelOpt = None,
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
    rule: Annotated[str, typer.Option("--rule", help=(
        "Routing score: margin (P(nothink right) - P(think right)) or nothink (P(nothink right), Self-Route's)."))] = "margin",
    max_tokens: MaxTokensOpt = 768,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 64,
    cache: Annotated[Path, typer.Option("--cache", help="The bench's results cache (JSONL), reused.")] = Path(".thinkgate/bench-cache.jsonl"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore the cache.")] = False,
    threads: Annotated[int, typer.Option("--threads", min=0, help="torch threads (0: torch's default).")] = 0,
    fmt: FormatOpt = None,
    upstream: UpstreamOpt = None,
    upstream_model: UpstreamModelOpt = None,
    tokenizer: TokenizerOpt = None,
    upstream_key: UpstreamKeyOpt = None,
    upstream_timeout: UpstreamTimeoutOpt = 600.0,
    concurrency: ConcurrencyOpt = 16,
) -> None:
    """Run think, nothink and a few budgets on the calibration split (disjoint from the test split), then
    train the hidden-state probe and the text router on those outcomes and set their thresholds. With
    --upstream, the outcomes are the engine's model's (raw-prefix mode), the router is the text one, and
    --out names its folder (use it with `serve --upstream ... --strategy auto:dir=OUT`)."""
    from .errors import MissingCapability, UpstreamError
    from .bench.calibrate import CalibConfig, run
    from .routers.router import ROUTER_KINDS
    from .tasks import SUITES

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
    if rule not in ("margin", "nothink"):
        fail(f"--rule must be margin or nothink, not {rule!r}")
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
    if upstream is not None and out is None:
        fail("--upstream needs --out FOLDER for the routers (an engine's model has no folder of its own)")
    if out is not None:
        writable(out, "--out", folder=True)
    cfg = CalibConfig(model=model, suites=suite_list, data=data, data_suite=data_suite, out=str(out) if out else None,
                      per_suite=per_suite, limit=limit, budgets=budget_list, target_think_rate=target_think_rate,
                      max_drop=max_drop, kinds=kinds, rule=rule, max_tokens=max_tokens, batch_size=batch_size,
                      cache=None if fresh else str(cache), threads=threads, fmt=fmt)
    try:
        backend = _any_backend(model, upstream, upstream_model, tokenizer, upstream_key, upstream_timeout,
                               concurrency=concurrency, batch_size=batch_size, kind=backend_kind)
        if upstream:  # items go to the engine `concurrency` at a time: a call takes enough to fill that
            cfg.batch_size = max(batch_size, concurrency)
        record = run(cfg, backend=backend, log=lambda m: err.print(m))
    except (ValueError, UpstreamError, MissingCapability) as e:
        fail(str(e))
    console.print(f"routing on the calibration split: {record['n']} items, out-of-fold, {record['wall_s']}s; "
                  f"routers in {Path(next(iter(record['routers'].values()))['file']).parent if record['routers'] else '-'}")
    table = Table()
    for col in ("router", "set", "think %", "accuracy", "think tok", "F1_otb", "APGR", "oracle acc", "oracle tok",
                "oracle APGR"):
        table.add_column(col, justify="left" if col in ("router", "set") else "right")
    for kind, rec in record["routers"].items():
        for name, c in rec["curves"].items():
            ch, orc = c["chosen"], c["oracle"]
            table.add_row(kind, name, f"{100 * ch['think_rate']:.0f}", f"{ch['accuracy']:.3f}",
                          f"{ch['think_tokens_mean']:.1f}", f"{ch['f1_otb']:.3f}" if "f1_otb" in ch else "-",
                          "-" if c["apgr"] is None else f"{c['apgr']:.3f}", f"{orc['accuracy']:.3f}",
                          f"{orc['think_tokens_mean']:.1f}", "-" if c["oracle_apgr"] is None else f"{c['oracle_apgr']:.3f}")
    console.print(table, width=max(console.width, 120))


@app.command()
def serve(
    model: ModelOpt = None,
    backend_kind: BackendOpt = "auto",
    upstream: UpstreamOpt = None,
    upstream_model: UpstreamModelOpt = None,
    tokenizer: TokenizerOpt = None,
    upstream_key: UpstreamKeyOpt = None,
    upstream_timeout: UpstreamTimeoutOpt = 600.0,
    upstream_chat: Annotated[bool, typer.Option("--upstream-chat", help=(
        "Chat fallback: pass chat requests to the engine's /v1/chat/completions with thinking on/off/auto, "
        "budgets and effort in the engine's own fields (no strategies). --tokenizer is optional here: with it, "
        "usage the engine does not send is counted in tokens."))] = False,
    engine: Annotated[str, typer.Option("--engine", help=(
        "With --upstream-chat, the engine, whose own fields carry thinking on/off, budgets and effort: vllm, "
        "sglang, llamacpp (llama-server), llama-cpp-python, ollama, openai, thinkgate, or auto (asked of the "
        "engine at start-up). See docs/engines/."))] = "auto",
    reasoning_format: Annotated[str, typer.Option("--reasoning-format", help=(
        "separate: the thought in reasoning_content and reasoning; inline: in content, between the model "
        "family's tags, for pipelines that read only the content (as an engine without a reasoning parser)."))] = "separate",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="THINKGATE_API_KEY",
                                                   help="Require 'Authorization: Bearer KEY' on /v1/*.")] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="The default strategy spec.")] = "think",
    default_thinking: Annotated[str, typer.Option("--default-thinking", help=(
        "auto | on | off: the mode when a request asks for none."))] = "on",
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, help="Requests in flight before 429.")] = 256,
    upstream_idle_timeout: Annotated[Optional[float], typer.Option("--upstream-idle-timeout", min=0.1, help=(
        "Seconds the engine may stay silent within a request (default: --upstream-timeout)."))] = None,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1024, help="Largest request body (413 beyond).")] = 2 << 20,
    max_tokens_limit: Annotated[int, typer.Option("--max-tokens-limit", min=1, help=(
        "Largest max_tokens a request may ask for, and largest token count in a request's strategy parameters."))] = 32768,
    max_loops: Annotated[int, typer.Option("--max-loops", min=1, help=(
        "Largest n, and largest repeat count in a request's strategy parameters (parallel:n, max_probes, "
        "max_extensions)."))] = 32,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="max_tokens when a request sets none.")] = 1024,
    batch_window_ms: Annotated[float, typer.Option("--batch-window-ms", min=0.0, help=(
        "Local model: the scheduler adds calls to a shared generate call while they come less than this "
        "far apart (for at most 10x this)."))] = 10.0,
    served_name: Annotated[Optional[str], typer.Option("--served-model-name", help=(
        "The model name clients send; default: --model's name or --upstream-model."))] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    fmt: FormatOpt = None,
) -> None:
    """Serve the OpenAI-compatible API (chat completions, completions, models, health, metrics) with
    thinking control per request, in front of a local model or an engine."""
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        need(module, "serve", "thinkgate serve")
    import uvicorn

    from .server.app import create_app

    if default_thinking not in ("auto", "on", "off"):
        fail(f"--default-thinking must be auto, on or off, not {default_thinking!r}")
    chat = None
    backend = None
    if upstream_chat:
        from .errors import ModelLoadError
        from .backends.openai_compat import UpstreamChat

        if not upstream or not upstream_model:
            fail("--upstream-chat needs --upstream URL and --upstream-model NAME")
        try:
            chat = UpstreamChat(upstream, upstream_model, api_key=upstream_key, timeout=upstream_timeout,
                                idle_timeout=upstream_idle_timeout, engine=engine, tokenizer=tokenizer)
        except ModelLoadError as e:
            fail(str(e))
        except ValueError as e:
            fail(f"--engine: {e}")
        err.print(f"[dim]chat fallback to engine {chat.engine.name!r}[/]")
    else:
        backend = _any_backend(model, upstream, upstream_model, tokenizer, upstream_key, upstream_timeout,
                               concurrency=max_queue, idle_timeout=upstream_idle_timeout, kind=backend_kind)
    name = served_name or upstream_model or (model or "tiny")
    from .errors import RouterError, UpstreamError
    from .server.guard import ServerLimits

    try:
        limits = ServerLimits(max_body_bytes=max_body_bytes, max_tokens=max_tokens_limit, max_loops=max_loops)
        application = create_app(backend, name, strategy=strategy, default_thinking=default_thinking,
                                 api_key=api_key, max_queue=max_queue, batch_window_ms=batch_window_ms,
                                 default_max_tokens=max_tokens, chat=chat, limits=limits, fmt=fmt,
                                 reasoning_format=reasoning_format, freeze_gc=True)
    except (ValueError, KeyError, RouterError, UpstreamError) as e:
        fail(str(e).strip('"'))
    err.print(f"[dim]thinkgate serving {name!r} on http://{host}:{port}/v1[/]")
    # requests run their strategy in threads while the event loop streams: hand the interpreter lock over
    # sooner than the default 5 ms, so that a burst of requests does not wait on it
    sys.setswitchinterval(0.0005)
    uvicorn.run(application, host=host, port=port, log_level=log_level)


def _numbers(text: str, option: str, keys, key_word: str, value_word: str) -> dict[str, float]:
    """Parse `key=number,key=number` for `option`, every key one of `keys`."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key not in keys:
            fail(f"{option}: {part!r} is not {key_word}={value_word} with {key_word} one of {', '.join(keys)}")
        try:
            out[key] = float(value)
        except ValueError:
            fail(f"{option}: {value_word} {value!r} for {key} is not a number")
    return out


def _mixture(text: str) -> dict[str, float]:
    from .train.sft import suite_mixture

    return suite_mixture(**_numbers(text, "--mixture", ("over", "under", "mip"), "suite", "weight"))


def _family_think(text: str) -> dict[str, float]:
    from .tasks import FAMILIES
    from .train.sft import check_family_think_prob

    shares = _numbers(text, "--family-think", list(FAMILIES), "family", "share")
    try:
        check_family_think_prob(shares, "--family-think")
    except ValueError as e:
        fail(str(e))
    return shares


@train_app.command("sft")
def train_sft(
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained model.")] = Path("thinkgate/models/tiny"),
    steps: Annotated[int, typer.Option("--steps", min=1, help="Length of the learning-rate schedule.")] = 2400,
    stop_after: Annotated[Optional[int], typer.Option("--stop-after", min=1, help="Stop after this many steps (schedule unchanged).")] = None,
    minutes: Annotated[float, typer.Option("--minutes", min=0.1, help="Wall-clock cap; the model is saved when it is reached.")] = 60.0,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Continue training this model folder.")] = None,
    schedule: Annotated[str, typer.Option("--schedule", help="cosine or wsd (warm-up, stable, decay).")] = "cosine",
    warmup: Annotated[int, typer.Option("--warmup", min=0)] = 100,
    decay_frac: Annotated[float, typer.Option("--decay-frac", min=0.0, max=1.0, help="wsd: share of steps spent decaying.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    batch_tokens: Annotated[int, typer.Option("--batch-tokens", min=256)] = 4096,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 2e-3,
    mixture: Annotated[str, typer.Option("--mixture", help="Suite weights, e.g. over=1.5,under=2.5,mip=0.5.")] = "",
    think_prob: Annotated[float, typer.Option("--think-prob", min=0.0, max=1.0, help="Share of examples rendered with their thinking trace.")] = 0.5,
    family_think: Annotated[str, typer.Option("--family-think", help="Per-family thinking shares that differ from --think-prob, e.g. listsum=0.3.")] = "",
    clock: Annotated[bool, typer.Option("--clock", help="Run the schedule over --minutes of wall time instead of --steps.")] = False,
    clock_steps: Annotated[Optional[int], typer.Option("--clock-steps", min=1, help=(
        "With --clock: also stop after this many steps; the schedule runs over whichever budget is spent first."))] = None,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile the model (about 20% faster CPU steps after a minute of compiling).")] = False,
    deterministic: Annotated[bool, typer.Option("--deterministic/--no-deterministic", help=(
        "Deterministic torch kernels while training: two runs give the same weights "
        "(about 4% slower compiled CPU steps)."))] = True,
) -> None:
    """Train the bi-mode embedded model from scratch, or continue one (thought-dropout mixture; see the card)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .train.sft import SFTConfig, train

    if schedule not in ("cosine", "wsd"):
        fail(f"--schedule must be cosine or wsd, not {schedule!r}")
    if clock_steps is not None and not clock:
        fail("--clock-steps caps a schedule by the clock; give --clock too (or --steps for one by steps)")
    if init_from is not None:
        from .errors import ModelLoadError
        from .backends.hf import check_model_folder

        try:
            check_model_folder(init_from)
        except ModelLoadError as e:
            fail(f"--init-from: {e}")
    cfg = SFTConfig(out=str(out), steps=steps, stop_after=stop_after, max_minutes=minutes, seed=seed,
                    batch_tokens=batch_tokens, lr=lr, schedule=schedule, warmup=warmup, decay_frac=decay_frac,
                    init_from=str(init_from) if init_from else None, log_every=max(1, min(25, steps // 10)),
                    clock=clock, clock_steps=clock_steps, compile=compile_, deterministic=deterministic,
                    think_prob=think_prob, family_think_prob=_family_think(family_think))
    if mixture:
        cfg.mixture = _mixture(mixture)
    total = clock_steps if clock else min(steps, stop_after or steps)
    with Progress(TextColumn("sft"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[loss]}"),
                  TimeElapsedColumn(), console=err) as progress:
        bar = progress.add_task("sft", total=total, loss="")
        record = train(cfg, progress=lambda h: progress.update(bar, completed=h["step"] + 1, loss=f"loss {h['loss']:.3f}"))
    console.print(f"trained {record['steps_done']} steps in {record['wall_minutes']} min, "
                  f"final loss {record['loss_history'][-1]['loss']}; saved to {out}")
    _warn_if_cut(record)


def _warn_if_cut(record: dict) -> None:
    """Say so when a schedule by steps was cut short by its wall-clock cap (the record says it too)."""
    if record.get("stopped_by") == "clock" and not record["config"].get("clock"):
        err.print(f"[yellow]the {record['config']['max_minutes']:g}-minute cap stopped training after {record['steps_done']} steps: the "
                  "schedule is unfinished (learning rate not decayed); raise --minutes to train it whole[/]")


@train_app.command("bpo")
def train_bpo(
    init_from: Annotated[str, typer.Option("--init-from", help="The SFT model: an embedded name or a folder.")] = "tiny",
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained model.")] = Path("thinkgate/models/tiny-auto"),
    steps: Annotated[int, typer.Option("--steps", min=1)] = 150,
    minutes: Annotated[float, typer.Option("--minutes", min=0.05, help="Wall-clock cap; the model is saved when it is reached.")] = 25.0,
    prompts_per_step: Annotated[int, typer.Option("--prompts", min=1, help="Prompts per step.")] = 8,
    group: Annotated[int, typer.Option("--group", "-g", min=1, help="Rollouts per mode per prompt.")] = 4,
    delta: Annotated[float, typer.Option("--delta", help="Reward bonus for not thinking.")] = 0.05,
    kl: Annotated[float, typer.Option("--kl", min=0.0, help="KL coefficient to the SFT model (0: none).")] = 0.02,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-4,
    temperature: Annotated[float, typer.Option("--temperature", min=0.01)] = 1.0,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=8, help="Most tokens per thinking rollout.")] = 400,
    content_advantage: Annotated[str, typer.Option("--content-advantage", help=(
        "merged: all tokens get the merged 2g group's advantage (BPO); mode: thought and answer tokens get the "
        "advantage within their own mode's rollouts; none: only the mode tokens are taught."))] = "merged",
    train_embeddings: Annotated[bool, typer.Option("--train-embeddings", help="Also train the token embeddings.")] = False,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=0, help="Format warm-up steps before RL (0: none).")] = 60,
    replay: Annotated[float, typer.Option("--replay", min=0.0, help=(
        "Weight of an SFT likelihood term on bi-mode examples in every step (0: none)."))] = 0.0,
    replay_batch: Annotated[int, typer.Option("--replay-batch", min=1, help="SFT examples per step for --replay.")] = 8,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads", min=0, help="torch threads (0: torch's default).")] = 1,
) -> None:
    """RL that teaches the model to choose whether to think (R-4B's BPO, AdaptThink-style reward); the
    result answers in auto mode (strategy `self`)."""
    need("matplotlib", "train", "thinkgate train bpo (its training curves)")
    from .errors import ModelLoadError
    from .backends.hf import check_model_folder
    from .gate import resolve_model
    from .train.bpo import BPOConfig, train

    try:
        check_model_folder(resolve_model(init_from))
    except ModelLoadError as e:
        fail(f"--init-from: {e}")
    if content_advantage not in ("merged", "mode", "none"):
        fail(f"--content-advantage must be merged, mode or none, not {content_advantage!r}")
    cfg = BPOConfig(init_from=init_from, out=str(out), steps=steps, max_minutes=minutes, prompts_per_step=prompts_per_step,
                    group=group, delta=delta, kl_coef=kl, lr=lr, temperature=temperature, max_tokens=max_tokens,
                    content_advantage=content_advantage, freeze_embeddings=not train_embeddings,
                    warmup_steps=warmup_steps, replay_coef=replay, replay_batch=replay_batch, seed=seed,
                    threads=threads)
    record = train(cfg, progress=lambda h: err.print(
        f"step {h['step']} reward {h['reward']:.3f} acc think {h['think_acc']:.2f} nothink {h['nothink_acc']:.2f} "
        f"P(think) over {h.get('p_think_over', float('nan')):.2f} under {h.get('p_think_under', float('nan')):.2f} "
        f"({h['step_s']}s, {h['minutes']} min)"))
    console.print(f"trained {record['steps_done']} steps in {record['wall_minutes']} min; saved to {out}")


@train_app.command("tiny")
def train_tiny(
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the trained model; by default "
                                                "thinkgate/models/tiny (the shipped one) for the shipped recipe, "
                                                "runs/tiny-cpu for cpu.")] = None,
    work: Annotated[Path, typer.Option("--work", help="Folder for the intermediate stages.")] = Path("runs/tiny-stages"),
    recipe: Annotated[str, typer.Option("--recipe", help="shipped: the five stages of the shipped model (four took 16 "
                                        "GPU minutes, the fifth 22 CPU minutes; about 4 hours all on a 2-core "
                                        "CPU); cpu: one stage from scratch (six layers at hidden 128), 11000 "
                                        "steps, 49-52 minutes on a 2-core CPU, capped at 59.")] = "shipped",
) -> None:
    """Reproduce the shipped `tiny` model (the SFT stages it was trained with; see its card), or train a
    narrower model of the same kind from scratch in under an hour of CPU with `--recipe cpu`."""
    from .train.sft import cpu_recipe, tiny_recipe, train

    if recipe not in ("shipped", "cpu"):
        fail(f"--recipe must be shipped or cpu, not {recipe!r}")
    if out is None:  # the narrower CPU model never replaces the shipped one unless asked to
        out = Path("thinkgate/models/tiny" if recipe == "shipped" else "runs/tiny-cpu")
    stages = tiny_recipe(str(work), str(out)) if recipe == "shipped" else cpu_recipe(str(out))
    for name, cfg in stages:
        if cfg.clock:
            span = f"{cfg.max_minutes:g} minutes" + (f" or {cfg.clock_steps} steps, whichever comes first"
                                                     if cfg.clock_steps else "")
        else:
            span = f"{cfg.steps if cfg.stop_after is None else cfg.stop_after} steps"
        console.print(f"[bold]{name}[/]: {span} -> {cfg.out}")
        record = train(cfg, progress=lambda h: err.print(f"step {h['step']} loss {h['loss']:.4f} ({h['minutes']} min)")
                       if h["step"] % 200 == 0 else None)
        console.print(f"  {record['steps_done']} steps in {record['wall_minutes']} min")
        _warn_if_cut(record)


@tasks_app.command("export")
def tasks_export(
    suite: Annotated[str, typer.Argument(help="over, under or mip")],
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write.")],
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Regenerate from the test seeds instead of copying the shipped split.")] = False,
) -> None:
    """Write a suite's fixed test split as JSONL."""
    from .tasks import SUITES, build_test_split, load_split, write_jsonl

    if suite not in SUITES:
        fail(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    writable(out, "--out")
    items = build_test_split(suite) if rebuild else load_split(suite)
    try:
        write_jsonl(items, out)
    except OSError as e:
        fail(f"--out {out}: cannot be written ({e.strerror or e})")
    console.print(f"wrote {len(items)} items to {out}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
