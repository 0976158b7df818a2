"""The thinking policy as a table, without a model or a server: (the strategy a request was sent to, named or a
default; its thinking controls) -> the strategy that serves it, or a conflict naming the field."""

import pytest

from thinkgate import policy
from thinkgate.errors import PolicyConflict
from thinkgate.formats import get_format
from thinkgate.roster import resolve_model
from thinkgate.policy import plan
from thinkgate.strategies import ALIASES, STRATEGIES, Strategy, parse_strategy
from thinkgate.strategies.base import Limited, LimitsConflict, Params
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
    ("route", True, {"min_budget": 8}, "!thinking.min_budget"),  # a router's choice takes no floor
    # route caps the thinking it routes to as its `then` takes the cap, keeping what else `then` sets
    ("route:then=budget;min=8", True, {"budget": 64}, "route:then=budget;max=64;min=8"),
    ("route:then=budget;max=32;wait=Hmm", True, {"budget": 64}, "route:then=budget;max=32;wait=Hmm"),
    ("route:then=budget;min=100", True, {"budget": 64}, "!thinking.budget"),  # its then's floor is above the cap
    ("budget:max=8,wait=Hmm", True, {"budget": 64}, "budget:max=8,wait=Hmm"),
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


class Sketch(Strategy):
    """A strategy the policy has never heard of, registered nowhere: it thinks, at most `most` tokens of its
    own, and takes a cap (the tighter one) but no floor."""

    name = "sketch"

    class Params(Params):
        most: int | None = None

    def with_limits(self, cap, floor):
        if floor is not None:
            raise LimitsConflict(f"strategy {self.spec!r} has no floor")
        most = cap if self.params.most is None else min(cap, self.params.most)
        return Limited(Sketch(most=most), f"a sketch of at most {most}")


class Silent(Strategy):
    """Registered nowhere either: its output has no thought."""

    name = "silent"
    thinks = False


class Plain(Strategy):
    """Registered nowhere, declaring nothing: it thinks and has no thinking limit of its own."""

    name = "plain"


def test_a_new_strategy_is_planned_from_its_own_declarations(fmt):
    assert not {"sketch", "silent", "plain"} & (set(STRATEGIES) | set(ALIASES))

    def served(strategy, named=True, **controls):
        return plan(strategy, ThinkingSpec(**controls), fmt, named=named)

    def conflict(strategy, named=True, **controls):
        with pytest.raises(PolicyConflict) as e:
            served(strategy, named, **controls)
        assert strategy.spec in str(e.value)
        return e.value.param

    p = served(Sketch(most=32), budget=64)  # composed by its own with_limits, the tighter cap
    assert (p.strategy.spec, p.cap, p.cap_from) == ("sketch:most=32", 64, "budget")
    assert p.why == "a sketch of at most 32 (thinking.budget)"
    p = served(Sketch(), effort="low")
    assert (p.strategy.spec, p.cap_from) == (f"sketch:most={LOW}", "effort")
    assert p.why == f"a sketch of at most {LOW} (thinking.effort)"
    assert served(Sketch(), budget=16).strategy.spec == "sketch:most=16"
    assert conflict(Sketch(), min_budget=8) == "thinking.min_budget"  # its own conflict, the request's field
    assert conflict(Sketch(), mode="nothink") == "thinking.mode"  # it thinks, and has no way to stop
    assert served(Sketch(), named=False, mode="nothink").strategy.spec == "nothink"
    assert served(Sketch(most=8)).strategy.spec == "sketch:most=8"  # no controls: as it is

    assert served(Silent(), mode="nothink").strategy.spec == "silent"  # thinking off is what it does
    p = served(Silent(), budget=64)
    assert (p.strategy.spec, p.cap) == ("silent", 64)  # the cap holds
    assert conflict(Silent(), min_budget=8) == "thinking.min_budget"

    assert conflict(Plain(), budget=64) == "thinking.budget"
    assert conflict(Plain(), mode="nothink") == "thinking.mode"
    assert served(Plain(), named=False, budget=64, min_budget=8).strategy.spec == "budget:max=64,min=8"
    assert served(Plain(), named=False, mode="nothink").strategy.spec == "nothink"


def test_route_caps_the_thinking_it_routes_to_through_its_thens_own_declaration(fmt, monkeypatch):
    """Strategies registered only for the test, as route's `then`: route takes a cap as its `then` does."""
    monkeypatch.setitem(STRATEGIES, "sketch", Sketch)
    monkeypatch.setitem(STRATEGIES, "plain", Plain)
    p = plan(parse_strategy("route:then=sketch;most=32"), ThinkingSpec(budget=16), fmt)
    assert p.strategy.spec == "route:then=sketch;most=16" and "router" in p.why
    with pytest.raises(PolicyConflict) as e:  # plain has no thinking limit of its own, so neither has route
        plan(parse_strategy("route:then=plain"), ThinkingSpec(budget=16), fmt)
    assert e.value.param == "thinking.budget" and "route:then=plain" in str(e.value)


def test_the_policy_names_no_strategy():
    """policy.py holds no strategy's name and reads no strategy's parameters: each strategy declares itself
    (thinks, without_thinking, with_limits), so a new one never touches the policy. The request's own words
    that a strategy shares are not names: its mode (`spec.mode == "nothink"`) and its fields (a cap came from
    "budget"), which the policy never branches on nor builds a strategy from."""
    import ast
    from pathlib import Path

    names = set(STRATEGIES) | set(ALIASES)
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    parent = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def request_word(node):
        up = parent[node]
        if isinstance(up, ast.Compare):
            return isinstance(up.left, ast.Attribute) and up.left.attr == "mode"
        while not isinstance(up, (ast.Compare, ast.Subscript, ast.Call, ast.stmt)):
            up = parent[up]
        return node.value in ThinkingSpec.model_fields and isinstance(up, ast.stmt)

    found = [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in names
             and not request_word(n)]
    assert not found
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("params", "unlimited")]
