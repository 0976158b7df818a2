"""What the commands share: the Typer apps, the consoles, the options several commands take (declared once),
the process-wide entry callback, and the helpers that turn bad input into a clear error."""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Callable, Optional, get_args

import typer
from rich.console import Console

from .. import types

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Make reasoning models think only when, and only as much as, each query needs.")
train_app = typer.Typer(no_args_is_help=True, help="Train thinkgate's embedded models.")
tasks_app = typer.Typer(no_args_is_help=True, help="Task suites and their fixed test splits.")
app.add_typer(train_app, name="train")
app.add_typer(tasks_app, name="tasks")
console = Console()
err = Console(stderr=True, soft_wrap=True)  # a message is one line however long (a path in it stays whole)

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help=(
    "Embedded model name (tiny), a model folder, or a GGUF file (converted once to a cached folder)."))]
ModelsOpt = Annotated[Optional[list[str]], typer.Option("--model", "-m", help=(
    "A model: an embedded name (tiny), a model folder, a GGUF file (converted once to a cached folder), or "
    "NAME=SOURCE[,key=value...] (SOURCE may be an engine's URL, with served= and tokenizer=; keys: served, "
    "tokenizer, backend, format, params). Repeat for several: the first is the one single-model strategies "
    "run, the two-model strategies take two of them. Default: the embedded pair tiny and mini."))]
MaxTokensOpt = Annotated[int, typer.Option("--max-tokens", min=1, help="Most tokens the model may write per request.")]
TemperatureOpt = Annotated[float, typer.Option("--temperature", "-t", min=0.0, help="0 is greedy.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Sampling seed.")]


def choices(name: str, *values: str) -> type[StrEnum]:
    """The values an option takes, as Typer checks them (a clear error naming them) and lists them in the
    help; each value is its string (library calls get plain strings)."""
    return StrEnum(name, {v: v for v in values})


Mode = choices("Mode", *get_args(types.Mode))
BackendKind = choices("BackendKind", "auto", "hf", "llamacpp")
UpstreamLogprobs = choices("UpstreamLogprobs", "needed", "always")
Effort = choices("Effort", *get_args(types.Effort))
ModeOpt = Annotated[Mode, typer.Option("--mode", help=(
    "auto: the model decides (for a router deciding, --strategy route)."))]
BackendOpt = Annotated[BackendKind, typer.Option("--backend", help=(
    "What runs a local model: hf (transformers; a GGUF file is converted once to a folder), llamacpp (a GGUF "
    "file run by llama.cpp in-process, quantized, at its speed) or auto (llamacpp for a GGUF file when "
    "llama-cpp-python is installed, else hf)."))]
EffortOpt = Annotated[Optional[Effort], typer.Option("--effort", help=(
    "The model family's own effort levels where its template has them "
    "(gpt-oss, Hunyuan, Kimi K3), else a thinking cap of 32, 128, 512 or no tokens; none is thinking off."))]
FormatOpt = Annotated[Optional[str], typer.Option("--format", help=(
    "The model's family (qwen3, deepseek_r1, gpt_oss, seed_oss, magistral, cohere, ..., none: see docs/formats.md); "
    "default: detected from its chat template."))]


# where tokens come from: a local model (--model) or an OpenAI-compatible engine (--upstream ...)
@dataclass(frozen=True)
class Engine:
    """The engine options of a command (`engine_options`): `url` None when the command runs a local model."""

    url: str | None = None
    model: str | None = None
    tokenizer: Path | None = None
    key: str | None = None
    timeout: float = 600.0
    concurrency: int = 16
    max_body: float = 32.0  # MiB
    logprobs: str = "always"  # always: every call asks the engine for log probabilities; needed: where needed

    @property
    def scores_every_answer(self) -> bool:
        """Every call asks the engine for log probabilities, so every answer has a confidence."""
        return self.logprobs == "always"

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body * (1 << 20))


def _upstream_url(url: str | None) -> str | None:
    """--upstream checked where it is read: a one-line error naming what is wrong with the URL."""
    if url is not None:
        from ..backends.http1 import check_url

        try:
            check_url(url)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    return url


