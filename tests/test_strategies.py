"""Every strategy on the shipped model, through the same Gate the CLI, bench and server use."""

import pytest

from thinkgate.backends.base import LOGPROBS, MissingCapability
from thinkgate.backends.hf import HFBackend
from thinkgate.gate import Gate
from thinkgate.strategies import parse_strategy
from thinkgate.strategies.parallel import normalize
from thinkgate.tasks import get_task, load_split
from thinkgate.types import Request, Sampling

ADD = "What is 48213+3977?"  # a long thought (about 200 tokens)
EASY = "Which is larger, 37 or 52?"


def run(backend, spec, prompts, **sampling):
    gate = Gate(backend, spec)
    return gate.run_batch([Request.of(p, sampling=Sampling(max_tokens=400, **sampling)) for p in prompts])


def test_parse_strategy_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        parse_strategy("nope")
    with pytest.raises(ValueError, match="maxx"):
        parse_strategy("budget:maxx=3")
    with pytest.raises(ValueError, match="min .* above max"):
        parse_strategy("budget:max=4,min=9")
    with pytest.raises(ValueError, match="not key=value"):
        parse_strategy("budget:64")
    assert parse_strategy("budget:min=16,max=64").spec == "budget:max=64,min=16"


def test_budget_max_caps_thinking_and_still_answers(backend):
    think = run(backend, "think", [ADD])[0]
    capped = run(backend, "budget:max=40", [ADD])[0]
    assert think.usage.reasoning_tokens > 40
    assert capped.usage.reasoning_tokens == 40
    assert [e.kind for e in capped.trace][:2] == ["think", "budget_stop"]
    assert capped.closed and capped.answer
    assert "Considering the limited time" in capped.reasoning


def test_budget_min_extends_with_wait(backend):
    base = run(backend, "think", [EASY])[0]
    floor = base.usage.reasoning_tokens + 30
    res = run(backend, f"budget:min={floor}", [EASY])[0]
    kinds = [e.kind for e in res.trace]
    assert "extend" in kinds
    assert res.usage.reasoning_tokens >= floor or kinds.count("extend") == 4
    assert "Wait" in res.reasoning[len(base.reasoning) - 5:]


def test_budget_without_limits_matches_think(backend):
    a = run(backend, "think", [EASY, ADD])
    b = run(backend, "budget", [EASY, ADD])
    assert [r.answer for r in a] == [r.answer for r in b]
    assert [r.usage.reasoning_tokens for r in a] == [r.usage.reasoning_tokens for r in b]


def test_nothinking_prefill_is_not_counted_as_thinking(backend):
    res = run(backend, "nothinking", [EASY])[0]
    assert res.usage.reasoning_tokens == 0 and res.closed
    assert res.reasoning == "Okay, I think I have finished thinking."


def test_early_exit_probes_and_exits_only_when_confident(backend):
    res = run(backend, "early_exit", [EASY])[0]
    probes = [e for e in res.trace if e.kind == "probe"]
    assert probes, "the thought has a 'Wait' where the strategy must probe"
    exits = [e for e in res.trace if e.kind == "exit"]
    for e in exits:
        assert e.detail["confidence"] >= 0.95
    assert all(p.detail["confidence"] < 0.95 for p in probes[: len(probes) - len(exits)])
    think = run(backend, "think", [EASY])[0]
    if exits:
        assert res.usage.reasoning_tokens < think.usage.reasoning_tokens
    # a threshold no probe reaches leaves the thought as the model wrote it
    never = run(backend, "early_exit:threshold=1.0", [EASY])[0]
    assert never.answer == think.answer and never.usage.reasoning_tokens == think.usage.reasoning_tokens


def test_early_exit_needs_logprobs(model_dir):
    class NoLogprobs(HFBackend):
        capabilities = HFBackend.capabilities - {LOGPROBS}

    with pytest.raises(MissingCapability, match="logprobs"):
        Gate(NoLogprobs(model_dir), "early_exit").run(Request.of(EASY))


