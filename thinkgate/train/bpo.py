"""`thinkgate train bpo`: teach a bi-mode model to choose for itself whether to think.

Method: R-4B's Bi-mode Policy Optimization (BPO) with an AdaptThink-style reward.
- Per prompt, `group` rollouts are forced to think (the template's thinking prefill, `<think>\\n`) and
  `group` are forced not to (the empty think block, `<think>\\n\\n</think>\\n\\n`), sampled at
  `temperature`.
- Reward = correct + `delta` * [no thinking] (AdaptThink's "minus the reference accuracy of thinking on
  this prompt" is a constant per prompt, which the group baseline below removes anyway).
- Advantages over the merged 2g group (GRPO): (r - mean) / (std + eps); a group whose rewards are all
  equal teaches nothing.
- Policy gradient on the sampled tokens and on the forced mode tokens. The prompt is rendered in auto
  mode (it ends after the assistant tag) and the prefill counts as written by the model, so the tokens
  where the two modes part (`\\n</think>` against the first thought token) learn which mode pays: this is
  what makes the model choose when nothing is prefilled. One update per batch, so the ratio is 1 and no
  clipping is needed (plain REINFORCE with the group baseline).

Chosen here where the papers are silent (all parameters):
- Token weighting: each rollout's generated tokens are averaged (per-sequence mean, GRPO's), and the
  mode tokens — from where the two prefills part to the end of the forced prefill; for a thinking rollout,
  its first thought token — are added with weight `mode_weight` each, so the mode decision is not drowned
  by a long thought.
- The common part of the two prefills (`<think>\\n`) gets identical advantages of both signs in every
  group, so policy gradient alone never teaches the model to open its think block when nothing is
  prefilled (the SFT model never had to: its template always prefilled). A small likelihood term
  (`format_coef`) on those tokens teaches it.
- `content_advantage` ("merged"): BPO as written gives every token the merged group's advantage. With
  "mode", the mode tokens keep it and the thought and answer tokens get the advantage within their own
  mode's g rollouts, so the no-thinking bonus (which, normalised by a small group spread, can be worth a
  full unit of advantage) does not also teach a correct thought to be less likely. With "none", only the
  mode tokens get a policy gradient: the thoughts and answers stay what SFT made them (held there by the
  KL term alone), and RL teaches nothing but the choice. On the embedded model, sampled thoughts at
  temperature 0.8 taught through "mode" left its greedy thinking worse on `under` (0.967 -> 0.660 after
  126 GPU steps of 48 rollouts), which is what "none" is for. The learning rate matters more: with "none"
  at lr 2e-4 the model still lost its way (0.593 on `under`, no-thinking accuracy down too), since AdamW
  moves every weight by about lr per step whatever the size of its gradient; at 5e-5 it kept 0.763, at
  3e-5 0.873 (30 CPU minutes each).
- `freeze_embeddings` (True): the token embeddings (tied with the output layer in the embedded model)
  stay as SFT left them. Teaching the model to write `<think>` after the assistant tag otherwise moves
  the `<think>` embedding itself, which every later token reads, and the thoughts degrade.
- Format warm-up (`warmup_steps`, 60, of `warmup_batch` 8 examples): the SFT model never wrote its own think tags (its template always
  prefilled them), so before RL a few bi-mode SFT steps in auto mode (trace or empty think block, 50/50,
  loss over everything after the assistant tag) teach it to open `<think>` itself and leave it indifferent
  between the modes; R-4B likewise runs BPO on a model whose bi-mode SFT already writes its own tags.
- Thinking rollouts really think: the template's thinking prefill (`<think>\n`) is the start of its
  no-thinking one, so after it the model could still close the block at once; the first token of that
  closing is banned at the first sampled position (`ThinkingFormat.forced_thinking`), as the `think`
  strategy does at inference.
- SFT replay (`replay_coef`, off by default; `replay_batch` examples per step): InstructGPT's "PPO-ptx"
  idea with the SFT mixture as the pretraining data — the likelihood of fresh bi-mode SFT examples
  (trace or empty think block, 50/50; thought and answer tokens only, the prefill masked so the term does
  not pull on the mode decision) is added to every RL step's loss, so that the thoughts the RL step
  does not teach stay what SFT made them. On the embedded model (lr 3e-5, 28-30 CPU minutes, forced
  thinking rollouts) it kept forced thinking on `under` at 0.947-0.953 (0.877 without it), but the model
  then chose to answer variable chains and some products without thinking (self 0.860-0.863, thinking
  on 0.78-0.80 of the items no-thinking gets wrong, at rollout temperatures 0.6 and 0.8), so the shipped
  `tiny-auto` is the run without it.
- Optional KL to the SFT model (`kl_coef`, k3 estimator per generated token, averaged per rollout).
- Prompts come from the "train" seed namespace and skip every test and calibration prompt.

Output: a Hugging Face folder (default `thinkgate/models/tiny-auto`, selectable as `--model tiny-auto`)
with `training.json` (config, per-step history) and a model card `README.md` with the reward and think-rate
curves (`curves.png`).
"""

