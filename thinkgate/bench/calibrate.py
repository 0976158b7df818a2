"""`thinkgate calibrate`: learn, from a model's own behaviour, when it needs to think and how much.

1. Outcomes. The calibration split (the "calib" seed namespace, disjoint from the test split; or external
   items with `data`) runs through the bench's own code path (`run_suite` over a `Gate`, the same results
   cache) in every routing level: no thinking, each thinking budget (`budget:max=B`), unbounded thinking.
   Per item: correct or not, and thinking tokens, at each level.
2. Routers. Labels are "correct at level j" for every level. Two feature sets:
   - `probe`: the model's final hidden state at the end of the prompt (one prefill pass; needs a backend
     with the hidden_state capability);
   - `text`: hashed character n-grams of the query (any backend).
   Each is a multi-output logistic regression (`linear.py`) with its L2 strength chosen by 5-fold
   cross-validation; thresholds and curves use the out-of-fold probabilities. The routing score is
   P(correct without thinking) - P(correct thinking) (`rule="margin"`) or Self-Route's P(correct
   without thinking) (`rule="nothink"`); see `router.py`.
3. Threshold. By quantile of the out-of-fold scores to hit `target_think_rate`; or, with `max_drop`, the
   one with the fewest thinking tokens that keeps every suite's accuracy within `max_drop` of the better of
   thinking and not thinking on that suite (an accuracy budget, the way a user states "lose at most one
   point"); or (default) the one that maximises F1_otb on the calibration items (needs both over and under
   items; with only one of them the objective falls back to accuracy minus a small cost per thinking
   token).
4. Output, in `out` (default `<model>/router/`): `probe.safetensors` + `probe.json`, `text.safetensors` +
   `text.json`, `calibration.json` (settings, per-item outcomes and scores, curves and APGR figures) and
   `curve.png` (accuracy vs think rate against the oracle; where matplotlib is installed).
5. Cascade (one model): the `cascade` strategy's thresholds, one per signal (the answer's least likely
   token, its confidence) of the answer without thinking (think below it), chosen over the calibration
   items by the same objectives as a router's threshold, in `cascade.json` (with the objective, and each
   signal's calibration against that answer's correctness: ECE, Brier, AUROC).

Between several models (a roster of two or more, `--model` repeated): the options are every level on every
model (`nothink@mini`, `budget:max=32@mini`, `think@mini`, `nothink@tiny`, ...), each run on the
calibration split through the same code path and cache; the labels are "correct with option j" and every
option's cost is its mean generation GFLOPs (`Roster.cost_of`: each model needs a known size). The router's
rule is `cheapest` (`routers/router.py`): the cheapest option whose out-of-fold P(correct) clears the
threshold, else the likeliest. The threshold is chosen over every distinct P by the same objectives: F1_otb;
`max_drop`: the least mean cost with every suite's accuracy within `max_drop` of its best option's; a think
rate (the share of queries sent to a thinking option). Features: the text router's n-grams (they do not
depend on a model) and the probe on the primary's hidden state. Files are `<kind>@<names>` in the primary's
`router/` (or `out`), and the curves are accuracy against cost, against the per-query oracle
(`scoring.curve.cost_apgr`), with the share of queries each option took.
"""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..backends.base import HIDDEN_STATE
from ..types import Request
from ..scoring.curve import (apgr, cost_apgr, option_outcome, outcome, pick_option, plot, plot_cost, thin, thin_cost,
                             threshold_sweep)
from ..strategies.cascade import FILE as CASCADE_FILE
from ..routers.router import (Router, RouterMeta, RouterOption, content_fingerprint, cost_order, decide_one, file_stem,
                              router_dir, routing_score, threshold_for_rate)

DEFAULT_BUDGETS = (32, 64)


