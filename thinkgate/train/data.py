"""Bi-mode SFT data: every item rendered with a faithful thinking trace or with the empty think block.

Thought dropout (after TON): each training example is rendered in thinking mode with probability
`think_prob` and in no-thinking mode otherwise, so over training every kind of item is seen both ways.
A share of prompts (`switch_prob`) carries the soft switch (/think or /no_think) that matches its mode,
so the model has seen the switches in its input. Rendering goes through the tokenizer's own chat
template; the loss covers only the assistant's tokens after the template's prefill.

Besides the two plain modes, small shares of the mixture (`Variants`) show the model the situations that
thinkgate's strategies put it in, the way a released reasoning model has met instructions and cut-off
thoughts in its post-training. Text that a strategy injects (a stop message, a closing tag, a prefilled
thought) is masked out of the loss: the model learns what to do after it, never to write it itself.
- `auto`: the template's `auto_think` turn, where the model writes `<think>` and decides whether to think
  (the starting point that `train bpo` sharpens);
- `cut`: a thought cut at a word or line boundary, closed by a budget stop message, by thinkless'
  instruction, or by the bare end tag (what a DEER probe sees), then the answer;
- `concise`: the prompt carries "Don't overthink." and the thought drops its re-checking lines;
- `nothinking`: the thought is prefilled with "Okay, I think I have finished thinking." (NoThinking).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from ..tasks import Item, get_task

# The exact strings the strategies inject (kept here rather than imported so that training data does not
# change when a strategy's default is edited; tests check they agree).
QWEN3_STOP = ("\n\nConsidering the limited time by the user, I have to give the solution based on the thinking "
              "directly now.\n")
THINKLESS_INSTRUCTION = "\nNow I will give the final answer directly.\n"
R1_PREFILL = "Okay, I think I have finished thinking."
DONT_OVERTHINK = "Don't overthink."
CLOSE = "</think>"


class Variants(BaseModel):
    """Shares of the mixture rendered as a strategy would meet the model (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    auto: float = Field(default=0.1, ge=0, le=1)  # of all examples
    cut: float = Field(default=0.1, ge=0, le=1)  # of thinking examples
    concise: float = Field(default=0.05, ge=0, le=1)  # of thinking examples
    nothinking: float = Field(default=0.05, ge=0, le=1)  # of no-thinking examples


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # -100 on prompt tokens and injected text


def concise(trace: str) -> str:
    """The trace without its re-checking: lines that start with "Wait" or "Yes," are dropped."""
    return "\n".join(line for line in trace.split("\n") if not line.startswith(("Wait", "Yes,")))


def cut_point(trace: str, rng: random.Random, at_line: bool) -> int:
    """A character offset inside `trace` at a line (or word) boundary, never at its very end."""
    seps = "\n" if at_line else " \n"
    points = [i for i, ch in enumerate(trace) if ch in seps]
    return rng.choice(points) if points else 0


@dataclass
class Rendering:
    """One training conversation: what the template gets, and the assistant-side spans that are injected."""

    messages: list[dict]
    assistant: dict
    kwargs: dict
    injected: list[str]  # substrings of the rendered reply that a strategy writes, not the model


def conversation(item: Item, think: bool, switch: bool, rng: random.Random | None = None,
                 variants: Variants | None = None) -> Rendering:
    """How one item is rendered in one mode; with `rng` and `variants`, possibly as one of the variants."""
    prompt, answer = item.prompt, item.answer
    reasoning = get_task(item.family).trace(item) if think else ""
    kwargs: dict = {"enable_thinking": think}
    injected: list[str] = []
    pick = (lambda share: rng.random() < share) if (rng is not None and variants is not None) else (lambda share: False)
    if think and pick(variants.cut if variants else 0):
        how = rng.choice(("line", "stop", "thinkless"))
        kept = reasoning[: cut_point(reasoning, rng, how == "line")].rstrip()
        if how == "line":
            reasoning = kept
        else:
            message = QWEN3_STOP if how == "stop" else THINKLESS_INSTRUCTION
            reasoning = kept + message
            injected.append(message.rstrip("\n"))
        injected.append(CLOSE)
        switch = False
    elif think and pick(variants.concise if variants else 0):
        prompt = f"{prompt} {DONT_OVERTHINK}"
        reasoning = concise(reasoning)
        switch = False
    elif not think and pick(variants.nothinking if variants else 0):
        reasoning = R1_PREFILL
        injected += [R1_PREFILL, CLOSE]
        kwargs = {"enable_thinking": True}
        switch = False
    elif pick(variants.auto if variants else 0):
        kwargs = {"auto_think": True}
        switch = False
    if switch:
        prompt += " /think" if think else " /no_think"
        kwargs = {}
    assistant = {"role": "assistant", "content": answer, "reasoning_content": reasoning}
    return Rendering([{"role": "user", "content": prompt}], assistant, kwargs, injected)


def render_pair(tokenizer, r: Rendering) -> tuple[str, str]:
    """(prompt text ending with the template's prefill, full text of the finished turn)."""
    prompt = tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=True, **r.kwargs)
    full = tokenizer.apply_chat_template(r.messages + [r.assistant], tokenize=False, **r.kwargs)
    if not full.startswith(prompt):
        raise ValueError(f"chat template: the finished turn does not extend the prompt for {r.messages[0]}")
    return prompt, full


def encode(tokenizer, item: Item, think: bool, switch: bool = False, rng: random.Random | None = None,
           variants: Variants | None = None) -> Example:
    r = conversation(item, think, switch, rng, variants)
    prompt, full = render_pair(tokenizer, r)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    p_len = len(p_ids)
    if ids[:p_len] != p_ids:
        raise ValueError(f"tokenizer: prompt tokens are not a prefix of the full turn for {item.id}")
    masked = [False] * len(ids)
    for text in r.injected:  # the first occurrence after the prompt: injected text precedes the answer
        start = full.find(text, len(prompt))
        if start < 0:
            raise ValueError(f"injected text {text!r} not found in the rendered turn for {item.id}")
        end = start + len(text)
        for k, (a, b) in enumerate(offsets):
            if a < end and b > start:
                masked[k] = True
    labels = [-100 if k < p_len or masked[k] else t for k, t in enumerate(ids)]
    return Example(ids, labels)


def examples(tokenizer, items: Iterator[Item], seed: int, think_prob: float = 0.5,
             switch_prob: float = 0.1, variants: Variants | None = None,
             family_think_prob: dict[str, float] | None = None) -> Iterator[Example]:
    """Encode `items` in thinking mode with probability `think_prob`, or the family's own share in
    `family_think_prob` where it names one (the same random draws either way, so a recipe without
    overrides gets the same examples as before)."""
    rng = random.Random(seed)
    share = family_think_prob or {}
    for item in items:
        p = share.get(item.family, think_prob)
        yield encode(tokenizer, item, rng.random() < p, rng.random() < switch_prob, rng, variants)


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
