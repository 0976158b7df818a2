"""A router: `decide(requests) -> [RouterChoice(mode, budget, score, ...)]`, calibrated on the models' own outcomes.

A router predicts, per query, the probability that the answer is correct with each of its options. On one
model the options are its routing levels: level 0 is no thinking, then each thinking budget tried at
calibration (smallest first), then unbounded thinking. Its `score` depends on the router's `rule`:

- `margin` (default): P(correct without thinking) - P(correct with unbounded thinking), in [-1, 1]: how
  much not thinking is predicted to lose (or win). Thinking is worth its tokens only where it is predicted
  to help; a family where the model does worse when it thinks is left unthought.
- `nothink` (Self-Route's): P(correct without thinking), in [0, 1].

Then:

- score >= threshold: no thinking;
- else think, with the smallest budget whose predicted accuracy is within `budget_slack` of unbounded
  thinking's (unbounded when none is).

The threshold is set at calibration (by quantile to hit a think rate, or to maximise F1_otb) and can be
overridden per use; `threshold_for_rate` turns a think rate into a threshold with the calibration scores
saved alongside.

Between several models (rule `cheapest`), the options are every (model, level) pair calibrated, named as
strategies are run on a model (`nothink@mini`, `budget:max=32@tiny`, `think@tiny`), each with its mean cost
on the calibration split (generation GFLOPs, `Roster.cost_of`). A query goes to the cheapest option whose
predicted P(correct) is at least the threshold (its score is that P); where none clears it, to the option
most likely to be right (the highest P, the cheaper of equals), whatever its cost: the fallback. The router
records every model's content fingerprint, and is refused next to a roster whose model of that name differs.

Saved as `<kind>.safetensors` (the linear layer and the feature scaling) + `<kind>.json` (everything else:
levels, threshold, feature settings, calibration scores, and the fingerprint of the model it was
calibrated on). Loading next to a different model is refused with an error that says how to recalibrate.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..errors import RouterError
from ..scoring.curve import pick_option, threshold_sweep
from ..types import Request, _Strict
from .linear import Linear

ROUTER_KINDS = ("probe", "text")
FORMAT_VERSION = 1


def content_fingerprint(model_dir: str | Path) -> str:
    """A hash of what the router's behaviour depends on: config, weights, tokenizer and chat template.

    Unlike the bench cache's `model_fingerprint` (path + weight sizes and mtimes, cheap and right for a
    local cache), this hashes content only (a GGUF file as a whole; an engine's model by its URL and name), so a router shipped inside the model folder stays valid in any
    checkout or install, and a retrained model (new weights) is told apart. Weight files above 256 MiB are
    hashed by size plus their first and last 16 MiB, to keep loading fast on large models."""
    folder = Path(model_dir)
    h = hashlib.sha256()
    if folder.is_file():  # a GGUF file: weights, tokenizer and template in one
        _hash_file(h, folder)
        return h.hexdigest()[:16]
    if not folder.is_dir():  # an engine's model (URL#name): its name is all there is to go by
        return hashlib.sha256(str(model_dir).encode()).hexdigest()[:16]
    for name in sorted(os.listdir(folder)):
        p = folder / name
        if not p.is_file():
            continue
        if name in ("config.json", "tokenizer.json", "chat_template.jinja", "tokenizer_config.json") or \
                name.endswith((".safetensors", ".bin")):
            h.update(name.encode())
            _hash_file(h, p)
    return h.hexdigest()[:16]


def _hash_file(h, p: Path) -> None:
    size = p.stat().st_size
    with open(p, "rb") as f:
        if size <= 256 << 20:
            h.update(f.read())
        else:
            h.update(str(size).encode())
            h.update(f.read(16 << 20))
            f.seek(size - (16 << 20))
            h.update(f.read())


class RouterChoice(_Strict):
    """A router's choice for one request: the mode, the thinking budget, and the score it came from; between
    models, also the model, the option's name and whether it is the fallback (no option cleared the bar)."""

    mode: Literal["think", "nothink"]
    budget: int | None = None  # thinking budget when thinking; None: unbounded
    score: float  # the routing score (see the module docstring): high means "no thinking will do"
    probs: list[float] = []  # P(correct) per level (per option)
    model: str | None = None  # rule `cheapest`: the model the option runs on
    option: str | None = None  # rule `cheapest`: the option's name (`think@mini`)
    fallback: bool = False  # rule `cheapest`: no option cleared the threshold


class RouterOption(_Strict):
    """One option of a router between models: a routing level on a model, with its calibration figures."""

    model: str
    level: str  # nothink, budget:max=B or think
    cost: float  # mean generation GFLOPs per calibration query (mean tokens written where a size is unknown)
    accuracy: float  # on the calibration split

    @property
    def name(self) -> str:
        return f"{self.level}@{self.model}"

    @property
    def mode(self) -> Literal["think", "nothink"]:
        return "nothink" if self.level == "nothink" else "think"

    @property
    def budget(self) -> int | None:
        return int(self.level.split("=", 1)[1]) if self.level.startswith("budget:max=") else None


class RouterMeta(_Strict):
    format_version: int = FORMAT_VERSION
    kind: Literal["probe", "text"]
    model_fingerprint: str
    model_name: str = ""
    budgets: list[int] = []  # the budget levels between nothink and unbounded think
    budget_answer_tokens: int = 96  # at a budget level, the answer gets at most this many tokens more
    rule: Literal["margin", "nothink", "cheapest"] = "margin"
    threshold: float
    threshold_rule: str = ""
    budget_slack: float = Field(default=0.05, ge=0.0)
    features: dict[str, Any] = {}
    l2: float = 0.0
    cv_logloss: dict[str, float] = {}
    calib_scores: list[float] = []  # out-of-fold scores on the calibration split, sorted
    calibration: dict[str, Any] = {}
    # rule `cheapest` (a router between models): its options in output order, every model's content
    # fingerprint, and the out-of-fold P(correct) per calibration item and option (what a think rate is turned
    # into a threshold with)
    options: list[RouterOption] = []
    models: dict[str, str] = {}
    calib_probs: list[list[float]] = []

    @property
    def levels(self) -> list[str]:
        if self.options:
            return [o.name for o in self.options]
        return ["nothink"] + [f"budget:max={b}" for b in self.budgets] + ["think"]


class Router:
    def __init__(self, meta: RouterMeta, linear: Linear):
        self.meta = meta
        self.linear = linear

    # --- features -----------------------------------------------------------------------------------
    def features(self, requests: list[Request], backend, fmt):
        from .features import hidden_state_features, ngram_features, query_text

        if self.meta.kind == "probe":
            from ..backends.base import HIDDEN_STATE

            backend.require(HIDDEN_STATE, "the hidden-state router (probe)")
            return hidden_state_features(requests, backend, fmt)
        f = self.meta.features
        return ngram_features([query_text(r) for r in requests], f["buckets"], f["n_min"], f["n_max"])

    def predict(self, requests: list[Request], backend, fmt):
        return self.linear.predict(self.features(requests, backend, fmt))

    # --- the rule -----------------------------------------------------------------------------------
    def threshold_for_rate(self, think_rate: float, use_budgets: bool = True) -> float:
        """The threshold that gives this think rate on the calibration split (between models: over the options
        in use, without budgets where a `then` strategy thinks in their place)."""
        if self.meta.rule == "cheapest":
            return cheapest_threshold_for_rate(self.meta.calib_probs, self.meta.options, think_rate, use_budgets)
        return threshold_for_rate(self.meta.calib_scores, think_rate)

    def decide_probs(self, probs, threshold: float | None = None, use_budgets: bool = True,
                     budget_slack: float | None = None) -> list[RouterChoice]:
        t = self.meta.threshold if threshold is None else threshold
        if self.meta.rule == "cheapest":
            order = cost_order(self.meta.options, use_budgets)
            return [choice_of(self.meta.options, [float(x) for x in row], *pick_option(row, order, t)) for row in probs]
        return [decide_one([float(x) for x in row], self.meta.budgets,
                           self.meta.threshold if threshold is None else threshold,
                           self.meta.budget_slack if budget_slack is None else budget_slack, use_budgets,
                           self.meta.rule)
                for row in probs]

    def named_probs(self, probs: list[float]) -> dict[str, float]:
        """P(correct) by level (by option, cheapest first, between models), rounded for traces and rows."""
        order = cost_order(self.meta.options) if self.meta.rule == "cheapest" else range(len(probs))
        return {self.meta.levels[j]: round(float(probs[j]), 4) for j in order}

    def decide(self, requests: list[Request], backend, fmt, **kw) -> list[RouterChoice]:
        return self.decide_probs(self.predict(requests, backend, fmt), **kw)

    @property
    def id(self) -> str:
        """Changes when the weights or the rule change: part of the bench cache key of `route` rows."""
        # the fields of a router between models are left out where empty, so a one-model router keeps its id
        empty = {k for k in ("options", "models", "calib_probs") if not getattr(self.meta, k)}
        h = hashlib.sha256(self.meta.model_dump_json(exclude={"calibration"} | empty).encode())
        for t in self.linear.tensors().values():
            h.update(t.numpy().tobytes())
        return h.hexdigest()[:12]

    # --- files --------------------------------------------------------------------------------------
    def save(self, folder: str | Path, stem: str | None = None) -> Path:
        """Write `<stem>.safetensors` + `<stem>.json` (`stem`: by default the kind; see `file_stem`)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = stem or self.meta.kind
        save_file(self.linear.tensors(), str(folder / f"{stem}.safetensors"))
        path = folder / f"{stem}.json"
        path.write_text(self.meta.model_dump_json(indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path, kind: str, model_dir: str | Path | None = None,
             models: list[str] | None = None) -> "Router":
        """Load `<folder>/<kind>.json` + `.safetensors` (`<kind>@<names>` between `models`, see `file_stem`);
        with `model_dir`, refuse a router calibrated on another model. A router between models is checked
        against each model by `check_models`."""
        from safetensors.torch import load_file

        folder = Path(folder)
        stem = file_stem(kind, models)
        meta_path, weights = folder / f"{stem}.json", folder / f"{stem}.safetensors"
        if not meta_path.exists() or not weights.exists():
            between = f" between {', '.join(models)}" if models and len(models) > 1 else ""
            how = (f"`thinkgate calibrate {' '.join('--model ' + m for m in models)}`" if between
                   else "`thinkgate calibrate`")
            others = sorted(p.stem.partition("@")[2] for p in folder.glob(f"{kind}@*.json"))
            if others and not between:
                how += "; this folder holds routers between models: use " + " or ".join(
                    f"route:models={o.replace('+', ';')}" for o in others)
            raise RouterError(f"no {kind} router{between} in {folder} (looked for {meta_path.name} and "
                              f"{weights.name}); create one with {how}")
        try:
            meta = RouterMeta.model_validate(json.loads(meta_path.read_text()))
            linear = Linear.from_tensors(load_file(str(weights)))
        except Exception as e:  # corrupt JSON, unknown fields, bad tensors
            raise RouterError(f"router {meta_path} could not be read: {type(e).__name__}: {e}") from None
        if meta.format_version != FORMAT_VERSION:
            raise RouterError(f"router {meta_path} has format {meta.format_version}, this thinkgate reads "
                              f"{FORMAT_VERSION}; re-run `thinkgate calibrate`")
        if models and len(models) > 1 and (meta.rule != "cheapest" or sorted(meta.models) != sorted(models)):
            raise RouterError(f"router {meta_path} routes between {', '.join(meta.models) or 'one model'}, not "
                              f"{', '.join(models)}; recalibrate with `thinkgate calibrate` and a --model for each")
        if not (models and len(models) > 1) and meta.rule == "cheapest":
            raise RouterError(f"router {meta_path} routes between models ({', '.join(meta.models)}): use it with "
                              f"route:models={';'.join(meta.models)}")
        if model_dir is not None:
            now = content_fingerprint(model_dir)
            if now != meta.model_fingerprint:
                raise RouterError(
                    f"router {meta_path} is stale: it was calibrated on a model with fingerprint "
                    f"{meta.model_fingerprint}, but the model at {model_dir} has fingerprint {now} (retrained or "
                    f"replaced). Recalibrate: `thinkgate calibrate --model {model_dir}`")
        return cls(meta, linear)

    def check_models(self, fingerprints: dict[str, str], where: str = "") -> None:
        """Refuse a router between models whose models differ from the ones it was calibrated on
        (`fingerprints`: name -> `content_fingerprint` of the models it runs with)."""
        for name, then in self.meta.models.items():
            now = fingerprints.get(name)
            if now is None:
                raise RouterError(f"router {where} routes to model {name!r}, which is not given; the models are "
                                  f"{', '.join(fingerprints)}")
            if now != then:
                raise RouterError(f"router {where} is stale: model {name!r} had fingerprint {then} at calibration "
                                  f"and has {now} now (retrained or replaced); recalibrate with `thinkgate "
                                  f"calibrate` and a --model for each")


def file_stem(kind: str, models: list[str] | None = None) -> str:
    """A router's file name without extension: its kind for one model; `<kind>@<primary>+<others>` between
    several (`models[0]` the primary, the others sorted, so the order they are named in does not matter)."""
    if not models or len(models) < 2:
        return kind
    return f"{kind}@{'+'.join([models[0], *sorted(models[1:])])}"


def cost_order(options: list[RouterOption], use_budgets: bool = True) -> list[int]:
    """The options' indices from the cheapest (by calibration cost) to the dearest; without budget options
    when `use_budgets` is false (a `then` strategy thinks in their place)."""
    keep = [j for j, o in enumerate(options) if use_budgets or o.budget is None]
    return sorted(keep, key=lambda j: (options[j].cost, j))


def choice_of(options: list[RouterOption], probs: list[float], j: int, fell_back: bool) -> RouterChoice:
    o = options[j]
    return RouterChoice(mode=o.mode, budget=o.budget, score=probs[j], probs=probs, model=o.model, option=o.name,
                        fallback=fell_back)


def cheapest_threshold_for_rate(probs: list[list[float]], options: list[RouterOption], think_rate: float,
                                use_budgets: bool = True) -> float:
    """The threshold whose choices on the calibration items (out-of-fold `probs`) think on the share of
    them closest to `think_rate` (ties: the lower threshold, the cheaper)."""
    best: tuple[float, float] | None = None
    for t, picks in threshold_sweep(probs, cost_order(options, use_budgets)):
        rate = sum(options[j].mode == "think" for j in picks) / max(1, len(picks))
        if best is None or abs(rate - think_rate) < best[0] - 1e-12:
            best = (abs(rate - think_rate), t)
    return best[1] if best else 0.5


def routing_score(probs: list[float], rule: str = "margin") -> float:
    return probs[0] - probs[-1] if rule == "margin" else probs[0]


def decide_one(probs: list[float], budgets: list[int], threshold: float, slack: float,
               use_budgets: bool = True, rule: str = "margin") -> RouterChoice:
    score = routing_score(probs, rule)
    if score >= threshold:
        return RouterChoice(mode="nothink", score=score, probs=probs)
    if use_budgets:
        full = probs[-1]
        for b, p in zip(budgets, probs[1:-1]):
            if p >= full - slack:
                return RouterChoice(mode="think", budget=b, score=score, probs=probs)
    return RouterChoice(mode="think", score=score, probs=probs)


ALWAYS_THINK, NEVER_THINK = 1.01, -1.01  # scores lie in [-1, 1]


def threshold_for_rate(scores: list[float], think_rate: float) -> float:
    """The threshold under which a share `think_rate` of the calibration scores falls (a query thinks when
    its score is below it). Scores lie in [-1, 1], so 1.01 thinks always and -1.01 never."""
    s = sorted(scores)
    k = round(think_rate * len(s))
    if think_rate >= 1 or (s and k >= len(s)):
        return ALWAYS_THINK
    if think_rate <= 0 or not s or k == 0:
        return NEVER_THINK
    return (s[k - 1] + s[k]) / 2


def router_dir(model_dir: str | Path) -> Path:
    """Where `thinkgate calibrate` saves routers by default: next to the model."""
    return Path(model_dir) / "router"