@dataclass
class CalibConfig:
    model: str | None = None
    suites: tuple[str, ...] = ("over", "under")
    data: str | None = None  # external items instead of the calibration split
    data_suite: str = "under"
    out: str | None = None  # default: <model>/router
    per_suite: int = 300  # calibration items per suite (the split's size)
    limit: int | None = None  # only the first N items of each suite (tests, quick looks)
    budgets: tuple[int, ...] = DEFAULT_BUDGETS
    answer_tokens: int = 96  # budget levels: most tokens for the answer after the budget
    target_think_rate: float | None = None  # None: maximise F1_otb (or see max_drop)
    max_drop: float | None = None  # fewest thinking tokens with each suite's accuracy within this of its best mode
    budget_slack: float = 0.05
    rule: str = "margin"  # routing score: "margin" (P(nothink ok) - P(think ok)) or "nothink" (P(nothink ok))
    kinds: tuple[str, ...] = ("probe", "text")
    max_tokens: int = 768
    batch_size: int = 64
    cache: str | None = ".thinkgate/bench-cache.jsonl"  # None: no cache
    folds: int = 5
    text_buckets: int = 4096
    threads: int = 0  # torch threads; 0 leaves torch's default
    fmt: str | None = None  # the model's family (None: detected from its chat template)


def calibration_items(cfg: CalibConfig) -> dict[str, list]:
    from ..tasks import build_calib_split

    if cfg.data:
        from ..tasks.external import load_external

        by: dict[str, list] = {}
        for it in load_external(cfg.data, cfg.data_suite):
            by.setdefault(it.suite, []).append(it)
        return {s: v[:cfg.limit] for s, v in by.items()}
    return {s: build_calib_split(s, cfg.per_suite)[:cfg.limit] for s in cfg.suites}


@dataclass
class Outcomes:
    """Every calibration item's outcome at every routing level: `correct[i][j]`, thinking `tokens[i][j]` and
    `cost[i][j]` (generation GFLOPs; tokens written where the model's size is unknown) of item i at level j
    (`levels`: nothink, each `budget:max=B` of `budgets`, think; between models, each of those on each model,
    named `level@model`, with `options` the (model, level) pairs)."""

    items: list
    suites: dict
    levels: list[str]
    budgets: list[int]
    correct: list[list[bool]]
    tokens: list[list[int]]
    seconds: float
    cost: list[list[float]] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def item_suites(self) -> list[str]:
        return [it.suite for it in self.items]


def run(cfg: CalibConfig, backend=None, log: Callable[[str], None] = print, models=None) -> dict:
    """Outcomes, then a router per kind with its threshold and curves, then the files (the module's steps).
    `models`: a roster; with two or more models, the router between them (`run_between`)."""
    import torch

    from ..roster import load_backend

    started = time.time()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if models is not None and len(models) > 1:
        return run_between(cfg, models, log, started)
    if models is not None:  # one model as the roster holds it: its backend and the family it was given
        backend = models.primary.backend
        cfg.fmt = cfg.fmt or models.primary.fmt_name
    backend = backend or load_backend(cfg.model, batch_size=cfg.batch_size)
    model_dir = Path(backend.model_id)
    out = Path(cfg.out) if cfg.out else router_dir(model_dir)
    res = outcomes(cfg, backend, log)
    fingerprint = content_fingerprint(model_dir)
    record: dict = {"config": asdict(cfg), "model": str(model_dir), "model_fingerprint": fingerprint,
                    "levels": res.levels, "n": len(res.items), "outcome_seconds": round(res.seconds, 1),
                    "routers": {}}
    per_item_scores: dict[str, list[float]] = {}
    curves: dict[str, dict] = {}
    for kind in cfg.kinds:
        trained = train_router(kind, cfg, backend, res, fingerprint, model_dir.name, log)
        if trained is None:
            continue
        router, scores, think_level, t0 = trained
        path = router.save(out)
        per_item_scores[kind] = [round(x, 4) for x in scores]
        rec = {"file": str(path), "threshold": router.meta.threshold, "rule": router.meta.threshold_rule,
               "l2": router.meta.l2, "chosen": router.meta.calibration["chosen"],
               "curves": routing_curves(kind, res, scores, think_level, router.meta.threshold, curves)}
        record["routers"][kind] = rec
        log(f"  {kind}: l2 {router.meta.l2}, threshold {router.meta.threshold:.4f} ({router.meta.threshold_rule}); "
            "on calibration (out-of-fold): " + ", ".join(f"{k} {v}" for k, v in rec["chosen"].items())
            + f" ({time.time() - t0:.1f}s)")
    cascade = cascade_threshold(cfg, res, backend, fingerprint, model_dir.name, curves)
    if cascade is not None:  # its own file, with its objective: a cascade can be calibrated apart (--out)
        out.mkdir(parents=True, exist_ok=True)
        (out / CASCADE_FILE).write_text(json.dumps(cascade, separators=(",", ":")))
        for name, sig in cascade["signals"].items():
            log(f"  cascade ({name}): threshold {cascade['thresholds'][name]:.4f} ({sig['rule']}); AUROC "
                f"{sig['calibration']['auroc']}; on calibration: " + ", ".join(f"{k} {v}" for k, v in sig["chosen"].items()))
    record["items"] = [{"id": it.id, "suite": it.suite, "family": it.family, "difficulty": it.difficulty,
                        "correct": res.correct[i], "think_tokens": res.tokens[i],
                        "scores": {k: v[i] for k, v in per_item_scores.items()}} for i, it in enumerate(res.items)]
    record["curves"] = curves
    record["wall_s"] = round(time.time() - started, 1)
    write(out, record, curves, model_dir.name, log)
    return record


