"""Routers, `thinkgate calibrate`, and the `route` strategy, on the shipped model (real backend, no mocks)."""

import json
import shutil

import pytest

from thinkgate.bench.runner import report, run_suite
from thinkgate.gate import Gate
from thinkgate.bench.calibrate import CalibConfig, run
from thinkgate.routers.router import Router, RouterError, content_fingerprint, threshold_for_rate
from thinkgate.tasks import SHARED_SPACE, SUITES, build_calib_split, held_out_prompts, load_split, training_stream
from thinkgate.types import Request, Sampling

EASY, HARD = "Which is larger, 37 or 52?", "What is 48213+3977?"


@pytest.fixture(scope="module")
def calibrated(backend, tmp_path_factory):
    """Routers calibrated on 5 items per suite (one budget level), in a temporary folder."""
    out = tmp_path_factory.mktemp("router")
    record = run(CalibConfig(limit=5, budgets=(16,), folds=2, out=str(out), cache=str(out / "cache.jsonl"),
                             max_tokens=300), backend=backend, log=lambda m: None)
    return out, record


def test_calibration_split_is_disjoint_from_test_and_training():
    for suite in SUITES:
        calib, test = build_calib_split(suite), load_split(suite)
        assert [i.id for i in calib] == [i.id for i in build_calib_split(suite)]  # deterministic
        shared = {i.prompt for i in calib} & {i.prompt for i in test}
        assert all(i.family in SHARED_SPACE for i in calib if i.prompt in shared)
        assert len({i.prompt for i in calib}) == len(calib) > 200
    held = held_out_prompts()
    stream = training_stream(3, {"add": 1.0, "compare": 1.0, "count": 1.0}, held)
    assert not any(next(stream).prompt in held for _ in range(300))


def test_calibrate_writes_routers_without_pickle(calibrated, model_dir):
    out, record = calibrated
    names = {p.name for p in out.iterdir()}
    assert {"probe.json", "probe.safetensors", "text.json", "text.safetensors", "calibration.json", "curve.png"} <= names
    assert not any(n.endswith((".pkl", ".pt", ".bin", ".pickle")) for n in names)
    meta = json.loads((out / "probe.json").read_text())
    assert meta["model_fingerprint"] == content_fingerprint(model_dir)
    assert meta["budgets"] == [16] and -1.01 <= meta["threshold"] <= 1.01
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["levels"] == ["nothink", "budget:max=16", "think"] and len(cal["items"]) == 10
    item = cal["items"][0]
    assert len(item["correct"]) == 3 and len(item["think_tokens"]) == 3 and set(item["scores"]) == {"probe", "text"}
    curve = record["routers"]["probe"]["curves"]["all"]
    assert curve["oracle"]["accuracy"] >= max(curve["nothink_accuracy"], curve["think_accuracy"])


def test_probe_and_text_router_predict_per_level(calibrated, backend, model_dir):
    out, _ = calibrated
    fmt = Gate(backend, "think").format
    for kind in ("probe", "text"):
        router = Router.load(out, kind, model_dir)
        probs = router.predict([Request.of(EASY), Request.of(HARD)], backend, fmt)
        assert tuple(probs.shape) == (2, 3) and float(probs.min()) >= 0 and float(probs.max()) <= 1
        always = router.decide([Request.of(EASY)], backend, fmt, threshold=1.01)[0]
        never = router.decide([Request.of(EASY)], backend, fmt, threshold=-1.01)[0]
        assert always.mode == "think" and never.mode == "nothink" and never.score == always.score


def test_linear_probe_learns_a_separable_rule():
    import torch

    from thinkgate.routers.linear import cross_validate, fit

    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 6, generator=g)
    y = torch.stack([(x[:, 0] > 0).float(), (x[:, 1] + x[:, 2] > 0).float()], 1)
    model = fit(x, y, l2=1e-3)
    assert float(((model.predict(x) > 0.5).float() == y).float().mean()) > 0.95
    l2, oof, losses = cross_validate(x, y, k=4)
    assert oof.shape == y.shape and set(losses) and l2 in losses


