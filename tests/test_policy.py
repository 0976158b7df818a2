"""The thinking policy as a table, without a model or a server: (the strategy a request was sent to, named or a
default; its thinking controls) -> the strategy that serves it, or a conflict naming the field."""

import pytest

from thinkgate.errors import PolicyConflict
from thinkgate.formats import get_format
from thinkgate.gate import resolve_model
from thinkgate.policy import plan
from thinkgate.strategies import parse_strategy
from thinkgate.types import EFFORT_BUDGETS, ThinkingSpec


@pytest.fixture(scope="module")
def fmt():
    from transformers import AutoTokenizer

    return get_format(None, AutoTokenizer.from_pretrained(str(resolve_model("tiny"))))


LOW = EFFORT_BUDGETS["low"]
TABLE = [
    # strategy, named, thinking controls, -> served by (spec) or the conflicting field
    ("think", True, {}, "think"),
    ("early_exit", True, {}, "early_exit"),
    ("think", True, {"mode": "nothink"}, "nothink"),  # think is served by nothink when thinking is off...
    ("parallel:n=3", True, {"mode": "nothink"}, "parallel:n=3"),  # ...a strategy that never thinks as it is
    ("nothinking", True, {"mode": "nothink"}, "nothinking"),
    ("early_exit", True, {"mode": "nothink"}, "!thinking.mode"),  # named and thinking: a conflict
    ("early_exit", False, {"mode": "nothink"}, "nothink"),  # a default gives way
    ("think", True, {"budget": 64}, "budget:max=64"),
    ("think", True, {"effort": "low"}, f"budget:max={LOW}"),
    ("think", True, {"effort": "high"}, "think"),  # high: no cap
    ("think", True, {"min_budget": 16}, "budget:min=16"),
    ("think", True, {"budget": 64, "min_budget": 16}, "budget:max=64,min=16"),
    ("budget:max=32", True, {"budget": 64}, "budget:max=32"),  # the tighter of the two
    ("budget:max=128,min=8", True, {"budget": 64, "min_budget": 16}, "budget:max=64,min=16"),
    ("budget:max=32", True, {"min_budget": 64}, "!thinking.min_budget"),  # they cannot both hold
    ("budget", True, {"effort": "minimal"}, f"budget:max={EFFORT_BUDGETS['minimal']}"),
    ("route", True, {"budget": 64}, "route:then=budget;max=64"),  # the router decides; thinking is capped
    ("route:then=budget;max=32", True, {"budget": 64}, "route:then=budget;max=32"),  # the tighter cap stays
    ("route:then=think", True, {"effort": "low"}, f"route:then=budget;max={LOW}"),
    ("route:then=early_exit", True, {"budget": 64}, "!thinking.budget"),
    ("early_exit", True, {"budget": 64}, "!thinking.budget"),  # the issue's case: never a silent override
    ("early_exit", True, {"effort": "low"}, "!thinking.effort"),
    ("thinkless", True, {"min_budget": 8}, "!thinking.min_budget"),
    ("self", True, {"budget": 8}, "!thinking.budget"),
    ("early_exit", False, {"budget": 64}, "budget:max=64"),  # a default gives way to the request's own cap
    ("dont_overthink", False, {"effort": "low"}, f"budget:max={LOW}"),
    ("nothink", True, {"budget": 64}, "nothink"),  # nothing to cap
    ("parallel:n=2", True, {"min_budget": 8}, "!thinking.min_budget"),  # cannot think at least 8 tokens
]


@pytest.mark.parametrize("strategy,named,controls,served", TABLE)
def test_the_thinking_policy(fmt, strategy, named, controls, served):
    spec = ThinkingSpec(**controls)
    if served.startswith("!"):
        with pytest.raises(PolicyConflict) as e:
            plan(parse_strategy(strategy), spec, fmt, named=named)
        assert e.value.param == served[1:] and parse_strategy(strategy).spec in str(e.value)
        return
    p = plan(parse_strategy(strategy), spec, fmt, named=named)
    assert p.strategy.spec == served, p.why
    assert p.why  # it says how it got there


def test_an_effort_on_the_familys_own_levels_is_no_cap(corpus_tokenizer):
    """gpt-oss has reasoning_effort levels in its template: the level goes there; no strategy changes."""
    gpt = get_format(None, corpus_tokenizer("openai-gpt-oss-120b"))
    p = plan(parse_strategy("early_exit"), ThinkingSpec(effort="low"), gpt)
    assert p.strategy.spec == "early_exit" and p.cap is None


def test_the_cli_names_its_own_option_in_a_conflict():
    from typer.testing import CliRunner

    from thinkgate.cli import app

    res = CliRunner().invoke(app, ["ask", "What is 2+2?", "--strategy", "early_exit", "--budget", "8"])
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and "early_exit" in text and "(--budget)" in text, res.output
    res = CliRunner().invoke(app, ["ask", "What is 2+2?", "--budget", "8", "--max-tokens", "64", "--json"])
    assert res.exit_code == 0 and '"strategy": "budget:max=8"' in res.output  # no --strategy: think, capped