def test_thinkless_ends_the_thought_at_its_insertion_point(backend):
    res = run(backend, "thinkless:at=12", [ADD])[0]
    assert res.usage.reasoning_tokens == 12 and res.closed and res.answer
    assert "Now I will give the final answer directly." in res.reasoning


def test_parallel_votes_over_n_samples(backend):
    res = run(backend, "parallel:n=6", [EASY, "What is 3+4?"], seed=3)
    for r in res:
        samples, vote = r.trace[0].detail, r.trace[1].detail
        assert samples["n"] == 6 and len(samples["answers"]) == 6
        assert vote["method"] == "borda"
        assert r.answer.strip() == vote["winner"] or r.answer.strip().rstrip(".") == vote["winner"]
        assert r.usage.reasoning_tokens == 0
    maj = run(backend, "parallel:n=5,vote=majority", ["What is 3+4?"], seed=1)[0]
    votes = maj.trace[1].detail["votes"]
    assert sum(votes.values()) == pytest.approx(5) and maj.trace[1].detail["winner"] == max(votes, key=votes.get)


def test_parallel_with_thinking_votes_on_the_answers_after_each_thought(backend):
    """Self-consistency: n thinking traces, the vote on their answers; the thinking of every trace is counted."""
    res = run(backend, "parallel:mode=think,n=4,temperature=1.5", [ADD], seed=2)[0]
    samples, vote = res.trace[0].detail, res.trace[1].detail
    assert res.mode == "think" and res.closed and res.reasoning and len(samples["thinking_tokens"]) == 4
    assert res.usage.reasoning_tokens == sum(samples["thinking_tokens"]) and min(samples["thinking_tokens"]) > 20
    assert res.usage.completion_tokens > res.usage.reasoning_tokens + res.usage.answer_tokens  # all four were written
    assert normalize(res.answer) == vote["winner"] and "<think>" not in "".join(samples["answers"])
    one = run(backend, "think", [ADD])[0]
    assert res.usage.reasoning_tokens > 3 * one.usage.reasoning_tokens
    assert parse_strategy("parallel:mode=think").thinks and not parse_strategy("parallel").thinks
    assert parse_strategy("parallel:mode=think,n=3").without_thinking().spec == "parallel:n=3"
    # a sample cut off inside its thought has no answer, and does not vote
    cut = Gate(backend, "parallel:mode=think,n=4,temperature=1.5").run(
        Request.of(ADD, sampling=Sampling(max_tokens=235, seed=2)))
    samples = cut.trace[0].detail
    assert "" in samples["answers"] and samples["voted"] == sum(bool(a) for a in samples["answers"]) < 4
    assert cut.answer and cut.closed


def test_parallel_verifier_selection_prefers_an_accepted_sample(backend):
    """The most certain sample the verifier accepts is the answer, whatever the vote says; when it accepts
    none, the vote decides; a request without a verifier is refused by name."""
    from thinkgate.verify import regex_verifier

    gate = Gate(backend, "parallel:n=8,select=verifier")
    prompt = "What is 4821*7?"
    base = Request.of(prompt, sampling=Sampling(max_tokens=60, seed=4))
    voted = Gate(backend, "parallel:n=8").run(base)
    answers = voted.trace[0].detail["answers"]
    certainty = voted.trace[0].detail["certainty"]
    losers = [a for a in answers if a.strip().rstrip(".") != voted.trace[1].detail["winner"]]
    assert losers, "the samples at T=0.7 should disagree on this item"
    target = max(losers, key=lambda a: certainty[answers.index(a)])  # the most certain losing answer
    res = gate.run(base.model_copy(update={"verifier": lambda a: a.strip() == target.strip()}))
    verify = res.trace[-1]
    assert verify.kind == "verify" and verify.detail["chosen"] is not None
    assert verify.detail["accepted"] == [a.strip() == target.strip() for a in answers]
    assert res.answer.strip() == target.strip() and res.answer.strip() != voted.answer.strip()
    none = gate.run(base.model_copy(update={"verifier": regex_verifier("no answer looks like this")}))
    assert none.trace[-1].detail == {"accepted": [False] * 8, "chosen": None, "fallback": "vote"}
    assert none.answer == voted.answer
    with pytest.raises(ValueError, match="select=verifier needs a verifier"):
        gate.run(base)