from __future__ import annotations

import json
import platform
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable


def default_bpo_mixture() -> dict[str, float]:
    from .sft import suite_mixture

    return suite_mixture(over=1.0, under=1.0, mip=0.25)


@dataclass
class Rollout:
    """One sampled completion: which prompt of the step, the mode it was forced into, the prompt's and the
    completion's token ids, how many of those are the forced prefill, its reward and whether it was right."""

    prompt: int
    mode: str
    prompt_ids: list[int]
    completion_ids: list[int]
    forced: int
    reward: float
    correct: bool


@dataclass
class BPOConfig:
    init_from: str = "tiny"  # the SFT model (an embedded name or a folder)
    out: str = "thinkgate/models/tiny-auto"
    steps: int = 150
    prompts_per_step: int = 8
    group: int = 4  # g rollouts per mode per prompt (2g per prompt)
    delta: float = 0.05  # reward bonus for not thinking
    temperature: float = 1.0
    max_tokens: int = 400  # per thinking rollout
    nothink_max_tokens: int = 64
    lr: float = 1e-4
    kl_coef: float = 0.02  # 0: no KL term (and no reference model kept)
    mode_weight: float = 1.0
    format_coef: float = 1.0
    adv_eps: float = 1e-4
    # "merged": every token gets the merged 2g group's advantage (BPO as written); "mode": the mode tokens
    # get it, the thought and answer tokens get the advantage within their own mode's g rollouts; "none":
    # only the mode tokens get a policy gradient
    content_advantage: str = "merged"
    freeze_embeddings: bool = True  # keep the (tied) token embeddings of the SFT model
    grad_clip: float = 1.0
    mixture: dict[str, float] = field(default_factory=default_bpo_mixture)
    seed: int = 0
    max_minutes: float = 25.0
    threads: int = 1  # torch threads (0: torch's default)
    save_every_minutes: float = 5.0
    # format warm-up: bi-mode SFT steps whose loss also covers the template's prefill (see the docstring)
    warmup_steps: int = 60
    warmup_batch: int = 8
    # SFT replay in every RL step (see the docstring): weight of the likelihood of bi-mode SFT examples
    # (thought and answer tokens only), and how many per step; 0 turns it off
    replay_coef: float = 0.0
    replay_batch: int = 8