def test_threshold_by_quantile_hits_the_think_rate():
    scores = [i / 100 for i in range(100)]
    for rate in (0.0, 0.25, 0.5, 0.9, 1.0):
        t = threshold_for_rate(scores, rate)
        assert sum(s < t for s in scores) == round(rate * 100)


def test_accuracy_budget_threshold_thinks_no_more_than_it_must():
    from thinkgate.bench.calibrate import cheapest_threshold

    # levels: nothink, think. Over items: nothink right. Under: items 0-5 need thinking, 6-9 do not; the
    # scores rank three of the needy items (0-2) lowest, then the ones that do not need it, then 3-5.
    suites = ["over"] * 4 + ["under"] * 10
    correct = [[True, True]] * 4 + [[False, True]] * 6 + [[True, True]] * 4
    tokens = [[0, 50]] * 4 + [[0, 100]] * 10
    scores = [0.9] * 4 + [0.1, 0.1, 0.1, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]
    level = [1] * 14
    # within 0.35 on under: thinking on items 0-2 (accuracy 0.7) is the cheapest that qualifies
    t, rule = cheapest_threshold(suites, correct, tokens, scores, level, 0.35)
    assert sum(s < t for s in scores) == 3 and "fewest" in rule
    # within 0: every needy item must think, so 3-5 (score 0.5) drag in 6-9 too
    t, _ = cheapest_threshold(suites, correct, tokens, scores, level, 0.0)
    assert sum(s < t for s in scores) == 10 and all(s >= t for s in scores[:4])
    # a suite that neither mode gets right sets no floor: thinking everywhere still qualifies there
    t, rule = cheapest_threshold(suites, [[False, False]] * 4 + correct[4:], tokens, scores, level, 0.0)
    assert "no threshold" not in rule
    # when no threshold qualifies, the closest is returned and said so
    worse = [[True, False]] * 4 + correct[4:]  # over: thinking hurts; under: thinking needed
    t, rule = cheapest_threshold(suites, worse, tokens, [0.1] * 4 + scores[4:], level, 0.0)
    assert "no threshold" in rule


