"""`thinkgate ask` (one question, its reasoning and answer apart) and `thinkgate render` (the family and the exact prompt)."""

from __future__ import annotations

import math

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.panel import Panel

from .common import (BackendOpt, EffortOpt, Engine, FormatOpt, MaxTokensOpt, ModelOpt, ModelsOpt, ModeOpt, SeedOpt,
                     TemperatureOpt, _gate, _roster, _thinking, _tools, app, console, engine_options, fail)


@app.command()
@engine_options(concurrency=False)
def ask(
    prompt: Annotated[str, typer.Argument(help="The question.")],
    mode: ModeOpt = "think",
    strategy: Annotated[Optional[str], typer.Option("--strategy", "-s", help="A strategy spec; defaults to the mode's.")] = None,
    model: ModelsOpt = None,
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
    stop: Annotated[Optional[list[str]], typer.Option("--stop", help=(
        "A string that ends the answer where it begins (the thought is not cut); repeat for several."))] = None,
    tools: Annotated[Optional[Path], typer.Option("--tools", help=(
        "A JSON file of tool definitions (OpenAI's shape) for the chat template; the calls the model writes "
        "are printed (templates with Hermes-style <tool_call> blocks)."))] = None,
    logprobs: Annotated[Optional[int], typer.Option("--logprobs", min=0, max=20, help=(
        "Print the answer's tokens with their log probabilities, each with this many of the most likely "
        "tokens at its step."))] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    engine: Engine = Engine(),
    fmt: FormatOpt = None,
) -> None:
    """Ask one question; print the reasoning and the answer separately with their token counts."""
    from pydantic import ValidationError

    from ..errors import MissingCapability, PolicyConflict, RouterError, UpstreamError
    from ..strategies import model_suffix
    from ..types import Message, Request, Sampling, invalid_text_at
    from ..verify import regex_verifier

    if invalid_text_at(prompt) is not None:
        fail("the question is not valid text in this terminal's encoding (it holds bytes that are not UTF-8)")
    try:
        verifier = regex_verifier(verify) if verify is not None else None
    except ValueError as e:
        fail(f"--verify: {e}")
    if any(not s for s in stop or []):
        fail("--stop: an empty string ends nothing; give the text that ends the answer")
    tool_list = _tools(tools) if tools is not None else None
    gate = _gate(_roster(model, engine, batch_size=1, kind=backend_kind),
                 strategy or "think", fmt, named=strategy is not None)
    try:
        request = Request(messages=[Message(role="user", content=prompt)], tools=tool_list,
                          thinking=_thinking(mode, effort, budget=budget, min_budget=min_budget),
                          sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed,
                                            stop=list(stop or [])),
                          verifier=verifier, logprobs=logprobs)
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
    if result.logprobs is not None:
        from rich.table import Table

        table = Table("token", "log p", "p", "most likely", title="the answer's tokens")
        for t in result.logprobs:
            table.add_row(repr(t.token), f"{t.logprob:.3f}", f"{math.exp(t.logprob):.3f}",
                          "  ".join(f"{a.token!r} {a.logprob:.2f}" for a in t.top))
        console.print(table)
    models = ""
    if len(u.by_model) > 1:  # two models wrote it: who wrote what, and what it cost
        models = " · written by " + ", ".join(f"{k} {v}" for k, v in u.by_model.items()) + (
            f" tokens · {u.cost:.3f} GFLOP" if u.cost is not None else " tokens")
    elif result.model and (model_suffix(result.strategy) or result.route().get("option")):  # not the primary
        models = f" · written by {result.model}" + (f" · {u.cost:.3f} GFLOP" if u.cost is not None else "")
    route = result.route()
    if route.get("threshold") is not None:  # a router decided: what, and why
        chose = route.get("option") or route["decision"] + (f" (budget {route['budget']})" if route.get("budget") else "")
        why = "none cleared it: the likeliest" if route.get("fallback") else "score vs threshold"
        models += f" · routed to {chose}: {route['score']} vs {route['threshold']} ({why})"
    sure = "" if result.confidence is None else f" · confidence {result.confidence:.3f}"
    console.print(f"[dim]strategy {result.strategy} · finish {result.finish_reason}{sure} · {result.wall_s:.2f}s{models}[/]")


@app.command()
def render(
    question: Annotated[str, typer.Argument(help="The user turn to render.")],
    mode: ModeOpt = "think",
    model: ModelOpt = None,
    fmt: FormatOpt = None,
    effort: EffortOpt = None,
) -> None:
    """Show what thinkgate does with a model's chat template: the detected family, what it knows of the
    template, and the exact prompt for a mode."""
    from transformers import AutoTokenizer

    from ..backends.gguf import folder_for, is_gguf
    from ..errors import FormatError, ModelLoadError
    from ..formats import get_format
    from ..roster import resolve_model
    from ..types import Message

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
                      f"switch to thinking off: {family.can_skip}; the model can decide (auto): {family.supports_auto}; "
                      f"template arguments: think {family.template_kwargs('think')}, "
                      f"nothink {family.template_kwargs('nothink')}",
                      markup=False, highlight=False)
    else:
        console.print("no thinking mode: every mode renders the same prompt", markup=False)
    console.print("[bold]prompt[/]")
    typer.echo(prompt, nl=False)
    typer.echo("")