def train(cfg: BPOConfig, progress: Callable[[dict], None] | None = None) -> dict:
    import copy

    import torch

    from ..backends.base import GenParams
    from ..backends.hf import HFBackend
    from ..formats import get_format
    from ..roster import resolve_model
    from ..tasks import get_task, held_out_prompts, training_stream
    from ..types import Message

    started = time.time()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    src = resolve_model(cfg.init_from)
    backend = HFBackend(src, batch_size=max(64, cfg.prompts_per_step * cfg.group))
    policy, tok = backend.model, backend.tokenizer
    fmt = get_format(None, tok)
    ref = copy.deepcopy(policy).eval().requires_grad_(False) if cfg.kl_coef > 0 else None
    device = backend.device
    eos = tok.eos_token_id

    think_pre, nothink_pre = fmt.prefills
    if not think_pre or think_pre == nothink_pre:
        raise ValueError(f"{src}: the chat template's thinking and no-thinking prompts do not extend its auto "
                         "prompt (auto_think) with two different prefills, so there is no choice to teach")
    # a thinking rollout must think: the model may not close its thought at once (see fmt.forced_thinking)
    think_ban = fmt.forced_thinking(fmt.render([Message(role="user", content="1")], "auto") + think_pre)
    think_ids = tok(think_pre, add_special_tokens=False)["input_ids"]
    nothink_ids = tok(nothink_pre, add_special_tokens=False)["input_ids"]
    shared = 0
    while shared < min(len(think_ids), len(nothink_ids)) and think_ids[shared] == nothink_ids[shared]:
        shared += 1
    nothink_next = nothink_ids[shared] if shared < len(nothink_ids) else None  # the no-thinking decision token

    stream = training_stream(cfg.seed + 500, cfg.mixture, held_out_prompts())
    if cfg.freeze_embeddings:
        policy.get_input_embeddings().weight.requires_grad_(False)
        policy.get_output_embeddings().weight.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.lr, betas=(0.9, 0.98),
                            weight_decay=0.0)
    warmup = format_warmup(policy, tok, fmt, stream, opt, cfg, device) if cfg.warmup_steps else []
    history: list[dict] = []
    replay_rng = random.Random(cfg.seed + 11)
    out = Path(cfg.out)

    def save(step: int, final: bool) -> dict:
        from transformers import GenerationConfig

        out.mkdir(parents=True, exist_ok=True)
        policy.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=tok.pad_token_id, do_sample=False)
        policy.save_pretrained(str(out))
        tok.save_pretrained(str(out))
        record = {"method": "BPO (R-4B) with an AdaptThink-style reward", "config": asdict(cfg),
                  "init_from": str(src), "steps_done": step, "final": final,
                  "wall_minutes": round((time.time() - started) / 60, 2), "device": device,
                  "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                  "warmup": warmup, "history": history}
        (out / "training.json").write_text(json.dumps(record, indent=1))
        return record

    last_save, done = time.time(), 0
    for step in range(cfg.steps):
        if (time.time() - started) / 60 > cfg.max_minutes:
            break
        t0 = time.time()
        items = [next(stream) for _ in range(cfg.prompts_per_step)]
        prompts = [fmt.render([Message(role="user", content=it.prompt)], "auto") for it in items]
        # 1. rollouts, g forced to think and g forced not to, per prompt
        policy.eval()
        seqs: list[Rollout] = []
        for mode, pre, cap in (("think", think_pre, cfg.max_tokens), ("nothink", nothink_pre, cfg.nothink_max_tokens)):
            gens = backend.generate([p + pre for p in prompts], GenParams(
                max_tokens=cap, temperature=cfg.temperature, n=cfg.group, seed=cfg.seed * 100_003 + step,
                ban_first=think_ban if mode == "think" else []))
            for k, (it, g) in enumerate(zip(items, gens)):
                for gen in g:
                    _, answer, closed = fmt.split(pre + gen.text)
                    correct = bool(closed and get_task(it.family).verify(it, answer))
                    comp = tok(pre + gen.text, add_special_tokens=False)["input_ids"]
                    if gen.finish_reason == "stop" and gen.stop is None:
                        comp = comp + [eos]
                    n_forced = len(tok(pre, add_special_tokens=False)["input_ids"])
                    reward = float(correct) + (cfg.delta if mode == "nothink" else 0.0)
                    seqs.append(Rollout(k, mode, tok(prompts[k], add_special_tokens=False)["input_ids"], comp,
                                        n_forced, reward, correct))
        t_gen = time.time() - t0
        # 2. advantages over each prompt's merged 2g group (and, for content_advantage="mode", within each
        # mode's g rollouts for the content tokens)
        adv, adv_content = [0.0] * len(seqs), [0.0] * len(seqs)
        for k in range(len(items)):
            idx = [i for i, s in enumerate(seqs) if s.prompt == k]
            for i, v in zip(idx, _group_advantages([seqs[i].reward for i in idx], cfg.adv_eps)):
                adv[i] = adv_content[i] = v
            if cfg.content_advantage == "mode":
                for mode in ("think", "nothink"):
                    sub = [i for i in idx if seqs[i].mode == mode]
                    for i, v in zip(sub, _group_advantages([seqs[i].reward for i in sub], cfg.adv_eps)):
                        adv_content[i] = v
        # 3. one policy-gradient step
        policy.train()
        ids, mask, w_pg, w_fmt, w_kl, decision_pos = token_weights(seqs, adv, adv_content, shared,
                                                                  tok.pad_token_id, cfg)
        ids, mask = ids.to(device), mask.to(device)
        logits = policy(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        logp_all = torch.log_softmax(logits, -1)
        target = ids[:, 1:]
        logp = logp_all.gather(-1, target[..., None])[..., 0]  # log p of token t+1 at position t
        w_pg, w_fmt, w_kl = (w[:, 1:].to(device) for w in (w_pg, w_fmt, w_kl))
        loss_pg = -(w_pg * logp).sum() / len(seqs)
        loss_fmt = -(w_fmt * logp).sum() / len(seqs)
        loss = loss_pg + loss_fmt
        kl_val = 0.0
        if ref is not None:
            with torch.no_grad():
                ref_logp = torch.log_softmax(ref(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
                ref_logp = ref_logp.gather(-1, target[..., None])[..., 0]
            d = ref_logp - logp
            kl = (w_kl * (torch.exp(d) - d - 1)).sum() / len(seqs)
            loss = loss + cfg.kl_coef * kl
            kl_val = kl.item()
        replay_val = 0.0
        if cfg.replay_coef > 0:
            replay = replay_loss(policy, tok, stream, replay_rng, cfg.replay_batch, device)
            loss = loss + cfg.replay_coef * replay
            replay_val = replay.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in policy.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        done = step + 1
        # 4. what the model would choose now, by suite: P(thinking) at the decision token (before the update)
        with torch.no_grad():
            p_think = {}
            if nothink_next is not None:
                for k, it in enumerate(items):
                    i = next(i for i, s in enumerate(seqs) if s.prompt == k)
                    pos = decision_pos[i] - 1  # logits at position t predict token t+1
                    p = 1.0 - float(torch.exp(logp_all[i, pos, nothink_next]))
                    p_think.setdefault(it.suite, []).append(p)
        rec = {"step": step, "reward": round(sum(s.reward for s in seqs) / len(seqs), 4),
               "think_acc": round(_mean([s.correct for s in seqs if s.mode == "think"]), 4),
               "nothink_acc": round(_mean([s.correct for s in seqs if s.mode == "nothink"]), 4),
               "p_think": round(_mean([p for v in p_think.values() for p in v]), 4),
               **{f"p_think_{s}": round(_mean(v), 4) for s, v in sorted(p_think.items())},
               "loss_pg": round(loss_pg.item(), 4), "loss_format": round(loss_fmt.item(), 4), "kl": round(kl_val, 5),
               **({"loss_replay": round(replay_val, 4)} if cfg.replay_coef > 0 else {}),
               "gen_s": round(t_gen, 1), "step_s": round(time.time() - t0, 1),
               "minutes": round((time.time() - started) / 60, 2)}
        history.append(rec)
        if progress:
            progress(rec)
        if (time.time() - last_save) / 60 > cfg.save_every_minutes:
            save(done, final=False)
            last_save = time.time()
    record = save(done, final=True)
    write_card(out, record)
    return record


def token_weights(seqs: list["Rollout"], adv, adv_content, shared: int, pad_id: int, cfg: BPOConfig):
    """The batch of rollouts as ids and mask, with the per-token weights of the three loss terms (policy
    gradient, format likelihood, KL), each at the token's own position, and where each row's mode decision
    sits (the token after the prefills' shared part)."""
    import torch

    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    w_pg, w_fmt, w_kl = (torch.zeros((len(seqs), width)) for _ in range(3))
    decision_pos = []
    for i, s in enumerate(seqs):
        p_ids, n_forced = s.prompt_ids, s.forced
        row = p_ids + s.completion_ids
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
        start = len(p_ids)
        # mode tokens: from where the prefills part to the end of the forced prefill; for a thinking
        # rollout, whose prefill is the shared part, that is its first thought token
        mode_end = min(len(row), start + max(n_forced, shared + 1))
        content = range(mode_end, len(row))
        for j in range(start, start + shared):
            w_fmt[i, j] = cfg.format_coef
        for j in range(start + shared, mode_end):
            w_pg[i, j] = cfg.mode_weight * adv[i]
        for j in content:
            if cfg.content_advantage != "none":
                w_pg[i, j] = adv_content[i] / max(1, len(content))
            w_kl[i, j] = 1.0 / max(1, len(content))
        decision_pos.append(start + shared)
    return ids, mask, w_pg, w_fmt, w_kl, decision_pos


def replay_loss(policy, tok, stream, rng, n: int, device):
    """Mean token loss of `n` bi-mode SFT examples (each item with its thinking trace or with the empty think
    block, 50/50; the loss covers the thought and answer tokens, not the prompt or the template's prefill,
    so it holds the content where SFT put it without pulling on the mode decision)."""
    from .data import encode
    from .sft import collate

    batch = [encode(tok, next(stream), think=rng.random() < 0.5) for _ in range(n)]
    ids, labels, mask = (t.to(device) for t in collate(batch, tok.pad_token_id))
    return policy(input_ids=ids, attention_mask=mask, labels=labels).loss


def format_warmup(policy, tok, fmt, stream, opt, cfg: BPOConfig, device) -> list[dict]:
    """Bi-mode SFT steps in auto mode: each training item rendered with its thinking trace or with the
    empty think block (50/50), the loss covering everything after the assistant tag, the template's
    prefill included. The model learns to write its own `<think>` and starts RL indifferent between the
    two modes (P(think) near 0.5 at the decision token) instead of never having chosen."""
    import torch

    from ..types import Message
    from .data import conversation, render_pair
    from .sft import collate

    rng = random.Random(cfg.seed + 7)
    policy.train()
    log = []
    for step in range(cfg.warmup_steps):
        batch = []
        for _ in range(cfg.warmup_batch):
            item = next(stream)
            _, full = render_pair(tok, conversation(item, think=rng.random() < 0.5, switch=False))
            auto = fmt.render([Message(role="user", content=item.prompt)], "auto")
            ids = tok(full, add_special_tokens=False)["input_ids"]
            n_prompt = len(tok(auto, add_special_tokens=False)["input_ids"])
            batch.append(_Example(ids, [-100] * n_prompt + ids[n_prompt:]))
        ids, labels, mask = (t.to(device) for t in collate(batch, tok.pad_token_id))
        loss = policy(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in policy.parameters() if p.requires_grad], cfg.grad_clip)
        opt.step()
        if step % 10 == 0 or step == cfg.warmup_steps - 1:
            log.append({"step": step, "loss": round(loss.item(), 4)})
    return log


class _Example:
    def __init__(self, input_ids, labels):
        self.input_ids, self.labels = input_ids, labels


def _group_advantages(rewards: list[float], eps: float) -> list[float]:
    """GRPO's: (r - mean) / (std + eps) over one group."""
    if len(rewards) < 2:
        return [0.0] * len(rewards)
    m = sum(rewards) / len(rewards)
    sd = (sum((r - m) ** 2 for r in rewards) / len(rewards)) ** 0.5
    return [(r - m) / (sd + eps) for r in rewards]


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def write_card(out: Path, record: dict, bench: str = "") -> Path:
    """README.md (the model card) and curves.png from a training record; `bench` is a measured-figures
    section (markdown) added when given."""
    hist = record["history"]
    cfg = record["config"]
    if hist:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        steps = [h["step"] for h in hist]

        def smooth(xs, k=10):
            return [sum(xs[max(0, i - k + 1):i + 1]) / len(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]

        for key, label in (("reward", "reward"), ("think_acc", "accuracy, thinking"), ("nothink_acc", "accuracy, not thinking")):
            a.plot(steps, smooth([h[key] for h in hist]), label=label)
        a.set_xlabel("step")
        a.set_title("Rollouts (10-step running mean)")
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
        for key in sorted({k for h in hist for k in h if k.startswith("p_think")}):
            b.plot(steps, smooth([h.get(key, float("nan")) for h in hist]), label=key.replace("p_think", "P(think)"))
        b.set_xlabel("step")
        b.set_ylim(-0.02, 1.02)
        b.set_title("P(the model chooses to think), by suite")
        b.legend(fontsize=8)
        b.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "curves.png", dpi=110)
        plt.close(fig)
    rows = hist[:: max(1, len(hist) // 12)] + (hist[-1:] if hist and hist[-1] is not hist[:: max(1, len(hist) // 12)][-1] else [])
    table = "\n".join(f"| {h['step']} | {h['reward']} | {h['think_acc']} | {h['nothink_acc']} | {h.get('p_think_over', '-')} | "
                      f"{h.get('p_think_under', '-')} | {h['minutes']} |" for h in rows)
    pg_on = ("on the forced mode tokens alone" if cfg.get("content_advantage") == "none"
             else "on the generated tokens (per-rollout mean) and on the forced mode tokens")
    command = (f"thinkgate train bpo --init-from {Path(cfg['init_from']).name} --steps {cfg['steps']} "
               f"--minutes {cfg['max_minutes']:g} --prompts {cfg['prompts_per_step']} --group {cfg['group']} "
               f"--delta {cfg['delta']} --temperature {cfg['temperature']} --max-tokens {cfg['max_tokens']} "
               f"--lr {cfg['lr']} --kl {cfg['kl_coef']} --content-advantage {cfg.get('content_advantage', 'merged')} "
               f"--warmup-steps {cfg.get('warmup_steps', 0)} --seed {cfg['seed']} --threads {cfg['threads']}"
               + (f" --replay {cfg['replay_coef']} --replay-batch {cfg['replay_batch']}" if cfg.get("replay_coef") else "")
               + (" --train-embeddings" if not cfg.get("freeze_embeddings", True) else ""))
    card = f"""# thinkgate tiny-auto — the embedded model, trained to choose whether to think

Initialised from `{Path(record['init_from']).name}` and trained with BPO (R-4B's bi-mode policy optimisation)
and an AdaptThink-style reward by `thinkgate train bpo` (`thinkgate/train/bpo.py`). Use it with the `self`
strategy (nothing prefilled after the assistant tag; the model opens `<think>` and either thinks or closes
it at once): `thinkgate bench --model tiny-auto --strategies self,think,nothink --suites over,under`.

## Training
- Per step {cfg['prompts_per_step']} prompts from the "train" seed namespace (test and calibration prompts
  skipped), {cfg['group']} rollouts forced to think and {cfg['group']} forced not to per prompt, temperature
  {cfg['temperature']}, at most {cfg['max_tokens']} tokens per thinking rollout.
- Reward = correct + {cfg['delta']} x [no thinking]; advantages normalised over each prompt's merged group of
  {2 * cfg['group']}; policy gradient {pg_on} (weight {cfg['mode_weight']}); likelihood term {cfg['format_coef']} on the shared `<think>\\n`; KL to the SFT
  model {cfg['kl_coef']}; AdamW lr {cfg['lr']}, gradient clipping {cfg['grad_clip']}; content advantages
  `{cfg.get('content_advantage', 'merged')}`; token embeddings {'frozen' if cfg.get('freeze_embeddings') else 'trained'}.
- {record['steps_done']} steps in {record['wall_minutes']} minutes on {record['device']} ({record['machine']}),
  after {cfg.get('warmup_steps', 0)} format warm-up steps.
- Command: `{command}`

| step | reward | accuracy thinking | accuracy not thinking | P(think) over | P(think) under | minutes |
|---|---|---|---|---|---|---|
{table}

P(think) is the probability the model gives, before that step's update, to thinking at the token where the
two modes part, averaged over the step's prompts of each suite. Curves: `curves.png`; every step:
`training.json`.
{bench}"""
    path = out / "README.md"
    path.write_text(card)
    return path
