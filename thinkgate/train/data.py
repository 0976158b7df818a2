"""Bi-mode SFT data: every item rendered with a faithful thinking trace or with the empty think block.

Thought dropout (after TON): each training example is rendered in thinking mode with probability
`think_prob` and in no-thinking mode otherwise, so over training every kind of item is seen both ways.
A share of prompts (`switch_prob`) carries the soft switch (/think or /no_think) that matches its mode,
so the model has seen the switches in its input. Rendering goes through the tokenizer's own chat
template; the loss covers only the assistant's tokens after the template's prefill.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..tasks import Item, get_task


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # -100 on prompt tokens


def conversation(item: Item, think: bool, switch: bool) -> tuple[list[dict], dict, dict]:
    """(messages, assistant message, template kwargs) for one item in one mode."""
    prompt = item.prompt + ((" /think" if think else " /no_think") if switch else "")
    reasoning = get_task(item.family).trace(item) if think else ""
    kwargs = {} if switch else {"enable_thinking": think}
    assistant = {"role": "assistant", "content": item.answer, "reasoning_content": reasoning}
    return [{"role": "user", "content": prompt}], assistant, kwargs


def render_pair(tokenizer, item: Item, think: bool, switch: bool = False) -> tuple[str, str]:
    """(prompt text ending with the template's prefill, full text of the finished turn)."""
    messages, assistant, kwargs = conversation(item, think, switch)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
    full = tokenizer.apply_chat_template(messages + [assistant], tokenize=False, **kwargs)
    if not full.startswith(prompt):
        raise ValueError(f"chat template: the finished turn does not extend the prompt for {item.id}")
    return prompt, full


def encode(tokenizer, item: Item, think: bool, switch: bool = False) -> Example:
    prompt, full = render_pair(tokenizer, item, think, switch)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    if ids[: len(p_ids)] != p_ids:
        raise ValueError(f"tokenizer: prompt tokens are not a prefix of the full turn for {item.id}")
    return Example(ids, [-100] * len(p_ids) + ids[len(p_ids):])


def examples(tokenizer, items: Iterator[Item], seed: int, think_prob: float = 0.5,
             switch_prob: float = 0.1) -> Iterator[Example]:
    rng = random.Random(seed)
    for item in items:
        yield encode(tokenizer, item, rng.random() < think_prob, rng.random() < switch_prob)


def batches(stream: Iterator[Example], max_tokens: int, pool: int = 512, seed: int = 0) -> Iterator[list[Example]]:
    """Length-bucketed batches of at most `max_tokens` (batch size x longest row): draw a pool, sort it by
    length, cut it into batches, and yield them in random order. Padding stays small."""
    rng = random.Random(seed)
    while True:
        chunk = sorted((next(stream) for _ in range(pool)), key=lambda e: len(e.input_ids))
        out, cur = [], []
        for ex in chunk:
            if cur and (len(cur) + 1) * len(ex.input_ids) > max_tokens:
                out.append(cur)
                cur = []
            cur.append(ex)
        if cur:
            out.append(cur)
        rng.shuffle(out)
        yield from out
