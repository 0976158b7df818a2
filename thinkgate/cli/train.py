"""`thinkgate train sft | bpo | tiny`: the embedded models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import _numbers, choices, console, err, fail, need, train_app

Schedule = choices("Schedule", "cosine", "wsd")
ContentAdvantage = choices("ContentAdvantage", "merged", "mode", "none")


def _mixture(text: str) -> dict[str, float]:
    from ..train.sft import suite_mixture

    return suite_mixture(**_numbers(text, "--mixture", ("over", "under", "mip"), "suite", "weight"))


def _family_think(text: str) -> dict[str, float]:
    from ..tasks import FAMILIES
    from ..train.sft import check_family_think_prob

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
    schedule: Annotated[Schedule, typer.Option("--schedule", help="cosine or wsd (warm-up, stable, decay).")] = "cosine",
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

    from ..train.sft import SFTConfig, train

    if clock_steps is not None and not clock:
        fail("--clock-steps caps a schedule by the clock; give --clock too (or --steps for one by steps)")
    if init_from is not None:
        from ..backends.hf import check_model_folder
        from ..errors import ModelLoadError

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
    content_advantage: Annotated[ContentAdvantage, typer.Option("--content-advantage", help=(
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
    from ..backends.hf import check_model_folder
    from ..errors import ModelLoadError
    from ..roster import resolve_model
    from ..train.bpo import BPOConfig, train

    try:
        check_model_folder(resolve_model(init_from))
    except ModelLoadError as e:
        fail(f"--init-from: {e}")
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
                                        "steps, 49-52 minutes on a 2-core CPU, capped at 59; mini: the small "
                                        "model of the embedded pair (three layers at hidden 96), to "
                                        "thinkgate/models/mini by default.")] = "shipped",
) -> None:
    """Reproduce the shipped `tiny` model (the SFT stages it was trained with; see its card), or train a
    narrower model of the same kind from scratch in under an hour of CPU with `--recipe cpu`."""
    from ..train.sft import cpu_recipe, mini_recipe, tiny_recipe, train

    recipes = {"shipped": ("thinkgate/models/tiny", lambda o: tiny_recipe(str(work), o)),
               "cpu": ("runs/tiny-cpu", cpu_recipe), "mini": ("thinkgate/models/mini", mini_recipe)}
    if recipe not in recipes:
        fail(f"--recipe must be one of {', '.join(recipes)}, not {recipe!r}")
    if out is None:  # the narrower CPU model never replaces the shipped one unless asked to
        out = Path(recipes[recipe][0])
    stages = recipes[recipe][1](str(out))
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
