"""`thinkgate train bpo` and the `self` strategy, on the shipped model (real backend, no mocks)."""

import json

import pytest

from thinkgate.gate import Gate
from thinkgate.roster import MODELS_DIR, resolve_model
from thinkgate.types import Request, Sampling


def test_self_renders_nothing_after_the_assistant_tag(backend):
    gate = Gate(backend, "self")
    prompt = gate.format.render(Request.of("What is 3+4?").messages, "auto")
    assert prompt.endswith("<|im_start|>assistant\n")
    res = gate.run(Request.of("What is 3+4?", sampling=Sampling(max_tokens=40)))
    route, gen = res.trace[0], res.trace[1]
    assert route.kind == "route" and route.detail["decision"] in ("think", "nothink")
    assert gen.kind == "generate" and gen.detail["prefill"] == ""
    assert res.strategy == "self" and res.mode == "auto"


def test_bpo_runs_two_steps_and_changes_the_weights(tmp_path, model_dir):
    from safetensors.torch import load_file

    from thinkgate.train.bpo import BPOConfig, train

    out = tmp_path / "auto"
    record = train(BPOConfig(out=str(out), steps=2, prompts_per_step=2, group=2, max_tokens=32, lr=1e-3,
                             content_advantage="mode", warmup_steps=2, warmup_batch=2, replay_coef=1.0,
                             replay_batch=2))
    assert record["steps_done"] == 2 and len(record["history"]) == 2 and record["warmup"]
    h = record["history"][0]
    assert {"reward", "think_acc", "nothink_acc", "p_think", "loss_pg", "loss_format", "kl", "loss_replay"} <= set(h)
    assert 0 < h["loss_replay"] < 5  # the SFT model's own data: a low loss
    before, after = load_file(str(model_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert set(before) == set(after)
    assert any(not (before[k] == after[k]).all() for k in before)
    for name in ("README.md", "curves.png", "training.json", "tokenizer.json", "config.json"):
        assert (out / name).exists(), name
    assert json.loads((out / "training.json").read_text())["config"]["delta"] == 0.05
    assert "BPO" in (out / "README.md").read_text()
    # the trained folder loads and answers through the self strategy
    from thinkgate.backends.hf import HFBackend

    res = Gate(HFBackend(out), "self").run(Request.of("What is 3+4?", sampling=Sampling(max_tokens=20)))
    assert res.trace[0].kind == "route"


@pytest.mark.skipif(not (MODELS_DIR / "tiny-auto").is_dir(), reason="tiny-auto not trained in this checkout")
def test_tiny_auto_is_selectable_by_name():
    assert resolve_model("tiny-auto") == MODELS_DIR / "tiny-auto"
    assert (MODELS_DIR / "tiny-auto" / "README.md").exists()


def test_group_advantages_are_centred_and_scaled():
    from thinkgate.train.bpo import _group_advantages

    a = _group_advantages([1.05, 1.05, 1.0, 1.0], 1e-4)
    assert abs(sum(a)) < 1e-9 and a[0] > 0 > a[2] and abs(a[0] - 1) < 0.01
    assert _group_advantages([1.0, 1.0], 1e-4) == [0.0, 0.0] and _group_advantages([1.0], 1e-4) == [0.0]


@pytest.mark.parametrize("content", ["merged", "mode", "none"])
def test_bpo_token_weights_put_the_gradient_where_the_content_option_says(content):
    from thinkgate.train.bpo import BPOConfig, Rollout, token_weights

    # one prompt of 3 tokens; a thinking rollout (forced "<think>\n": 2 tokens, then 3 thought tokens) and a
    # no-thinking one (forced 4 tokens, then 1 answer token); the prefills share their first 2 tokens
    seqs = [Rollout(0, "think", [1, 2, 3], [10, 11, 20, 21, 22], 2, 1.0, True),
            Rollout(0, "nothink", [1, 2, 3], [10, 11, 12, 13, 30], 4, 0.0, False)]
    cfg = BPOConfig(content_advantage=content, mode_weight=1.0, format_coef=0.5)
    ids, mask, w_pg, w_fmt, w_kl, pos = token_weights(seqs, [1.0, -1.0], [0.7, -0.7], 2, 0, cfg)
    assert ids.tolist() == [[1, 2, 3, 10, 11, 20, 21, 22], [1, 2, 3, 10, 11, 12, 13, 30]]
    assert pos == [5, 5]
    assert w_fmt[:, 3:5].tolist() == [[0.5, 0.5], [0.5, 0.5]] and w_fmt[:, 5:].abs().sum() == 0
    # the mode tokens: the thinking rollout's first thought token; the no-thinking prefill's own tokens
    assert w_pg[0, 5].item() == 1.0 and w_pg[1, 5:7].tolist() == [-1.0, -1.0]
    thought, answer = w_pg[0, 6:], w_pg[1, 7:]
    if content == "none":
        assert thought.abs().sum() == 0 and answer.abs().sum() == 0
    else:
        assert thought.tolist() == pytest.approx([0.35, 0.35]) and answer.tolist() == pytest.approx([-0.7])
    # the KL term covers the content in every case
    assert w_kl[0, 6:].tolist() == pytest.approx([0.5, 0.5]) and w_kl[1, 7:].tolist() == pytest.approx([1.0])


@pytest.mark.skipif(not (MODELS_DIR / "tiny-auto").is_dir(), reason="tiny-auto not trained in this checkout")
def test_think_forces_a_thought_on_a_model_that_chooses_not_to():
    from thinkgate.backends.base import GenParams
    from thinkgate.backends.hf import HFBackend

    backend = HFBackend(resolve_model("tiny-auto"))
    q = "What is 2+3?"
    chose = Gate(backend, "self").run(Request.of(q, sampling=Sampling(max_tokens=40)))
    assert chose.trace[0].detail["decision"] == "nothink"  # trained not to think on an easy item
    prompt = Gate(backend, "think").format.render(Request.of(q).messages, "think")
    # unforced, the model closes its thought at once after the thinking prefill ...
    assert backend.generate([prompt], GenParams(max_tokens=8))[0][0].text.startswith("\n</think>")
    # ... the backend bans that first token when asked, and the think strategy asks
    assert not backend.generate([prompt], GenParams(max_tokens=8, ban_first=["\n</think>\n\n"]))[0][0].text.startswith("\n")
    forced = Gate(backend, "think").run(Request.of(q, sampling=Sampling(max_tokens=200)))
    assert forced.usage.reasoning_tokens > 5 and forced.answer == "5"
