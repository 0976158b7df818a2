import random
import string

import pytest

from thinkgate.formats import DeepSeekR1Format, Qwen3Format, detect_format
from thinkgate.types import Message

Q = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"


def test_tokenizer_round_trips_any_printable_ascii(tokenizer):
    rng = random.Random(0)
    texts = ["".join(rng.choice(string.printable) for _ in range(rng.randint(1, 80))) for _ in range(200)]
    texts += [string.printable, "Considering the limited time by the user, I have to give the solution.\n</think>\n\n"]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text


def test_special_tokens_and_digits_are_single_tokens(tokenizer):
    for special in ["<think>", "</think>", "<|im_start|>", "<|im_end|>"]:
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1
    ids = tokenizer("1234567890", add_special_tokens=False)["input_ids"]
    assert len(ids) == 10
    # a prompt ending in newlines tokenizes as a prefix of a longer text
    a = tokenizer("</think>\n\n", add_special_tokens=False)["input_ids"]
    b = tokenizer("</think>\n\n42", add_special_tokens=False)["input_ids"]
    assert b[: len(a)] == a


def render(tokenizer, content, **kw):
    return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True, **kw)


def test_template_modes_byte_exact(tokenizer):
    assert render(tokenizer, "What is 2+2?") == Q + "<think>\n"
    assert render(tokenizer, "What is 2+2?", enable_thinking=True) == Q + "<think>\n"
    assert render(tokenizer, "What is 2+2?", enable_thinking=False) == Q + "<think>\n\n</think>\n\n"
    assert render(tokenizer, "What is 2+2?", auto_think=True) == Q


def test_template_soft_switches_last_one_wins(tokenizer):
    nothink = "<think>\n\n</think>\n\n"
    assert render(tokenizer, "What is 2+2? /no_think").endswith("assistant\n" + nothink)
    assert render(tokenizer, "What is 2+2? /no_think /think").endswith("assistant\n<think>\n")
    assert render(tokenizer, "/think What is 2+2? /no_think").endswith("assistant\n" + nothink)
    assert render(tokenizer, "What is 2+2? /think", auto_think=True).endswith("assistant\n<think>\n")
    # the hard switch wins over a soft one
    assert render(tokenizer, "What is 2+2? /think", enable_thinking=False).endswith(nothink)
    # across turns: the latest user turn with a switch decides
    msgs = [{"role": "user", "content": "hi /no_think"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "What is 2+2?"}]
    out = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert out == ("<|im_start|>user\nhi /no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nhello"
                   "<|im_end|>\n" + Q + nothink)


def test_template_renders_a_finished_thinking_turn(tokenizer):
    msgs = [{"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4", "reasoning_content": "2+2=4."}]
    assert tokenizer.apply_chat_template(msgs, tokenize=False) == Q + "<think>\n2+2=4.\n</think>\n\n4<|im_end|>\n"


def test_format_render_uses_template(tokenizer):
    fmt = Qwen3Format(tokenizer)
    msgs = [Message(role="user", content="What is 2+2?")]
    assert fmt.render(msgs, "think") == Q + "<think>\n"
    assert fmt.render(msgs, "nothink") == Q + "<think>\n\n</think>\n\n"
    assert fmt.render(msgs, "auto") == Q
    assert detect_format(tokenizer) == "qwen3"


def test_forced_thinking_bans_closing_the_thought_only_right_after_the_thinking_prefill(tokenizer):
    fmt = Qwen3Format(tokenizer)
    assert fmt.prefills == ("<think>\n", "<think>\n\n</think>\n\n")

    def render(text, mode):
        return fmt.render([Message(role="user", content=text)], mode)

    assert fmt.forced_thinking(render("What is 2+2?", "think")) == ["\n</think>\n\n"]
    for prompt in (render("What is 2+2?", "nothink"), render("What is 2+2?", "auto"),
                   render("What is 2+2? /no_think", "think"),  # the soft switch turned thinking off
                   render("What is 2+2?", "think") + "Okay."):  # text injected after the prefill
        assert fmt.forced_thinking(prompt) == []
    # a template with nothing to force: DeepSeek-R1's renders the same prompt in every mode
    assert DeepSeekR1Format(tokenizer).forced_thinking(render("What is 2+2?", "think")) == []


@pytest.mark.parametrize("text,expected", [
    ("<think>\nstep one\n</think>\n\n42", ("step one", "42", True)),
    ("<think>\n\n</think>\n\n42", ("", "42", True)),
    ("<think>\nstill going", ("still going", "", False)),
    ("42", ("", "42", True)),
    ("step one\n</think>\n\n42", ("step one", "42", True)),
])
def test_qwen3_parser(text, expected):
    assert Qwen3Format(None).split(text) == expected


def test_r1_parser_treats_untagged_text_as_unclosed_reasoning():
    fmt = DeepSeekR1Format(None)
    assert fmt.split("hmm, let me see") == ("hmm, let me see", "", False)
    assert fmt.split("hmm\n</think>\n\nYes") == ("hmm", "Yes", True)