def outcomes(cfg: CalibConfig, backend, log: Callable[[str], None]) -> Outcomes:
    """Step 1: every calibration item at every level (on every model of a roster given as `backend`), through
    the bench's code path and cache."""
    from ..gate import Gate
    from ..roster import Roster
    from ..types import Sampling
    from .runner import run_suite

    models = backend if isinstance(backend, Roster) else Roster.of(backend, cfg.fmt)
    between = len(models) > 1
    for m in models if between else ():
        if m.params is None:
            raise ValueError(f"routing between models weighs each by its size, and model {m.name!r} has no known "
                             f"parameter count: give it as --model {m.name}=SOURCE,params=N")
    budgets = sorted(set(cfg.budgets))
    levels = ["nothink"] + [f"budget:max={b}" for b in budgets] + ["think"]
    options = [(m.name, level) for m in models for level in levels]
    names = [f"{level}@{m}" if between else level for m, level in options]
    suites = calibration_items(cfg)
    items = [it for v in suites.values() for it in v]
    if not items:
        raise ValueError("no calibration items")
    log(f"calibrating on {len(items)} items ({', '.join(f'{s} {len(v)}' for s, v in suites.items())}), "
        f"{'options' if between else 'levels'} {', '.join(names)}")
    from ..scoring.cache import ResultsCache

    cache = ResultsCache(cfg.cache) if cfg.cache else None
    sampling = Sampling(max_tokens=cfg.max_tokens)
    correct = [[False] * len(names) for _ in items]
    tokens = [[0] * len(names) for _ in items]
    cost = [[0.0] * len(names) for _ in items]
    started = time.time()
    for j, (name, spec) in enumerate(options):
        t0 = time.time()
        member = models.get(name)
        gate = Gate(Roster([member]), spec)
        # a budget level gets its budget plus `answer_tokens` in all: after a forced stop a model that was
        # never trained on one can ramble, and the outcome (correct, thinking tokens) is decided by then
        budget = int(spec.split("=")[1]) if spec.startswith("budget:") else None
        level_sampling = sampling if budget is None else Sampling(max_tokens=min(cfg.max_tokens, budget + cfg.answer_tokens))
        rows = [r for v in suites.values()
                for r in run_suite(gate, v, level_sampling, member.fingerprint(), cache, chunk=cfg.batch_size)]
        for i, r in enumerate(rows):
            correct[i][j], tokens[i][j] = r.correct, r.think_tokens
            cost[i][j] = r.cost if r.cost is not None else float(r.think_tokens + r.answer_tokens)
        log(f"  {names[j]}: accuracy {sum(c[j] for c in correct) / len(items):.3f}, thinking tokens "
            f"{sum(t[j] for t in tokens) / len(items):.1f}"
            + (f", cost {sum(c[j] for c in cost) / len(items):.4f} GFLOP" if between else "")
            + f" ({time.time() - t0:.0f}s)")
    return Outcomes(items, suites, names, budgets, correct, tokens, time.time() - started, cost,
                    options if between else [])


