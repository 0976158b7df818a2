"""The shipped model, loaded from its folder through the transformers backend."""

import shutil

import pytest

from thinkgate.backends.base import GenParams, ModelLoadError
from thinkgate.backends.hf import HFBackend
from thinkgate.gate import Gate
from thinkgate.tasks import get_task, load_split
from thinkgate.types import Request


def pick(suite, family, difficulty, k=4):
    return [i for i in load_split(suite) if i.family == family and i.difficulty == difficulty][:k]


@pytest.fixture(scope="module")
def gates(backend):
    return {m: Gate(backend, m) for m in ("think", "nothink")}


@pytest.mark.parametrize("mode", ["think", "nothink"])
def test_answers_simple_items_in_each_mode(gates, mode):
    items = pick("over", "compare", 2) + pick("over", "successor", 1) + pick("over", "arith1", 1)
    results = gates[mode].run_batch([Request.of(i.prompt) for i in items])
    for item, res in zip(items, results):
        assert get_task(item.family).verify(item, res.answer), (mode, item.prompt, res.answer)
        assert res.closed
        assert (res.usage.reasoning_tokens > 0) == (mode == "think")
        # the counts are those of the texts themselves, after the batch's padded generate call
        tok = gates[mode].backend
        assert res.usage.answer_tokens == tok.count_tokens(res.answer) <= 3, (res.answer, res.usage)
        if mode == "think":  # the thought as written: the stripped text plus the newline before the end tag
            assert 0 <= res.usage.reasoning_tokens - tok.count_tokens(res.reasoning) <= 1, res.usage


def test_thinking_solves_reasoning_items(gates):
    # the families and levels the shipped model thinks through reliably (see its card for the rest)
    items = (pick("under", "add", 3) + pick("under", "listsum", 3) + pick("under", "chain", 1) + pick("under", "mul", 1)
             + pick("under", "count", 5))
    results = gates["think"].run_batch([Request.of(i.prompt) for i in items])
    solved = sum(get_task(i.family).verify(i, r.answer) for i, r in zip(items, results))
    assert solved >= len(items) - 1, [(i.prompt, r.answer) for i, r in zip(items, results)]


def test_mip_items_get_an_abstention(gates):
    items = pick("mip", "chain_missing", 2)
    for res in gates["think"].run_batch([Request.of(i.prompt) for i in items]):
        assert "cannot be answered" in res.answer


def test_continuation_from_raw_prefix_stop_strings_and_logprobs(backend):
    prompt = "<|im_start|>user\nWhat is 4821+397?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd 4821+397 column by column from the right.\n"
    [[gen]] = backend.generate([prompt], GenParams(max_tokens=60, stop=["\n"], logprobs=True))
    assert gen.finish_reason == "stop" and "\n" not in gen.text
    assert gen.text.startswith("4821+397: 1+7+0=8")
    assert len(gen.token_logprobs) == gen.tokens == len(gen.top_logprobs)
    assert all(lp <= 0 for lp in gen.token_logprobs)
    assert gen.self_certainty is not None and gen.self_certainty > 0
    [[short]] = backend.generate([prompt], GenParams(max_tokens=3))
    assert short.finish_reason == "length" and short.tokens == 3


def test_a_stop_string_of_several_tokens_ends_its_row_there_and_no_sooner(backend):
    prompt = "<|im_start|>user\nWhat is 4821+397?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd 4821+397 column by column from the right.\n"
    [[free]] = backend.generate([prompt], GenParams(max_tokens=40))
    stop = free.text[12:17]  # written over several tokens, after the text starts
    assert backend.count_tokens(stop) > 1 and stop not in free.text[:12]
    [[cut]] = backend.generate([prompt], GenParams(max_tokens=40, stop=[stop]))
    assert cut.finish_reason == "stop" and cut.stop == stop and cut.text == free.text[:free.text.index(stop)]
    assert cut.tokens < free.tokens and cut.token_ids == free.token_ids[:cut.tokens]  # it ended at the match
    # the criterion itself, step by step over the free run: it first says stop at the token that completes
    # the stop string (the token count `cut` reports), not before and not later
    import torch

    from thinkgate.backends.hf import _stop_strings

    head = backend.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    crit = _stop_strings(backend.tokenizer, [stop], len(head))
    says = [bool(crit(torch.tensor([head + free.token_ids[:k]]), None)[0]) for k in range(1, len(free.token_ids) + 1)]
    assert says.index(True) + 1 == cut.tokens and not any(says[:cut.tokens - 1])
    [[never]] = backend.generate([prompt], GenParams(max_tokens=40, stop=["zebra"]))
    assert never.finish_reason == free.finish_reason and never.text == free.text  # no stop: nothing cut
    other = "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    both = backend.generate([prompt, other], GenParams(max_tokens=40, stop=[stop]))
    assert [g[0].text for g in both] == [cut.text, backend.generate([other], GenParams(max_tokens=40, stop=[stop]))[0][0].text]


def test_batched_generation_matches_single(backend):
    prompts = [f"<|im_start|>user\nWhat is {a}?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
               for a in ("3+4", "What number comes after 41", "12345+6")]
    batched = [g[0].text for g in backend.generate(prompts, GenParams(max_tokens=12))]
    single = [backend.generate([p], GenParams(max_tokens=12))[0][0].text for p in prompts]
    assert batched == single


def test_count_tokens(backend):
    assert backend.count_tokens("") == 0
    assert backend.count_tokens("12345") == 5
    texts = ["", "What is 47*38?", "<think>\nWait, let me check: 4+5=9.\n</think>\n\n9", "", "a b\n\nc ~{}"]
    assert backend.count_tokens_many(texts) == [backend.count_tokens(t) for t in texts]
    assert backend.count_tokens_many([]) == []
    # a batched generate pads its prompts, which leaves padding on in the Rust tokenizer: counts stay exact
    backend.generate(["What is 2+3?", "Which is larger, 37 or 52? Think it over."], GenParams(max_tokens=2))
    assert backend.count_tokens_many(["12345", "1", "", "12"]) == [5, 1, 0, 2]
    assert backend.count_tokens_many(texts) == [backend.count_tokens(t) for t in texts]


def test_missing_and_corrupt_folders_give_clear_errors(tmp_path, model_dir):
    with pytest.raises(ModelLoadError, match="does not exist"):
        HFBackend(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        HFBackend(empty)
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json is not valid JSON"):
        HFBackend(broken)
    shutil.copy(model_dir / "config.json", broken / "config.json")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=str(broken)):
        HFBackend(broken)
    weights.unlink()
    with pytest.raises(ModelLoadError, match="no weights"):
        HFBackend(broken)


def test_cpu_backend_tunes_glibc_to_keep_freed_memory():
    """The thresholds are within what glibc accepts (mallopt returns 0 for a value it refuses)."""
    import sys

    from thinkgate.process import keep_freed_memory

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    assert keep_freed_memory() is True
