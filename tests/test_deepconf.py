"""`deepconf` (issue #37 point 3) on the shipped model: traces that stop when their confidence falls, the
warm-up threshold, consensus, the confidence-weighted vote, offline filtering."""

import pytest

from thinkgate.gate import Gate
from thinkgate.strategies.deepconf import Monitor, lowest_group, percentile, token_confidence
from thinkgate.types import Request, Sampling

ADD = "What is 48213+3977?"


def test_confidences_groups_and_percentiles_as_the_paper_defines_them():
    assert token_confidence([-0.1, -2.0, -3.0]) == pytest.approx(5.1 / 3)  # peaked: high
    assert lowest_group([3.0, 1.0, 1.0, 5.0], 2) == pytest.approx(1.0)
    assert lowest_group([3.0, 1.0], 4) == pytest.approx(2.0) and lowest_group([], 4) is None
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 10) == pytest.approx(1.4)
    m = Monitor(threshold=2.0, window=2, k=2)
    m.write("", [("a", -0.1, [("a", -0.1), ("b", -5.0)])])
    assert not m.cancelled  # fewer tokens than the window: no group yet
    m.write("", [("b", -0.5, [("b", -0.5), ("c", -1.0)]), ("c", -0.5, [("c", -0.5), ("d", -1.0)])])
    assert m.cancelled  # the last two tokens' mean confidence, 0.75, is below 2.0


def test_online_stops_sampling_at_consensus_and_counts_every_trace(backend):
    r = Gate(backend, "deepconf:n=8,warmup=2").run(Request.of(ADD, sampling=Sampling(max_tokens=400)))
    alone = Gate(backend, "think").run(Request.of(ADD, sampling=Sampling(max_tokens=400)))
    d = next(e.detail for e in r.trace if e.kind == "deepconf")
    assert r.answer == alone.answer and 0 < r.confidence <= 1
    assert d["traces"] == 2 and d["consensus"] == 1.0 and d["threshold"] is not None  # agreed after warm-up
    assert r.usage.completion_tokens > r.usage.reasoning_tokens > alone.usage.reasoning_tokens


def test_a_trace_below_the_warm_up_threshold_stops_and_does_not_vote(backend):
    # eta 10: the threshold is the warm-ups' 90th percentile; tau 1 and sampling hot keep it sampling
    spec = "deepconf:n=6,warmup=2,eta=10,window=8,tau=1,temperature=1.5"
    r = Gate(backend, spec).run(Request.of(ADD, sampling=Sampling(max_tokens=300, seed=5)))
    d = next(e.detail for e in r.trace if e.kind == "deepconf")
    assert d["traces"] == 6 and any(d["stopped"][2:]) and not any(d["stopped"][:2])
    assert d["voted"] <= 6 - sum(d["stopped"])
    # the same six traces (trace j is sampled with seed + j), none stopped
    full = Gate(backend, "deepconf:mode=offline,n=6,temperature=1.5").run(Request.of(ADD, sampling=Sampling(
        max_tokens=300, seed=5)))
    assert r.usage.completion_tokens < full.usage.completion_tokens  # stopped traces wrote less


def test_offline_samples_all_and_keeps_the_most_confident(backend):
    r = Gate(backend, "deepconf:mode=offline,n=4,eta=50").run(Request.of(ADD, sampling=Sampling(max_tokens=400)))
    d = next(e.detail for e in r.trace if e.kind == "deepconf")
    confs = sorted(c for c in d["confidence"] if c is not None)
    assert d["traces"] == 4 and not any(d["stopped"]) and d["threshold"] == pytest.approx(confs[2], abs=1e-3)
    assert d["voted"] == sum(c >= confs[2] - 1e-3 for c in confs) >= 2  # the top half, and any tied with it