def run_between(cfg: CalibConfig, models, log: Callable[[str], None], started: float) -> dict:
    """A router between the roster's models: outcomes of every option, then per kind the regression, the
    threshold (rule `cheapest`) and the curves against cost, then the files."""
    primary = models.primary
    model_dir = Path(primary.backend.model_id)
    out = Path(cfg.out) if cfg.out else router_dir(model_dir)
    res = outcomes(cfg, models, log)
    fingerprints = {m.name: content_fingerprint(m.backend.model_id) for m in models}
    record: dict = {"config": asdict(cfg), "model": str(model_dir), "model_fingerprint": fingerprints[primary.name],
                    "models": fingerprints, "levels": res.levels, "n": len(res.items),
                    "outcome_seconds": round(res.seconds, 1), "routers": {}}
    per_item_scores: dict[str, list[float]] = {}
    curves: dict[str, dict] = {}
    for kind in cfg.kinds:
        if kind == "probe" and HIDDEN_STATE not in primary.backend.capabilities:
            log(f"  probe: skipped ({primary.name}, the primary, exposes no hidden state)")
            continue
        t0 = time.time()
        x, features, standardize = features_for(kind, cfg, primary.backend, [Request.of(it.prompt) for it in res.items],
                                                primary.format)
        linear, l2, losses, oof = fit_levels(x, res, cfg, standardize)
        oof = [[round(float(v), 6) for v in row] for row in oof]  # as the router keeps them
        options = [RouterOption(model=m, level=level, cost=round(sum(c[j] for c in res.cost) / len(res.items), 6),
                                accuracy=round(sum(c[j] for c in res.correct) / len(res.items), 4))
                   for j, (m, level) in enumerate(res.options)]
        threshold, rule = option_threshold(cfg, res, oof, options)
        order = cost_order(options)
        picks = [pick_option(row, order, threshold)[0] for row in oof]
        thinking = [o.mode == "think" for o in options]
        chosen = option_outcome(res.item_suites, res.correct, res.tokens, res.cost, picks, res.levels, thinking)
        meta = RouterMeta(kind=kind, model_fingerprint=fingerprints[primary.name], model_name=primary.name,
                          budgets=res.budgets, rule="cheapest", budget_answer_tokens=cfg.answer_tokens,
                          threshold=threshold, threshold_rule=rule, features=features, l2=l2,
                          cv_logloss={str(k): round(v, 4) for k, v in losses.items()}, options=options,
                          models=fingerprints, calib_probs=[[round(float(v), 6) for v in row] for row in oof],
                          calibration={"n": len(res.items), "suites": {s: len(v) for s, v in res.suites.items()},
                                       "chosen": chosen, "reliability": reliability(oof, res.correct, res.levels),
                                       "seconds": round(time.time() - t0, 2)})
        router = Router(meta, linear)
        path = router.save(out, file_stem(kind, models.names))
        per_item_scores[kind] = [round(float(row[j]), 4) for row, j in zip(oof, picks)]
        sweep = threshold_sweep(meta.calib_probs, order)
        figures = {}
        sets = {"all": list(range(len(res.items)))} | {
            s: [i for i, it in enumerate(res.items) if it.suite == s] for s in res.suites}
        for name, idx in sets.items():
            if not idx:
                continue
            pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
            sub = cost_apgr(pick(res.item_suites), pick(res.correct), pick(res.tokens), pick(res.cost),
                            [(t, pick(ps)) for t, ps in sweep], res.levels, thinking)
            sub_chosen = option_outcome(pick(res.item_suites), pick(res.correct), pick(res.tokens), pick(res.cost),
                                        pick(picks), res.levels, thinking)
            base = curves.setdefault(name, {k: v for k, v in sub.items() if k not in ("curve", "apgr")} | {"routers": {}})
            base["routers"][kind] = {"curve": thin_cost(sub["curve"]), "apgr": sub.get("apgr"), "chosen": sub_chosen}
            figures[name] = {k: sub.get(k) for k in ("apgr", "oracle_apgr", "cost_50", "cost_80", "oracle_cost_50",
                                                     "oracle_cost_80", "weak", "strong", "weak_accuracy",
                                                     "strong_accuracy")} | {"chosen": sub_chosen, "oracle": sub["oracle"]}
        record["routers"][kind] = {"file": str(path), "threshold": meta.threshold, "rule": rule, "l2": l2,
                                   "chosen": chosen, "curves": figures,
                                   "reliability": meta.calibration["reliability"]}
        log(f"  {kind}: l2 {l2}, threshold {meta.threshold:.4f} ({rule}); on calibration (out-of-fold): accuracy "
            f"{chosen['accuracy']}, cost {chosen['cost_mean']} GFLOP, shares "
            + ", ".join(f"{k} {v}" for k, v in chosen["shares"].items()) + f" ({time.time() - t0:.1f}s)")
    record["items"] = [{"id": it.id, "suite": it.suite, "family": it.family, "difficulty": it.difficulty,
                        "correct": res.correct[i], "think_tokens": res.tokens[i], "cost": [round(c, 6) for c in res.cost[i]],
                        "probs": {k: v[i] for k, v in per_item_scores.items()}} for i, it in enumerate(res.items)]
    record["curves"] = curves
    record["wall_s"] = round(time.time() - started, 1)
    write(out, record, curves, file_stem("", models.names)[1:], log, between=True)
    return record