def test_stale_router_is_refused(calibrated, tmp_path, model_dir):
    out, _ = calibrated
    retrained = tmp_path / "retrained"
    shutil.copytree(model_dir, retrained)
    from safetensors.torch import load_file, save_file

    weights = load_file(str(retrained / "model.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    save_file(weights, str(retrained / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(RouterError, match="stale.*thinkgate calibrate --model"):
        Router.load(out, "probe", retrained)
    Router.load(out, "probe", model_dir)  # the model it was calibrated on is fine
    with pytest.raises(RouterError, match="no text router"):
        Router.load(tmp_path, "text", model_dir)


def test_route_routes_by_threshold_and_shows_its_decision(calibrated, backend):
    out, _ = calibrated
    reqs = [Request.of(p, sampling=Sampling(max_tokens=300)) for p in (EASY, HARD)]
    always = Gate(backend, f"route:dir={out},threshold=1.01,then=think").run_batch(reqs)
    never = Gate(backend, f"route:dir={out},threshold=-1.01").run_batch(reqs)
    assert [r.mode for r in always] == ["think", "think"] and all(r.usage.reasoning_tokens > 0 for r in always)
    assert [r.mode for r in never] == ["nothink", "nothink"] and all(r.usage.reasoning_tokens == 0 for r in never)
    route = always[0].trace[0]
    assert route.kind == "route" and route.detail["decision"] == "think" and -1 <= route.detail["score"] <= 1
    assert set(route.detail["probs"]) == {"nothink", "budget:max=16", "think"}
    # a request in auto mode is routed too, not left to the model
    auto_mode = Gate(backend, f"route:dir={out},threshold=1.01").run(Request.of(EASY, mode="auto"))
    assert auto_mode.mode == "think" and auto_mode.reasoning
    # its former name is still read, as this strategy (the mode `auto` is the model deciding, not a router)
    former = Gate(backend, f"auto:dir={out},threshold=1.01,then=think")
    assert former.strategy.spec.startswith("route:")
    key = lambda rs: [(r.strategy, r.mode, r.reasoning, r.answer, r.usage) for r in rs]  # noqa: E731
    assert key(former.run_batch(reqs)) == key(always)


def test_route_composes_with_early_exit_and_budgets(calibrated, backend):
    out, _ = calibrated
    res = Gate(backend, f"route:dir={out},think_rate=1,then=early_exit;threshold=0.5").run(
        Request.of(HARD, sampling=Sampling(max_tokens=300)))
    assert res.trace[0].detail["via"] == "early_exit:threshold=0.5" and res.mode == "think"
    res = Gate(backend, f"route:dir={out},threshold=1.01,then=budget;max=8").run(
        Request.of(HARD, sampling=Sampling(max_tokens=300)))
    assert res.usage.reasoning_tokens == 8 and any(e.kind == "budget_stop" for e in res.trace)
    with pytest.raises(ValueError, match="route twice"):
        Gate(backend, "route:then=route")
    with pytest.raises(ValueError, match="route twice"):
        Gate(backend, "route:then=auto")  # its former name
    with pytest.raises(ValueError, match="threshold or think_rate"):
        Gate(backend, "route:threshold=0.5,think_rate=0.5")


def test_bench_rows_carry_decision_score_and_think_rate(calibrated, backend, tmp_path):
    from thinkgate.scoring.cache import ResultsCache
    from thinkgate.bench.report import write_report

    out, _ = calibrated
    items = load_split("over")[:3] + load_split("under")[:3]
    cache = ResultsCache(tmp_path / "c.jsonl")
    rows = []
    for spec in ("think", "nothink", f"route:dir={out}"):
        gate = Gate(backend, spec)
        for suite in ("over", "under"):
            rows += run_suite(gate, [i for i in items if i.suite == suite], Sampling(max_tokens=300), "m", cache)
    data, all_rows = report("tiny", rows, with_oracle=True)
    routed = [r for r in data["results"] if r["strategy"].startswith("route")]
    assert routed and all("think_rate" in r and "decided_think_rate" in r and "score_mean" in r for r in routed)
    assert all("think_rate" in r for r in data["results"])
    decisions = [d for d in data["decisions"] if d["strategy"].startswith("route")]
    assert len(decisions) == 6 and all(d["decision"] in ("think", "nothink") and d["score"] is not None
                                       for d in decisions)
    assert {d["strategy"] for d in data["decisions"]} >= {"oracle"}
    assert data["routing"] and {"apgr", "oracle_apgr"} <= set(data["routing"][0])
    # the router's identity is part of the cache key: the rows are reused only with the same router
    gate = Gate(backend, f"route:dir={out}")
    assert gate.strategy.cache_key(backend).startswith(f"route:dir={out}@router=")
    # the report draws accuracy vs think rate as the threshold sweeps, against the oracle
    page = write_report(data, all_rows, tmp_path / "rep")
    assert (tmp_path / "rep" / "routing.png").exists() and "APGR" in page.read_text()


def test_cli_calibrate_and_route_errors_are_clear(tmp_path):
    from typer.testing import CliRunner

    from thinkgate.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["calibrate", "--routers", "psychic"])
    assert res.exit_code == 2 and "unknown router" in res.output
    res = runner.invoke(app, ["calibrate", "--target-think-rate", "0.3", "--objective", "acc"])
    assert res.exit_code == 2 and "not both" in res.output
    res = runner.invoke(app, ["calibrate", "--objective", "drop:lots"])
    assert res.exit_code == 2 and "drop:D" in res.output
    res = runner.invoke(app, ["calibrate", "--objective", "cheap"])
    assert res.exit_code == 2 and "f1 or drop:D" in res.output
    res = runner.invoke(app, ["ask", "What is 3+4?", "--strategy", f"route:dir={tmp_path}"])
    assert res.exit_code == 2 and "thinkgate calibrate" in res.output