_ENGINE_OPTIONS = (  # (parameter, the `Engine` field it fills, its declaration, default)
    ("upstream", "url", Annotated[Optional[str], typer.Option("--upstream", callback=_upstream_url, help=(
        "Base URL of an OpenAI-compatible engine (vLLM, SGLang, llama.cpp, Ollama, thinkgate serve), e.g. "
        "http://127.0.0.1:8000; its /v1/completions continues prompts rendered here from --tokenizer."))], None),
    ("upstream_model", "model", Annotated[Optional[str], typer.Option(
        "--upstream-model", help="The model name the engine serves.")], None),
    ("tokenizer", "tokenizer", Annotated[Optional[Path], typer.Option("--tokenizer", help=(
        "The upstream model's tokenizer folder (its chat template renders prompts locally)."))], None),
    ("upstream_key", "key", Annotated[Optional[str], typer.Option(
        "--upstream-key", envvar="THINKGATE_UPSTREAM_KEY", help="API key sent to the engine.")], None),
    ("upstream_timeout", "timeout", Annotated[float, typer.Option("--upstream-timeout", min=0.1, help=(
        "Seconds one engine request may take in all, streamed or not (then 504 / an error)."))], Engine.timeout),
    ("upstream_max_body", "max_body", Annotated[float, typer.Option("--upstream-max-body", min=0.01, help=(
        "MiB: the largest answer body read from the engine, and the longest line of its stream (then 502)."
        ))], Engine.max_body),
    ("concurrency", "concurrency", Annotated[int, typer.Option(
        "--concurrency", min=1, help="Requests in flight to an engine at once.")], Engine.concurrency),
    ("upstream_logprobs", "logprobs", Annotated[Optional[UpstreamLogprobs], typer.Option(
        "--upstream-logprobs", help=(
            "always: ask the engine for log probabilities on every call, so every answer has a confidence; "
            "needed: only where a request asks for them or a strategy decides by them (cascade, deepconf, "
            "parallel, early_exit). They slow an engine down (llama-cpp-python's server 2.7x, vLLM ~17%). "
            "Default: always for ask and bench (which show and measure the confidence), needed for serve and "
            "calibrate."))], None),
)


