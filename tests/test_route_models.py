"""Routing between models on the embedded pair (tiny and mini, real models, no mocks): a strategy run on a
named model (`SPEC@NAME`), `calibrate` over several models, the `cheapest` rule, `route:models=...` on every
face, and the bench's per-query oracle and curve against cost."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from thinkgate.bench.calibrate import CalibConfig, option_threshold, run
from thinkgate.cli import app as cli
from thinkgate.gate import Gate
from thinkgate.roster import Member, Roster
from thinkgate.routers.router import Router, RouterError, RouterOption, cheapest_threshold_for_rate, cost_order
from thinkgate.scoring.curve import cost_apgr, pick_option, threshold_sweep
from thinkgate.strategies import parse_strategy
from thinkgate.strategies.on_model import OnModel
from thinkgate.types import Request, Sampling

EASY, HARD = "Which is larger, 37 or 52?", "What is 48213+3977?"


@pytest.fixture(scope="module")
def pair(backend, mini_backend):
    return Roster([Roster.of(backend, name="tiny").primary, Roster.of(mini_backend, name="mini").primary])


@pytest.fixture(scope="module")
def between(pair, tmp_path_factory):
    """A router between the pair calibrated on 6 items per suite (one budget level), in a temporary folder."""
    out = tmp_path_factory.mktemp("between")
    record = run(CalibConfig(limit=6, budgets=(16,), folds=2, out=str(out), cache=str(out / "cache.jsonl"),
                             max_tokens=300), models=pair, log=lambda m: None)
    return out, record


def test_a_strategy_runs_on_the_model_it_names(pair):
    s = parse_strategy("budget:max=16@mini")
    assert s.spec == "budget:max=16@mini" and parse_strategy(s.spec).spec == s.spec and s.runs_several()
    assert parse_strategy("route:dir=/a@b/c").name == "route"  # an @ inside a path names no model
    res = Gate(pair, "think@mini").run(Request.of(HARD, sampling=Sampling(max_tokens=300)))
    assert res.model == "mini" and set(res.usage.by_model) == {"mini"} and res.usage.reasoning_tokens > 0
    assert res.usage.by_model["mini"] == res.usage.completion_tokens and res.strategy == "think@mini"
    tiny = Gate(pair, "think").run(Request.of(HARD, sampling=Sampling(max_tokens=300)))
    assert res.usage.cost < tiny.usage.cost  # the same thought length on a model a seventh of the size
    with pytest.raises(ValueError, match="no model is named 'nope'; the models are tiny, mini"):
        Gate(pair, "think@nope").run(Request.of(EASY))
    with pytest.raises(ValueError, match="runs several models and names them itself"):
        parse_strategy("specreason@mini")


def test_calibrate_between_models_writes_a_router_per_kind_with_every_option(between, pair):
    out, record = between
    names = {p.name for p in out.iterdir()}
    assert {"text@tiny+mini.json", "text@tiny+mini.safetensors", "probe@tiny+mini.json", "calibration@tiny+mini.json",
            "curve@tiny+mini.png"} <= names
    assert record["levels"] == ["nothink@tiny", "budget:max=16@tiny", "think@tiny", "nothink@mini",
                                "budget:max=16@mini", "think@mini"]
    meta = json.loads((out / "text@tiny+mini.json").read_text())
    assert meta["rule"] == "cheapest" and set(meta["models"]) == {"tiny", "mini"} and 0 <= meta["threshold"] <= 1
    cost = {f"{o['level']}@{o['model']}": o["cost"] for o in meta["options"]}
    assert cost["think@mini"] < cost["think@tiny"] and cost["nothink@mini"] < cost["nothink@tiny"]
    assert len(meta["calib_probs"]) == 12 and all(len(row) == 6 for row in meta["calib_probs"])
    rel = record["routers"]["text"]["reliability"]
    assert set(rel) == set(record["levels"]) and all(0 <= v["brier"] <= 1 and 0 <= v["ece"] <= 1 for v in rel.values())
    curves = record["routers"]["text"]["curves"]["all"]
    # the per-query oracle is at least as accurate as any option alone, and never dearer than the most accurate
    item_correct = [it["correct"] for it in record["items"]]
    best = max(sum(c[j] for c in item_correct) for j in range(6)) / 12
    assert curves["oracle"]["accuracy"] >= best and abs(sum(curves["chosen"]["shares"].values()) - 1) < 1e-3


def test_route_between_models_takes_the_cheapest_option_that_clears_and_says_why(between, pair):
    out, _ = between
    reqs = [Request.of(p, sampling=Sampling(max_tokens=300)) for p in (EASY, HARD)]
    spec = f"route:models=tiny;mini,dir={out},router=text"
    cheapest = Gate(pair, spec + ",threshold=0").run_batch(reqs)
    for res in cheapest:  # every P clears 0: the cheapest option, not thinking on the small model
        route = res.trace[0].detail
        assert route["option"] == "nothink@mini" and route["model"] == "mini" and route["fallback"] is False
        assert res.model == "mini" and set(res.usage.by_model) == {"mini"} and res.mode == "nothink"
        assert list(route["probs"])[0] == "nothink@mini" and route["threshold"] == 0
    fallback = Gate(pair, spec + ",threshold=1.5").run_batch(reqs)
    for res in fallback:  # none clears: the likeliest option, said so
        route = res.trace[0].detail
        assert route["fallback"] is True and route["score"] == max(route["probs"].values())
        assert res.model == route["model"] and route["option"].endswith("@" + route["model"])
    # the calibrated threshold, and a think rate turned into one on the calibration split
    router = Router.load(out, "text", models=["tiny", "mini"])
    assert Gate(pair, spec).run(reqs[0]).trace[0].detail["threshold"] == round(router.meta.threshold, 4)
    order, options = cost_order(router.meta.options), router.meta.options

    def rate(t):
        picks = [pick_option(row, order, t)[0] for row in router.meta.calib_probs]
        return sum(options[j].mode == "think" for j in picks) / len(picks)

    reachable = [rate(t) for t, _ in threshold_sweep(router.meta.calib_probs, order)]
    assert rate(router.threshold_for_rate(1.0)) == max(reachable) and rate(router.threshold_for_rate(0.0)) == min(reachable)


def test_a_router_between_models_is_refused_with_other_models(between, pair, mini_backend, tmp_path):
    out, _ = between
    with pytest.raises(RouterError, match="route:models=tiny;mini"):
        Gate(pair, f"route:dir={out},router=text").prepare()  # a router between models, used for one
    with pytest.raises(ValueError, match="no model is named 'other'"):
        Gate(pair, f"route:models=tiny;other,dir={out},router=text").prepare()
    with pytest.raises(RouterError, match="no text router between tiny, mini, tiny2"):
        Gate(Roster([*pair.members, Member(name="tiny2", _backend=pair.primary.backend)]),
             f"route:models=all,dir={out},router=text").prepare()
    # mini retrained: the router is stale for it
    from safetensors.torch import load_file, save_file
    from thinkgate.roster import load_backend

    retrained = tmp_path / "mini2"
    shutil.copytree(mini_backend.model_id, retrained)
    weights = load_file(str(retrained / "model.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 0.01
    save_file(weights, str(retrained / "model.safetensors"), metadata={"format": "pt"})
    other = Roster([pair.primary, Roster.of(load_backend(str(retrained)), name="mini").primary])
    with pytest.raises(RouterError, match="stale: model 'mini'"):
        Gate(other, f"route:models=tiny;mini,dir={out},router=text").prepare()
    with pytest.raises(ValueError, match="name two models or more"):
        parse_strategy("route:models=tiny")


def test_the_threshold_objectives_between_options():
    """Three options by cost: a (cheap; right on the over items 0-3), b (right there and on under items 8-9), c
    (dear, right everywhere). P(correct) ranks under items 4-7 as needing c and 8-9 as needing b."""
    options = [RouterOption(model="s", level="nothink", cost=1.0, accuracy=0.4),
               RouterOption(model="s", level="think", cost=5.0, accuracy=0.6),
               RouterOption(model="l", level="think", cost=20.0, accuracy=1.0)]
    names = ["nothink@s", "think@s", "think@l"]
    suites = ["over"] * 4 + ["under"] * 6
    correct = [[True, True, True]] * 4 + [[False, False, True]] * 4 + [[False, True, True]] * 2
    tokens = [[0, 50, 50]] * 10
    cost = [[1.0, 5.0, 20.0]] * 10
    probs = [[0.9, 0.9, 0.95]] * 4 + [[0.1, 0.2, 0.9]] * 4 + [[0.2, 0.8, 0.9]] * 2

    class Res:  # the calibration outcomes option_threshold reads
        item_suites, levels, budgets = suites, names, []

    Res.correct, Res.tokens, Res.cost = correct, tokens, cost
    order = cost_order(options)
    t, rule = option_threshold(CalibConfig(max_drop=0.0), Res, probs, options)
    picks = [pick_option(p, order, t)[0] for p in probs]
    assert picks == [0] * 4 + [2] * 4 + [1] * 2 and "least cost" in rule  # every suite at its best, cheapest
    rate_t, _ = option_threshold(CalibConfig(target_think_rate=1.0), Res, probs, options)
    assert all(pick_option(p, order, rate_t)[0] > 0 for p in probs)
    low = cheapest_threshold_for_rate(probs, options, 0.6)  # 6 of 10 items think: exactly the max_drop routing
    assert [pick_option(p, order, low)[0] for p in probs] == picks
    # APGR on cost, by hand: weak a (cost 1, accuracy 0.4), strong c (20, 1.0); the routing costs 9.4, x = 8.4/19
    figures = cost_apgr(suites, correct, tokens, cost, [(t, picks)], names, [False, True, True])
    assert figures["weak"] == "nothink@s" and figures["strong"] == "think@l"
    assert figures["apgr"] == round(56 / 101, 4) and figures["cost_50"] == 0.45
    # the oracle upgrades items 8-9 to b first (4 more each), then 4-7 to c (19 more each)
    assert figures["oracle_cost_50"] == 0.15 and figures["oracle_cost_80"] == 0.35
    assert figures["oracle"]["accuracy"] == 1.0 and figures["oracle"]["shares"] == {"nothink@s": 0.4, "think@s": 0.2,
                                                                                  "think@l": 0.4}


def test_an_at_sign_in_a_parameter_is_written_escaped():
    s = parse_strategy("route:dir=/tmp/r\\@v2")
    assert s.name == "route" and s.params.dir == "/tmp/r@v2" and parse_strategy(s.spec).params == s.params
    assert parse_strategy("route:dir=/a@b/c").params.dir == "/a@b/c"  # what follows names no model
    on = parse_strategy("route:dir=/tmp/r@v2")  # unescaped: a strategy on the model v2, and the error says so
    assert on.spec.endswith("@v2")
    trailing = OnModel(parse_strategy("route:dir=/tmp/r\\\\"), "mini")  # a value that ends in a backslash
    back = parse_strategy(trailing.spec)
    assert back.spec == trailing.spec and back.model == "mini" and back.strategy.params.dir == "/tmp/r\\\\"
    with pytest.raises(ValueError, match=r"no model is named 'v2'.*written \\@"):
        on.resolve(Roster([Member(name="tiny")]))


def test_bench_routes_between_models_against_the_pairs_oracle(between, tmp_path):
    out, _ = between
    path = tmp_path / "b.json"
    r = CliRunner().invoke(cli, ["bench", "--strategies", f"route:models=tiny;mini,dir={out},router=text,oracle",
                                 "--suites", "over,under", "--limit", "4", "--max-tokens", "300",
                                 "--cache", str(tmp_path / "c.jsonl"), "--json", str(path)])
    assert r.exit_code == 0, r.output
    data = json.loads(path.read_text())
    strategies = {x["strategy"] for x in data["results"]}
    # oracle adds think and nothink, and every option of the router on the other model
    assert {"think", "nothink", "think@mini", "nothink@mini", "budget:max=16", "budget:max=16@mini", "oracle"} <= strategies
    routed = [x for x in data["rows"] if x["strategy"].startswith("route")]
    assert all(x["option"] and x["model"] == x["option"].rpartition("@")[2] and x["threshold"] is not None
               and len(x["probs"]) == 6 for x in routed)
    oracle = [x for x in data["rows"] if x["strategy"] == "oracle"]
    assert {x["model"] for x in oracle} <= {"tiny", "mini"} and len(oracle) == 8
    figures = {x["set"]: x for x in data["routing_models"]}
    assert set(figures) >= {"all", "over", "under"} and figures["all"]["oracle_accuracy"] >= figures["all"]["accuracy"]
    assert abs(sum(figures["all"]["shares"].values()) - 1) < 1e-3
    assert "share of queries each option took" in r.output
    calibration = {c["set"]: c for c in data["calibration"]}  # the chosen option's P(correct), held out
    assert calibration["all"]["n"] == 8 and 0 <= calibration["all"]["ece"] <= 1 and 0 <= calibration["all"]["brier"] <= 1
    assert sum(b["n"] for b in calibration["all"]["bins"]) == 8


def test_reliability_figures_by_hand():
    from thinkgate.scoring.calibration import auroc, reliability

    r = reliability([0.9, 0.9, 0.1, 0.1], [True, False, False, False])
    # Brier (0.01 + 0.81 + 0.01 + 0.01) / 4; ECE: half the items at 0.9 right half the time, half at 0.1 never
    assert r["brier"] == 0.21 and r["ece"] == 0.25 and [b["n"] for b in r["bins"]] == [2, 2]
    assert r["auroc"] == round(2.5 / 3, 4)  # the right item ties one wrong one and beats two
    assert auroc([0.2, 0.8], [False, True]) == 1.0 and auroc([0.5, 0.5], [True, True]) is None
    assert reliability([1.0], [True])["bins"][0]["hi"] == 1.0  # p = 1 falls in the last bin


def test_the_shipped_pair_router_serves_through_the_openai_client():
    """The embedded pair's router (`tiny/router/*@tiny+mini`) is current for the shipped models, and a
    request that names `route:models=tiny;mini` says which model and option answered, and why."""
    import openai
    from _serving import serve

    server = serve("--max-queue", "4").wait()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0)
        for q in (EASY, HARD):
            r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": q}], max_tokens=300,
                                               extra_body={"thinking": {"strategy": "route:models=tiny;mini"}})
            tg = r.model_extra["thinkgate"]
            assert r.choices[0].message.content and tg["answered_by"] in ("tiny", "mini")
            assert tg["route_option"].endswith("@" + tg["answered_by"]) and isinstance(tg["router_threshold"], float)
            assert isinstance(tg["router_score"], float) and tg["route_fallback"] in (True, False)
            assert set(tg["tokens_by_model"]) == {tg["answered_by"]} and tg["cost_gflop"] > 0
    finally:
        server.stop()


def test_calibrate_takes_several_models_on_the_command_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["calibrate", "--model", "tiny", "--model", "mini", "--rule", "nothink", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--rule is for a router on one model" in r.output
    r = runner.invoke(cli, ["calibrate", "--model", "tiny", "--model", "mini", "--limit", "2", "--budgets", "",
                            "--routers", "text", "--max-tokens", "200", "--out", str(tmp_path),
                            "--cache", str(tmp_path / "c.jsonl")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "text@tiny+mini.json").exists() and "oracle's share" in r.output
