import pytest

from thinkgate.train.sft import SFTConfig, lr_at, train


def test_a_short_training_run_lowers_the_loss(tmp_path):
    cfg = SFTConfig(out=str(tmp_path / "m"), steps=40, hidden_size=64, num_layers=2, num_heads=2, head_dim=32,
                    intermediate_size=128, batch_tokens=2048, lr=3e-3, warmup=5, log_every=1)
    record = train(cfg)
    losses = [h["loss"] for h in record["loss_history"]]
    assert record["steps_done"] == 40
    assert losses[-1] < 0.7 * losses[0]
    assert (tmp_path / "m" / "model.safetensors").exists()
    from thinkgate.backends.hf import HFBackend

    HFBackend(tmp_path / "m")  # the saved folder loads through the ordinary path


def test_two_runs_of_one_config_give_the_same_weights_and_the_setting_is_restored(tmp_path):
    import hashlib

    import torch

    def run(name: str, **kw) -> tuple[str, dict]:
        cfg = SFTConfig(out=str(tmp_path / name), steps=6, hidden_size=32, num_layers=1, num_heads=1, head_dim=32,
                        intermediate_size=64, batch_tokens=512, warmup=2, **kw)
        record = train(cfg)
        return hashlib.sha256((tmp_path / name / "model.safetensors").read_bytes()).hexdigest(), record

    assert not torch.are_deterministic_algorithms_enabled()
    (a, rec_a), (b, _) = run("a"), run("b")
    assert a == b
    assert rec_a["stopped_by"] == "steps" and rec_a["config"]["deterministic"]
    assert not torch.are_deterministic_algorithms_enabled()  # train() leaves the process as it found it
    c, _ = run("c", seed=1)
    assert c != a  # the hash does see a different run


def test_a_run_cut_by_its_wall_clock_cap_says_so(tmp_path):
    cfg = SFTConfig(out=str(tmp_path / "m"), steps=100_000, max_minutes=0.05, hidden_size=32, num_layers=1,
                    num_heads=1, head_dim=32, intermediate_size=64, batch_tokens=512, warmup=1)
    record = train(cfg)
    assert record["stopped_by"] == "clock" and record["steps_done"] < 100_000