def test_regex_verifier_matches_the_whole_answer():
    from thinkgate.verify import regex_verifier

    integer = regex_verifier(r"-?\d+")
    assert integer(" 42 ") and integer("-7") and not integer("42 apples") and not integer("")
    with pytest.raises(ValueError, match="not a regular expression"):
        regex_verifier("(")


def test_dont_overthink_adds_the_instruction(backend):
    plain = run(backend, "think", [EASY])[0]
    told = run(backend, "dont_overthink", [EASY])[0]
    assert told.usage.prompt_tokens > plain.usage.prompt_tokens


@pytest.mark.parametrize("spec", ["think", "nothink", "budget:max=64", "early_exit", "thinkless", "nothinking"])
def test_strategies_answer_a_simple_item(backend, spec):
    item = [i for i in load_split("over") if i.family == "successor"][0]
    res = run(backend, spec, [item.prompt])[0]
    assert res.finish_reason == "stop" and res.answer
    if spec in ("think", "nothink"):
        assert get_task(item.family).verify(item, res.answer), res.answer


def test_split_specs_keeps_parameters_with_their_strategy():
    from thinkgate.strategies import split_specs

    assert split_specs("think,budget:max=64,min=16,nothink,parallel:n=8,temperature=0.7,oracle") == [
        "think", "budget:max=64,min=16", "nothink", "parallel:n=8,temperature=0.7", "oracle"]


# the registry's strategies, each with parameters that make it do its work on the shipped model (a strategy
# added to the registry is in this test with its defaults until it is given some here)
CONTRACT_SPECS = {"budget": ["budget:max=24", "budget:min=40"], "parallel": ["parallel:n=2", "parallel:mode=think,n=2"],
                  "thinkless": ["thinkless:at=20"], "cascade": ["cascade", "cascade:signal=mean,then=budget;max=24"],
                  "deepconf": ["deepconf:n=4,warmup=2,eta=50,window=8", "deepconf:mode=offline,n=3"]}


def contract_specs() -> list[str]:
    from thinkgate.strategies import STRATEGIES

    return [spec for name in STRATEGIES for spec in CONTRACT_SPECS.get(name, [name])]


@pytest.mark.parametrize("spec", contract_specs())
def test_a_batch_gives_each_request_what_it_gets_alone(backend, mini_backend, spec):
    """The batch contract (`Gate.run_batch`), for every registered strategy: requests with different
    `max_tokens` and sampling settings in one batch, and requests that share them but think for different
    lengths (so their answers have different room), are served as if each ran alone. A strategy of two models
    runs on the embedded pair."""
    from thinkgate.roster import Roster

    pair = Roster([Roster.of(backend, name="tiny").primary, Roster.of(mini_backend, name="mini").primary])
    gate = Gate(pair if parse_strategy(spec).ROLES else backend, spec)
    requests = [Request.of(EASY, sampling=Sampling(max_tokens=64)),
                Request.of(ADD, sampling=Sampling(max_tokens=64)),
                # the first thinks to 141 tokens, leaving its answer 1 token of room; the second closes its
                # thought early, leaving much more
                Request.of("What is 317+45?", sampling=Sampling(max_tokens=142)),
                Request.of("What is 52+38?", sampling=Sampling(max_tokens=142)),
                Request.of("What is 317+45?", sampling=Sampling(max_tokens=56, temperature=0.8, seed=1)),
                Request.of(EASY, sampling=Sampling(max_tokens=48, temperature=0.8, seed=2))]
    batch = gate.run_batch(requests)
    alone = [gate.run(r) for r in requests]
    for b, a in zip(batch, alone):
        assert (b.reasoning, b.answer, b.usage, b.finish_reason) == (a.reasoning, a.answer, a.usage, a.finish_reason)