def engine_options(concurrency: bool = True, logprobs: str = "always") -> Callable:
    """A command decorator: the command takes the engine options (declared once, above: --upstream,
    --upstream-model, --tokenizer, --upstream-key, --upstream-timeout, --upstream-max-body and, with
    `concurrency`, --concurrency; --upstream-logprobs, `logprobs` when not given)
    where it declares an `engine: Engine` parameter, and receives them there as one `Engine`. Typer reads a
    command's options from its signature and has no option groups, so the signature is extended here."""
    options = [o for o in _ENGINE_OPTIONS if concurrency or o[0] != "concurrency"]

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
                 for name, _, ann, default in options]
        params = []  # the engine options where the command has its `engine` parameter (the help's order)
        for p in sig.parameters.values():
            params += extra if p.name == "engine" else [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)]

        @functools.wraps(fn)
        def command(**kw):
            given = {field: kw.pop(name) for name, field, _, _ in options}
            engine = Engine(**{**given, "logprobs": str(given["logprobs"] or logprobs)})
            return fn(**kw, engine=engine)

        command.__signature__ = sig.replace(parameters=params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


@app.callback()
def entry(tune_memory: Annotated[bool, typer.Option("--tune-memory/--no-tune-memory", help=(
        "Process-wide: have glibc keep freed memory for reuse, so that decoding on the CPU does not page its "
        "memory in again every step (bench on the embedded model: 44 s instead of 72 s on 2 cores)."))] = True) -> None:
    """Make reasoning models think only when, and only as much as, each query needs."""
    if tune_memory:
        from ..process import keep_freed_memory

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
        if not folder and path.exists() and not path.is_file():  # a device (/dev/full reads without end), a pipe
            raise OSError(22, "it is not a regular file")
        if folder and path.exists() and not path.is_dir():
            raise NotADirectoryError(20, "it is a file")
        above = next((p for p in (where, *where.parents) if p.exists()), None)
        if above is not None and not above.is_dir():
            raise NotADirectoryError(20, f"{above} is a file, not a folder")
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
    from ..errors import ModelLoadError
    from ..roster import load_backend

    hf_quiet()
    try:
        return load_backend(model, batch_size=batch_size, progress=lambda line: typer.echo(line, err=True), kind=kind)
    except ModelLoadError as e:
        fail(str(e))


def _any_backend(model: str | None, engine: Engine, batch_size: int = 64, idle_timeout: float | None = None,
                 kind: str = "auto", concurrency: int | None = None):
    """The backend the options name: a local model folder or GGUF file (`model`), or an engine upstream.
    `concurrency`: requests in flight to the engine, when not the engine options' own."""
    if engine.url is None:
        if engine.model or engine.tokenizer:
            fail("--upstream-model and --tokenizer go with --upstream URL")
        return _backend(model, batch_size=batch_size, kind=kind)
    if model:
        fail("give either --model (a local model) or --upstream (an engine), not both")
    if not engine.model or not engine.tokenizer:
        fail("--upstream needs --upstream-model NAME (as the engine serves it) and --tokenizer PATH "
             "(the model's tokenizer folder, for its chat template)")
    from ..backends.openai_compat import OpenAICompatBackend
    from ..errors import ModelLoadError

    try:
        return OpenAICompatBackend(engine.url, engine.model, engine.tokenizer, api_key=engine.key,
                                   timeout=engine.timeout, concurrency=concurrency or engine.concurrency,
                                   idle_timeout=idle_timeout, max_body=engine.max_body_bytes,
                                   score_answers=engine.scores_every_answer)
    except ModelLoadError as e:
        fail(str(e))


def _roster(models: list[str] | None, engine: Engine, batch_size: int = 64, idle_timeout: float | None = None,
            kind: str = "auto", concurrency: int | None = None, lazy: bool = True):
    """The models the options name (`thinkgate.roster`): the repeated --model, after the engine of --upstream
    where one is given; with neither, the embedded pair. `lazy`: models after the first load when first used
    (a server loads them all at start)."""
    from dataclasses import replace

    from ..backends.gguf import is_gguf
    from ..errors import ModelLoadError
    from ..roster import ModelSpec, Roster, default_roster, member_of, resolve_model

    specs = []
    for text in models or []:
        try:
            spec = ModelSpec.parse(text)
        except ValueError as e:
            fail(f"--model: {e}")
        if kind != "auto" and spec.backend == "auto" and (not specs or is_gguf(resolve_model(spec.source))):
            spec = replace(spec, backend=kind)  # --backend: the first model's, and GGUF files'
        specs.append(spec)
    settings = dict(api_key=engine.key, timeout=engine.timeout, concurrency=concurrency or engine.concurrency,
                    idle_timeout=idle_timeout, max_body=engine.max_body_bytes,
                    score_answers=engine.scores_every_answer)
    members = []
    try:
        if engine.url is not None:
            members.append(Roster.of(_any_backend(None, engine, batch_size, idle_timeout, kind, concurrency)).primary)
        elif engine.model or engine.tokenizer:
            fail("--upstream-model and --tokenizer go with --upstream URL")
        elif not specs:
            hf_quiet()
            return default_roster(batch_size, progress=lambda line: typer.echo(line, err=True), kind=kind)
        hf_quiet()
        for spec in specs:
            members.append(member_of(spec, batch_size, lambda line: typer.echo(line, err=True), settings,
                                     lazy=lazy and bool(members)))
        return Roster(members)
    except ModelLoadError as e:
        fail(str(e))
    except ValueError as e:
        fail(f"--model: {e}")


def hf_quiet() -> None:
    """transformers' weight-loading bar and warnings are noise in a CLI that says what matters itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _gate(models, strategy: str, fmt: str | None = None, named: bool = True):
    """The gate of a strategy spec over a backend or a roster, with what the strategy needs loaded now (its
    router, the models of its roles): a problem is one line naming it, before any work is done."""
    from ..backends.base import MissingCapability
    from ..errors import ModelLoadError, RouterError
    from ..gate import Gate

    try:
        gate = Gate(models, strategy, fmt, named=named)
        gate.prepare()
        return gate
    except (ValueError, KeyError, ModelLoadError, RouterError, MissingCapability) as e:
        fail(str(e).strip('"'))


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

    from ..types import ThinkingSpec

    if effort == "none" and mode == "think":
        mode = "nothink"
    try:
        return ThinkingSpec(mode=mode, effort=effort, **kw)
    except ValidationError as e:
        fail("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors()))


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
