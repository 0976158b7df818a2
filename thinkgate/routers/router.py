"""A router: `decide(requests) -> [RouterChoice(mode, budget, score)]`, calibrated on one model's own outcomes.

A router predicts, per query, the probability that the answer is correct at each routing level: level 0
is no thinking, then each thinking budget tried at calibration (smallest first), then unbounded thinking.
Its `score` depends on the router's `rule`:

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
    """A router's choice for one request: the mode, the thinking budget, and the score it came from."""

    mode: Literal["think", "nothink"]
    budget: int | None = None  # thinking budget when thinking; None: unbounded
    score: float  # the routing score (see the module docstring): high means "no thinking will do"
    probs: list[float] = []  # P(correct) per level


class RouterMeta(_Strict):
    format_version: int = FORMAT_VERSION
    kind: Literal["probe", "text"]
    model_fingerprint: str
    model_name: str = ""
    budgets: list[int] = []  # the budget levels between nothink and unbounded think
    budget_answer_tokens: int = 96  # at a budget level, the answer gets at most this many tokens more
    rule: Literal["margin", "nothink"] = "margin"
    threshold: float
    threshold_rule: str = ""
    budget_slack: float = Field(default=0.05, ge=0.0)
    features: dict[str, Any] = {}
    l2: float = 0.0
    cv_logloss: dict[str, float] = {}
    calib_scores: list[float] = []  # out-of-fold scores on the calibration split, sorted
    calibration: dict[str, Any] = {}

    @property
    def levels(self) -> list[str]:
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
    def threshold_for_rate(self, think_rate: float) -> float:
        return threshold_for_rate(self.meta.calib_scores, think_rate)

    def decide_probs(self, probs, threshold: float | None = None, use_budgets: bool = True,
                     budget_slack: float | None = None) -> list[RouterChoice]:
        return [decide_one([float(x) for x in row], self.meta.budgets,
                           self.meta.threshold if threshold is None else threshold,
                           self.meta.budget_slack if budget_slack is None else budget_slack, use_budgets,
                           self.meta.rule)
                for row in probs]

    def decide(self, requests: list[Request], backend, fmt, **kw) -> list[RouterChoice]:
        return self.decide_probs(self.predict(requests, backend, fmt), **kw)

    @property
    def id(self) -> str:
        """Changes when the weights or the rule change: part of the bench cache key of `route` rows."""
        h = hashlib.sha256(self.meta.model_dump_json(exclude={"calibration"}).encode())
        for t in self.linear.tensors().values():
            h.update(t.numpy().tobytes())
        return h.hexdigest()[:12]

    # --- files --------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.linear.tensors(), str(folder / f"{self.meta.kind}.safetensors"))
        path = folder / f"{self.meta.kind}.json"
        path.write_text(self.meta.model_dump_json(indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path, kind: str, model_dir: str | Path | None = None) -> "Router":
        """Load `<folder>/<kind>.json` + `.safetensors`; with `model_dir`, refuse a router calibrated on
        another model."""
        from safetensors.torch import load_file

        folder = Path(folder)
        meta_path, weights = folder / f"{kind}.json", folder / f"{kind}.safetensors"
        if not meta_path.exists() or not weights.exists():
            raise RouterError(f"no {kind} router in {folder} (looked for {meta_path.name} and {weights.name}); "
                              f"create one with `thinkgate calibrate`")
        try:
            meta = RouterMeta.model_validate(json.loads(meta_path.read_text()))
            linear = Linear.from_tensors(load_file(str(weights)))
        except Exception as e:  # corrupt JSON, unknown fields, bad tensors
            raise RouterError(f"router {meta_path} could not be read: {type(e).__name__}: {e}") from None
        if meta.format_version != FORMAT_VERSION:
            raise RouterError(f"router {meta_path} has format {meta.format_version}, this thinkgate reads "
                              f"{FORMAT_VERSION}; re-run `thinkgate calibrate`")
        if model_dir is not None:
            now = content_fingerprint(model_dir)
            if now != meta.model_fingerprint:
                raise RouterError(
                    f"router {meta_path} is stale: it was calibrated on a model with fingerprint "
                    f"{meta.model_fingerprint}, but the model at {model_dir} has fingerprint {now} (retrained or "
                    f"replaced). Recalibrate: `thinkgate calibrate --model {model_dir}`")
        return cls(meta, linear)


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
