from thinkgate.train.sft import SFTConfig, train


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
