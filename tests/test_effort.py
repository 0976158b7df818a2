"""An effort level reaches a model the way its family understands it: its own levels where the template has
them, else a cap on thinking tokens; effort "none" is thinking off. The same in the library, the CLI and the
server."""

import json

import pytest
from typer.testing import CliRunner

from thinkgate.cli import app
from thinkgate.gate import Gate
from thinkgate.types import EFFORT_BUDGETS, Request, Sampling, ThinkingSpec


def test_effort_none_is_thinking_off_and_a_contradiction_is_refused():
    assert ThinkingSpec(effort="none").mode == "nothink"
    with pytest.raises(ValueError, match="effort 'none' is thinking off"):
        ThinkingSpec(mode="think", effort="none")
    with pytest.raises(ValueError, match="asks for thinking"):
        ThinkingSpec(mode="nothink", effort="low")
    assert ThinkingSpec(effort="low", budget=7).effort_budget() == 7
    assert ThinkingSpec(effort="high").effort_budget() is None


def test_an_effort_is_a_cap_where_the_family_has_no_levels(backend):
    gate = Gate(backend, "think")
    assert not gate.format.native_effort("low")
    req = Request.of("What is 5+8?", sampling=Sampling(max_tokens=400))
    low = req.model_copy(update={"thinking": ThinkingSpec(effort="minimal")})
    assert gate.strategy_for(low).spec == f"budget:max={EFFORT_BUDGETS['minimal']}"
    result = gate.run(low)
    assert result.strategy == "budget:max=32" and result.usage.reasoning_tokens <= 32
    assert gate.strategy_for(req.model_copy(update={"thinking": ThinkingSpec(effort="high")})).spec == "think"


def test_an_effort_is_the_familys_own_level_where_it_has_them(corpus_tokenizer):
    """gpt-oss: the template's reasoning_effort, no cap of thinkgate's."""
    from thinkgate.formats import get_format

    fmt = get_format(None, corpus_tokenizer("openai-gpt-oss-120b"))

    class _NoModel:  # the gate's choice needs no model; nothing is generated here
        tokenizer = fmt.tokenizer

    gate = Gate(_NoModel(), "early_exit", fmt)
    req = Request.of("2+2?").model_copy(update={"thinking": ThinkingSpec(effort="low")})
    assert gate.plan(req).cap is None and gate.strategy_for(req).name == "early_exit"
    assert "Reasoning: low" in fmt.render(req.messages, "think", req.thinking)


def test_the_cli_takes_an_effort():
    runner = CliRunner()
    res = runner.invoke(app, ["ask", "What is 5+8?", "--effort", "minimal", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["strategy"] == "budget:max=32" and data["usage"]["reasoning_tokens"] <= 32
    res = runner.invoke(app, ["ask", "What is 5+8?", "--effort", "none", "--json"])
    assert json.loads(res.output)["mode"] == "nothink"
    res = runner.invoke(app, ["ask", "hi", "--effort", "lots"])
    assert res.exit_code == 2 and "--effort" in res.output
    res = runner.invoke(app, ["ask", "hi", "--effort", "none", "--mode", "auto"])
    assert res.exit_code == 2 and "effort 'none' is thinking off" in res.output


def test_thinking_tokens_are_counted_from_ids_where_the_markup_is_special_tokens(tokenizer, corpus_tokenizer):
    """The embedded tokenizer writes <think> and </think> as special tokens: the generated ids are counted
    as they are, before the closing id; a family whose markup is ordinary text says None (its thought's
    text is counted)."""
    from thinkgate.formats import get_format

    fmt = get_format(None, tokenizer)
    ids = tokenizer.encode("12+1=13\n</think>\n\n13", add_special_tokens=False)
    close = ids.index(tokenizer.convert_tokens_to_ids("</think>"))
    assert fmt.thought_tokens(ids, opened=True) == close
    assert fmt.thought_tokens(ids[:close], opened=True) == close  # cut by max_tokens: all of it
    assert fmt.thought_tokens(tokenizer.encode("13", add_special_tokens=False), opened=False) == 0
    wrote = tokenizer.encode("<think>\nab</think>\n\n13", add_special_tokens=False)
    assert fmt.thought_tokens(wrote, opened=False) == len(tokenizer.encode("\nab", add_special_tokens=False))
    assert fmt.thought_tokens(None, opened=True) is None
    seed = get_format(None, corpus_tokenizer("ByteDance-Seed-OSS"))  # <seed:think> is text in this vocabulary
    assert seed.thought_tokens(ids, opened=True) is None


def test_thinking_tokens_from_a_written_count_match_the_count_from_ids(backend, tokenizer, corpus_tokenizer):
    """An engine says how many tokens it wrote, not which: the thought is what it wrote less the markup and the
    text around the thought, which matches the count from the ids, on written texts and on the embedded
    model's own generations."""
    from thinkgate.backends.base import GenParams
    from thinkgate.formats import get_format
    from thinkgate.types import Message

    fmt, count = get_format(None, tokenizer), backend.count_tokens_many
    for text, opened in (("12+1=13\n</think>\n\n13", True), ("12+1=13", True), ("13", False),
                         ("<think>\nab</think>\n\n13", False), ("ok <think>\nab", False)):
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert fmt.thought_tokens_written(text, len(ids), opened, count) == fmt.thought_tokens(ids, opened), text
    prompts = [fmt.render([Message(role="user", content=q)], "think") for q in ("What is 12+39?", "What is 7*8?")]
    gens = [g[0] for g in backend.generate(prompts, GenParams(max_tokens=300))]
    assert all("</think>" in g.text for g in gens)
    for g in gens:
        assert fmt.thought_tokens_written(g.text, g.tokens, True, count) == fmt.thought_tokens(g.token_ids, True) > 0
    seed = get_format(None, corpus_tokenizer("ByteDance-Seed-OSS"))  # <seed:think> is text: its thought is counted
    assert seed.thought_tokens_written("ab", 1, True, count) is None