def fit_levels(x, res: Outcomes, cfg: CalibConfig, standardize: bool):
    """The regression of "correct at level (option) j" on the features: (fitted, l2, CV losses, out-of-fold P)."""
    import torch

    from ..routers.linear import cross_validate, fit

    y = torch.tensor(res.correct, dtype=torch.float32)
    l2, oof, losses = cross_validate(x, y, cfg.folds, standardize=standardize)
    return fit(x, y, l2, standardize), l2, losses, oof


def reliability(probs, correct: list[list[bool]], names: list[str], bins: int = 10) -> dict:
    """How well the out-of-fold P(correct) is calibrated, per option (`scoring.calibration.reliability`: Brier
    score, ECE over `bins` equal-width bins, AUROC, and the bins)."""
    from ..scoring.calibration import reliability as figures

    return {name: figures([float(row[j]) for row in probs], [c[j] for c in correct], bins)
            for j, name in enumerate(names)}


def option_threshold(cfg: CalibConfig, res: Outcomes, probs, options: list) -> tuple[float, str]:
    """Step 3 between models, over every distinct P(correct): the think rate nearest `target_think_rate`; else
    the least mean cost with every suite within `max_drop` of its best option (none qualifying: the one
    whose worst suite falls least short); else the best F1_otb (accuracy - 0.001 x thinking tokens without
    over + under items)."""
    order = cost_order(options)
    thinking = [o.mode == "think" for o in options]
    suites = res.item_suites
    by_suite = {s: [i for i in range(len(suites)) if suites[i] == s] for s in dict.fromkeys(suites)}
    best_option = {s: max(sum(res.correct[i][j] for i in idx) / len(idx) for j in range(len(options)))
                   for s, idx in by_suite.items()}
    scored = []
    for t, picks in threshold_sweep(probs, order):
        o = option_outcome(suites, res.correct, res.tokens, res.cost, picks, res.levels, thinking)
        slack = min(sum(res.correct[i][picks[i]] for i in idx) / len(idx) - best_option[s] + (cfg.max_drop or 0)
                    for s, idx in by_suite.items())
        scored.append((t, o, slack))
    if cfg.target_think_rate is not None:
        t, o, _ = min(scored, key=lambda x: (abs(x[1]["think_rate"] - cfg.target_think_rate), x[1]["cost_mean"]))
        return t, f"think rate {cfg.target_think_rate} (calibration: {o['think_rate']})"
    if cfg.max_drop is not None:
        ok = [x for x in scored if x[2] >= -1e-9]
        if ok:
            t, o, _ = min(ok, key=lambda x: (x[1]["cost_mean"], -x[1]["accuracy"]))
            return t, (f"least cost ({o['cost_mean']:.4f} GFLOP) with every suite within {cfg.max_drop} of its best "
                       f"option, on calibration")
        t, _, slack = max(scored, key=lambda x: x[2])
        return t, (f"no threshold keeps every suite within {cfg.max_drop} of its best option on calibration; the "
                   f"closest falls {-slack:.4f} short")
    def value(o):
        return o.get("f1_otb", o["accuracy"] - 0.001 * o["think_tokens_mean"])
    best = max(value(o) for _, o, _ in scored)
    ties = [t for t, o, _ in scored if value(o) >= best - 1e-9]
    name = "max F1_otb" if "f1_otb" in scored[0][1] else "max accuracy - 0.001 x thinking tokens"
    return ties[len(ties) // 2], f"{name} on calibration ({best:.4f})"


def features_for(kind: str, cfg: CalibConfig, backend, requests, fmt=None) -> tuple:
    """The router's inputs: (features, what they are, whether to standardize them). `fmt`: the model's
    chat format (None: `cfg.fmt`, else detected)."""
    from ..gate import Gate
    from ..routers.features import hidden_state_features, ngram_features, query_text

    if kind == "probe":
        x = hidden_state_features(requests, backend, fmt or Gate(backend, "think", cfg.fmt).format)
        return x, {"input": "final hidden state at the end of the prompt rendered in auto mode",
                   "dim": int(x.shape[1])}, True
    x = ngram_features([query_text(r) for r in requests], cfg.text_buckets)
    return x, {"input": "hashed character n-grams (text + digit shape)", "buckets": cfg.text_buckets,
               "n_min": 1, "n_max": 4}, False


def train_router(kind: str, cfg: CalibConfig, backend, res: Outcomes, fingerprint: str, model_name: str,
                 log: Callable[[str], None]):
    """Step 2 and 3 for one kind: the cross-validated regression, its out-of-fold scores and the level each
    item would think at, and the threshold. Returns (router, scores, think levels, start time), or None when
    the backend cannot feed this kind."""
    import torch

    from ..backends.base import HIDDEN_STATE
    from ..routers.linear import cross_validate, fit
    from ..types import Request

    if kind == "probe" and HIDDEN_STATE not in backend.capabilities:
        log("  probe: skipped (the backend exposes no hidden state)")
        return None
    t0 = time.time()
    x, features, standardize = features_for(kind, cfg, backend, [Request.of(it.prompt) for it in res.items])
    y = torch.tensor(res.correct, dtype=torch.float32)
    l2, oof, losses = cross_validate(x, y, cfg.folds, standardize=standardize)
    final = fit(x, y, l2, standardize)
    scores = [routing_score([float(v) for v in row], cfg.rule) for row in oof]
    budgets_chosen = [decide_one([float(v) for v in row], res.budgets, 2.0, cfg.budget_slack, rule=cfg.rule).budget
                      for row in oof]
    think_level = [res.levels.index(f"budget:max={b}") if b is not None else len(res.levels) - 1
                   for b in budgets_chosen]
    threshold, rule = choose_threshold(cfg, res, scores, think_level)
    chosen_level = [think_level[i] if scores[i] < threshold else 0 for i in range(len(res.items))]
    chosen = outcome(res.item_suites, res.correct, res.tokens, chosen_level)
    meta = RouterMeta(kind=kind, model_fingerprint=fingerprint, model_name=model_name, budgets=res.budgets,
                      rule=cfg.rule, budget_answer_tokens=cfg.answer_tokens,
                      threshold=round(threshold, 6), threshold_rule=rule, budget_slack=cfg.budget_slack,
                      features=features, l2=l2, cv_logloss={str(k): round(v, 4) for k, v in losses.items()},
                      calib_scores=sorted(round(s, 6) for s in scores),
                      calibration={"n": len(res.items), "suites": {s: len(v) for s, v in res.suites.items()},
                                   "chosen": chosen, "seconds": round(time.time() - t0, 2)})
    return Router(meta, final), scores, think_level, t0


def cascade_threshold(cfg: CalibConfig, res: Outcomes, backend, fingerprint: str, model_name: str,
                      curves: dict) -> dict | None:
    """The `cascade` strategy's thresholds, one per signal (think below it), chosen over the calibration items
    by the router's objectives (`choose_threshold`) from the scores the strategy itself computes of each
    item's answer without thinking (`Cascade.first_attempts`, one more pass without thinking, batched), with
    each signal's calibration against that answer's correctness; None where no answer could be scored (a
    backend without log probabilities)."""

    from ..gate import Gate
    from ..scoring.calibration import reliability
    from ..strategies.cascade import SIGNALS, Cascade
    from ..types import Sampling

    fmt = Gate(backend, "nothink", cfg.fmt).format
    requests = [Request.of(it.prompt, logprobs=0, sampling=Sampling(max_tokens=cfg.max_tokens)) for it in res.items]
    firsts, _ = Cascade(signal="least").first_attempts(requests, backend, fmt)
    signals = {name: [score(f) for f in firsts] for name, score in SIGNALS.items()}
    if all(s is None for s in signals["least"]):
        return None
    right = [res.correct[i][0] for i in range(len(firsts))]
    think = [len(res.levels) - 1] * len(firsts)
    record: dict = {"model": model_name, "model_fingerprint": fingerprint, "objective": cfg_objective(cfg),
                    "then": res.levels[-1], "thresholds": {}, "signals": {}}
    for name, scores in signals.items():
        scored = [s if s is not None else -1.0 for s in scores]  # no score: always thinks
        threshold, why = choose_threshold(cfg, res, scored, think)
        figures = routing_curves(f"cascade:signal={name}", res, scored, think, threshold, curves)
        known = [i for i, s in enumerate(scores) if s is not None]
        rel = reliability([scores[i] for i in known], [right[i] for i in known])
        record["thresholds"][name] = round(threshold, 6)
        record["signals"][name] = {"rule": why, "chosen": figures["all"]["chosen"], "curves": figures,
                                   "first_accuracy": round(sum(right) / len(right), 4),
                                   "calibration": {k: rel[k] for k in ("n", "ece", "brier", "auroc", "bins")}}
    return record


def cfg_objective(cfg: CalibConfig) -> str:
    """The threshold objective in words, as the command line takes it."""
    if cfg.target_think_rate is not None:
        return f"think rate {cfg.target_think_rate}"
    return f"drop:{cfg.max_drop}" if cfg.max_drop is not None else "f1"


def choose_threshold(cfg: CalibConfig, res: Outcomes, scores: list[float], think_level: list[int]) -> tuple[float, str]:
    """Step 3: by quantile for a think rate, else the cheapest within an accuracy drop, else the best F1_otb."""
    if cfg.target_think_rate is not None:
        return threshold_for_rate(scores, cfg.target_think_rate), f"quantile: think rate {cfg.target_think_rate}"
    if cfg.max_drop is not None:
        return cheapest_threshold(res.item_suites, res.correct, res.tokens, scores, think_level, cfg.max_drop)
    return best_threshold(res.item_suites, res.correct, res.tokens, scores, think_level)


def routing_curves(kind: str, res: Outcomes, scores: list[float], think_level: list[int], threshold: float,
                   curves: dict) -> dict:
    """Accuracy against think rate as the threshold sweeps (APGR), on all items and per suite: this router's
    figures, returned, and its curve added to `curves` (shared by the kinds, for the plot)."""
    n = len(res.items)
    chosen_level = [think_level[i] if scores[i] < threshold else 0 for i in range(n)]
    sets = {"all": list(range(n))} | {s: [i for i in range(n) if res.items[i].suite == s] for s in res.suites}
    figures = {}
    for name, idx in sets.items():
        if not idx:
            continue
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        suites, correct, tokens = pick(res.item_suites), pick(res.correct), pick(res.tokens)
        sub = apgr(suites, correct, tokens, pick(scores), pick(think_level))
        base = curves.setdefault(name, {k: v for k, v in sub.items() if k not in ("curve", "apgr")} | {"routers": {}})
        sub_chosen = outcome(suites, correct, tokens, pick(chosen_level))
        base["routers"][kind] = {"curve": thin(sub["curve"]), "apgr": sub.get("apgr"), "chosen": sub_chosen}
        figures[name] = {k: sub.get(k) for k in ("apgr", "oracle_apgr", "cost_50", "cost_80", "oracle_cost_50",
                                                 "oracle_cost_80")} | {
            "chosen": sub_chosen, "oracle": sub["oracle"], "nothink_accuracy": sub["nothink_accuracy"],
            "think_accuracy": sub["think_accuracy"]}
    return figures


def write(out: Path, record: dict, curves: dict, model_name: str, log: Callable[[str], None],
          between: bool = False) -> None:
    """Step 4: calibration.json, and curve.png where matplotlib is installed (between models:
    `calibration@<names>.json` and `curve@<names>.png`, next to one model's own)."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = f"@{model_name}" if between else ""
    if curves and importlib.util.find_spec("matplotlib"):
        title = f"Routing on the calibration split ({model_name}, out-of-fold)"
        (plot_cost if between else plot)(curves, out / f"curve{suffix}.png", title)
    elif curves:
        log("no curve.png: plots need matplotlib (pip install 'thinkgate[report]'); the curves are in calibration.json")
    (out / f"calibration{suffix}.json").write_text(json.dumps(record, separators=(",", ":")))
    log(f"wrote routers to {out} in {record['wall_s']}s")


def _cuts(scores) -> list[float]:
    """Every distinct way to split the scores: below the lowest, between neighbours, above the highest."""
    uniq = sorted(set(scores))
    return [uniq[0] - 0.01] + [(a + b) / 2 for a, b in zip(uniq, uniq[1:])] + [uniq[-1] + 0.01]


def cheapest_threshold(suites, correct, tokens, scores, think_level, max_drop: float) -> tuple[float, str]:
    """The threshold with the fewest mean thinking tokens whose accuracy on every suite is at least the
    better of no thinking (level 0) and unbounded thinking (the last level) on that suite, minus `max_drop`.
    Among equally cheap ones, the most accurate. When none qualifies, the one whose worst suite falls
    least short."""
    n = len(scores)
    by_suite = {s: [i for i in range(n) if suites[i] == s] for s in dict.fromkeys(suites)}
    floor = {s: max(sum(correct[i][0] for i in idx), sum(correct[i][-1] for i in idx)) / len(idx) - max_drop
             for s, idx in by_suite.items()}
    best, fallback = None, None
    for t in _cuts(scores):
        level = [think_level[i] if scores[i] < t else 0 for i in range(n)]
        slack = min(sum(correct[i][level[i]] for i in idx) / len(idx) - floor[s] for s, idx in by_suite.items())
        cost = sum(tokens[i][level[i]] for i in range(n)) / n
        acc = sum(correct[i][level[i]] for i in range(n)) / n
        if slack >= -1e-9 and (best is None or (cost, -acc) < best[0]):
            best = ((cost, -acc), t)
        if fallback is None or slack > fallback[0]:
            fallback = (slack, t)
    if best is not None:
        return best[1], (f"fewest thinking tokens ({best[0][0]:.1f}) with every suite within {max_drop} of its "
                         f"better mode, on calibration")
    return fallback[1], (f"no threshold keeps every suite within {max_drop} of its better mode on calibration; "
                         f"the closest falls {-fallback[0]:.4f} short")


def best_threshold(suites, correct, tokens, scores, think_level) -> tuple[float, str]:
    """The threshold maximising F1_otb (accuracy - 0.001 * thinking tokens without over + under items);
    among ties, the middle one of the best run."""
    cuts = _cuts(scores)
    vals = []
    for t in cuts:
        res = outcome(suites, correct, tokens, [think_level[i] if scores[i] < t else 0 for i in range(len(scores))])
        vals.append(res.get("f1_otb", res["accuracy"] - 0.001 * res["think_tokens_mean"]))
    best = max(vals)
    ties = [k for k, v in enumerate(vals) if v >= best - 1e-9]
    name = "max F1_otb" if all(s in suites for s in ("over", "under")) else "max accuracy - 0.001 x thinking tokens"
    return cuts[ties[len(ties) // 2]], f"{name} on calibration ({best:.4f})"


__all__ = ["CalibConfig", "run", "best_threshold", "cheapest_threshold"]