def test_a_schedule_by_the_clock_follows_the_minutes_and_stops_on_time(tmp_path):
    cfg = SFTConfig(clock=True, max_minutes=10, warmup=5, lr=1e-3, min_lr_ratio=0.1, schedule="wsd", decay_frac=0.5)
    assert lr_at(2, cfg, 0.0) == pytest.approx(6e-4)  # warm-up counts steps (the third of five)
    assert lr_at(500, cfg, 4.9) == pytest.approx(1e-3)  # stable until half the minutes are spent
    assert lr_at(500, cfg, 7.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half-way down the decay
    assert lr_at(500, cfg, 12.0) == pytest.approx(1e-4)
    cosine = SFTConfig(clock=True, max_minutes=10, warmup=5, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(10, cosine, 5.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(10, cosine, 5.0) == lr_at(9000, cosine, 5.0)  # the step count does not matter after warm-up

    run = SFTConfig(out=str(tmp_path / "m"), steps=3, clock=True, max_minutes=0.05, hidden_size=32, num_layers=1,
                    num_heads=1, head_dim=32, intermediate_size=64, batch_tokens=512, warmup=1, log_every=1)
    record = train(run)
    assert record["steps_done"] > 3  # `steps` does not stop a run by the clock
    assert record["loss_history"][-1]["minutes"] <= 0.05 + 0.05
    assert record["loss_history"][-1]["lr"] < 0.2 * run.lr


def test_a_clock_schedule_capped_by_steps_runs_over_whichever_budget_is_spent_first(tmp_path):
    capped = SFTConfig(clock=True, clock_steps=1000, max_minutes=10, warmup=5, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(500, capped, 1.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # steps ahead of the clock
    assert lr_at(100, capped, 5.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # the clock ahead of the steps
    assert lr_at(999, capped, 1.0) < 0.11 * capped.lr

    run = SFTConfig(out=str(tmp_path / "m"), clock=True, clock_steps=6, max_minutes=5, hidden_size=32,
                    num_layers=1, num_heads=1, head_dim=32, intermediate_size=64, batch_tokens=512, warmup=1,
                    log_every=100)
    record = train(run)
    assert record["steps_done"] == 6  # long before the five minutes are up
    assert record["loss_history"][-1]["step"] == 5  # the last step is logged
    assert record["loss_history"][-1]["lr"] < 0.2 * run.lr
    with pytest.raises(ValueError, match="clock_steps"):
        train(SFTConfig(out=str(tmp_path / "bad"), clock=True, clock_steps=0))


def test_right_padded_batches_train_without_an_attention_mask(backend, tokenizer):
    """train() drops the attention mask of its right-padded batches; the loss must be the mask's."""
    import itertools

    import torch

    from thinkgate.train.data import Variants, batches, examples
    from thinkgate.train.sft import collate, default_mixture, training_stream

    stream = examples(tokenizer, training_stream(7, default_mixture(), set()), 7, 0.5, 0.1, Variants())
    batch = next(b for b in itertools.islice(batches(stream, 2048, seed=7), 5)
                 if len({len(e.input_ids) for e in b}) > 1)  # one with padding
    ids, labels, mask = collate(batch, tokenizer.pad_token_id)
    assert int(mask.sum()) < mask.numel()
    model = backend.model
    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        unmasked = model(input_ids=ids, labels=labels).loss
    assert torch.allclose(masked, unmasked, rtol=1e-5, atol=1e-6)


def test_a_family_think_share_overrides_think_prob_for_that_family_only(tokenizer):
    import itertools

    from thinkgate.train.data import Variants, examples
    from thinkgate.train.sft import default_mixture, training_stream

    plain = Variants(auto=0, cut=0, concise=0, nothinking=0)
    items = list(itertools.islice(training_stream(3, default_mixture(), set()), 600))
    shares = {"listsum": 0.0, "add": 1.0}
    thinks = {}
    for item, ex in zip(items, examples(tokenizer, iter(items), 3, 0.5, 0.1, plain, shares)):
        text = tokenizer.decode(ex.input_ids)
        thinks.setdefault(item.family, []).append("<think>\n\n</think>" not in text)
    assert thinks["listsum"] and not any(thinks["listsum"])
    assert thinks["add"] and all(thinks["add"])
    rest = [t for family, ts in thinks.items() if family not in shares for t in ts]
    assert 0.4 < sum(rest) / len(rest) < 0.6
    # without overrides the stream is the one it always was: the same draws, family by family
    before = [ex.input_ids for ex in examples(tokenizer, iter(items), 3, 0.5, 0.1, plain)]
    after = [ex.input_ids for ex in examples(tokenizer, iter(items), 3, 0.5, 0.1, plain, {})]
    assert before == after


def test_a_family_think_share_is_checked_before_training(tmp_path):
    with pytest.raises(ValueError, match="'lists' is not a task family"):
        train(SFTConfig(out=str(tmp_path / "m"), family_think_prob={"lists": 0.3}))
    with pytest.raises(ValueError, match="1.5 for listsum is not between 0 and 1"):
        train(SFTConfig(out=str(tmp_path / "m"), family_think_prob={"listsum": 1.5}))


def test_injected_strategy_text_is_masked_and_matches_the_strategies(tokenizer):
    import random

    from thinkgate.strategies.budget import QWEN3_STOP as BUDGET_STOP
    from thinkgate.strategies.dont_overthink import DontOverthinkParams
    from thinkgate.strategies.nothinking import R1_PREFILL as STRATEGY_PREFILL
    from thinkgate.strategies.thinkless import ThinkLessParams
    from thinkgate.tasks import load_split
    from thinkgate.train import data

    assert data.QWEN3_STOP == BUDGET_STOP and data.R1_PREFILL == STRATEGY_PREFILL
    assert data.DONT_OVERTHINK == DontOverthinkParams().instruction
    assert data.THINKLESS_INSTRUCTION.strip() == ThinkLessParams().instruction

    item = next(i for i in load_split("under") if i.family == "add" and i.difficulty == 3)
    everything = data.Variants(auto=0, cut=1, concise=0, nothinking=1)
    rng, seen = random.Random(0), set()
    for k in range(30):
        think = k % 2 == 0
        ex = data.encode(tokenizer, item, think, False, rng, everything)
        full = tokenizer.decode(ex.input_ids)
        learnt = tokenizer.decode([t for t in ex.labels if t != -100])
        assert learnt.rstrip().endswith(f"{item.answer}<|im_end|>")  # the answer is always learnt
        assert "</think>" in full and "</think>" not in learnt  # the strategy closes the thought
        for phrase in (data.QWEN3_STOP.strip(), data.THINKLESS_INSTRUCTION.strip(), data.R1_PREFILL):
            if phrase in full:
                seen.add(phrase)
                assert phrase not in learnt
    assert len(seen) == 3  # every injected phrase was drawn and masked


def test_concise_drops_rechecks_only():
    from thinkgate.tasks import get_task, load_split
    from thinkgate.train.data import concise

    item = next(i for i in load_split("over") if i.family == "compare")
    trace = get_task("compare").trace(item)
    short = concise(trace)
    assert "Wait" in trace and "Wait" not in short and short.endswith(f"So the answer is {item.answer}.")
