"""A template's thinking switch is found from its own variables, whatever its name: templates of the shapes
real ones use, each on the embedded model's tokenizer, are detected with their switch and rendered in each
mode by it; a variable that changes other text is not a switch."""

import shutil

import pytest
from transformers import AutoTokenizer
from typer.testing import CliRunner

from thinkgate.cli import app as cli
from thinkgate.formats import Qwen3Format, detect_format, get_format
from thinkgate.formats.switch import Switch, candidates
from thinkgate.types import Message

Q = "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
OPEN, EMPTY = "<think>\n", "<think>\n\n</think>\n\n"


def chatml(generation: str, system: str = "", history_close: bool = True) -> str:
    """A ChatML template whose generation prompt ends with `generation` (jinja), an optional system part, and
    earlier assistant turns without their reasoning (split at `</think>` where `history_close`)."""
    content = "message.content.split('</think>')[-1].lstrip('\\n')" if history_close else "message.content"
    return (system
            + "{%- for message in messages -%}"
            + "{%- if message.role == 'assistant' -%}"
            + "{{- '<|im_start|>assistant\\n' + " + content + " + '<|im_end|>\\n' -}}"
            + "{%- else -%}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}"
            + "{%- endif -%}{%- endfor -%}"
            + "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}" + generation + "{%- endif -%}")


# name -> (template, its switch, the prompt's ending in think / nothink / auto)
SHAPES = {
    # an opening only, and only when asked: no closing tag anywhere in the template
    "reasoning": (chatml("{%- if reasoning -%}{{- '<think>\\n' -}}{%- endif -%}", history_close=False),
                  Switch("reasoning", True, False, closes=False), (OPEN, EMPTY, "")),
    # thinking off by default: the template closes the thought unless asked to think
    "think": (chatml("{%- if think -%}{{- '<think>\\n' -}}{%- else -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"),
              Switch("think", True, False, closes=True), (OPEN, EMPTY, "")),
    # off by default, and thinking on leaves the turn open (the model opens its thought itself)
    "enable_reasoning": (chatml("{%- if not enable_reasoning -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"),
                         Switch("enable_reasoning", True, False, closes=True), ("", EMPTY, "")),
    # on by default, off only by an explicit false
    "thinking": (chatml("{%- if thinking is defined and thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}"
                        "{%- else -%}{{- '<think>\\n' -}}{%- endif -%}"),
                 Switch("thinking", True, False, closes=True), (OPEN, EMPTY, "")),
    # inverted: true turns thinking off
    "disable_thinking": (chatml("{%- if not disable_thinking -%}{{- '<think>\\n' -}}"
                                "{%- else -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"),
                         Switch("disable_thinking", False, True, closes=True), (OPEN, EMPTY, "")),
}
DATE = "{%- if date_string -%}{{- '<|im_start|>system\\nToday is ' + date_string + '<|im_end|>\\n' -}}{%- endif -%}"


@pytest.fixture
def with_template(model_dir):
    """The embedded model's tokenizer, loaded afresh, carrying a chat template of the test's."""
    def make(template: str):
        tok = AutoTokenizer.from_pretrained(str(model_dir))
        tok.chat_template = template
        return tok
    return make


def prompt(fmt, mode: str) -> str:
    return fmt.render([Message(role="user", content="What is 2+2?")], mode)


@pytest.mark.parametrize("name", SHAPES)
def test_a_switch_of_any_name_is_found_and_renders_each_mode(with_template, name):
    template, switch, (think, nothink, auto) = SHAPES[name]
    tok = with_template(template)
    assert detect_format(tok) == "qwen3"
    fmt = get_format(None, tok)
    assert fmt.switch == switch
    assert fmt.template_kwargs("think") == {name: switch.on}
    assert fmt.template_kwargs("nothink") == {name: switch.off}
    assert fmt.can_skip and fmt.supports_auto
    assert (prompt(fmt, "think"), prompt(fmt, "nothink"), prompt(fmt, "auto")) == (Q + think, Q + nothink, Q + auto)
    reasoning, answer, closed = fmt.split(fmt.assistant_part(prompt(fmt, "nothink")) + "4")
    assert (reasoning, answer, closed) == ("", "4", True)


def test_the_template_alone_would_not_think_where_the_switch_is_off_by_default(with_template):
    # what `--mode think` rendered before the switch was found: the template's own default, a closed thought
    for name in ("think", "enable_reasoning", "reasoning"):
        tok = with_template(SHAPES[name][0])
        default = tok.apply_chat_template([{"role": "user", "content": "What is 2+2?"}], tokenize=False,
                                          add_generation_prompt=True)
        assert default != prompt(get_format(None, tok), "think")
        assert not default.endswith(OPEN)


def test_an_unrelated_variable_is_not_a_switch(with_template):
    # a date in the system part changes the text, never a thought: a template that always thinks
    tok = with_template(DATE + chatml("{{- '<think>\\n' -}}"))
    assert "date_string" in candidates(tok, tok.chat_template)
    assert detect_format(tok) == "deepseek_r1"
    assert not Qwen3Format(tok).can_skip
    fmt = get_format(None, tok)
    assert (prompt(fmt, "think"), prompt(fmt, "nothink")) == (Q + OPEN, Q + EMPTY)
    # beside a real switch, the switch is the one found
    tok = with_template(DATE + SHAPES["think"][0])
    fmt = get_format(None, tok)
    assert fmt.name == "qwen3" and fmt.switch == SHAPES["think"][1]
    # an opening with no switch at all and no closing tag is still refused as markup no family describes
    with pytest.raises(Exception, match="no family describes"):
        detect_format(with_template(DATE + chatml("{{- '<think>\\n' -}}", history_close=False)))


def test_what_transformers_passes_is_no_candidate(with_template):
    system = ("{%- set ns = namespace(x=1) -%}{%- for i in range(1) -%}{%- endfor -%}"
              "{%- if tools or documents or bos_token or eos_token or pad_token -%}{%- endif -%}"
              "{{- strftime_now('%Y') if false else '' -}}{%- if enable_thinking is false -%}{%- endif -%}")
    gen = "{%- if think -%}{{- '<think>\\n' -}}{%- else -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}"
    tok = with_template(chatml(gen, system))
    assert candidates(tok, tok.chat_template, ("enable_thinking",)) == ["think"]


def test_enable_thinking_keeps_its_place(with_template, tokenizer):
    # the embedded template switches by `enable_thinking`: that is its switch, byte for byte as before
    fmt = get_format(None, tokenizer)
    assert fmt.switch.name == "enable_thinking"
    assert (prompt(fmt, "think"), prompt(fmt, "nothink"), prompt(fmt, "auto")) == (Q + OPEN, Q + EMPTY, Q)


def test_render_shows_the_switch_and_the_model_thinks_by_it(model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder, ignore=shutil.ignore_patterns("router", "training.json", "README.md"))
    (folder / "chat_template.jinja").write_text(SHAPES["think"][0])
    runner = CliRunner()
    outputs = {}
    for mode in ("think", "nothink"):
        res = runner.invoke(cli, ["render", "What is 2+2?", "--model", str(folder), "--mode", mode])
        assert res.exit_code == 0, res.output
        said = " ".join(res.output.split())  # (the console wraps its lines)
        assert "family qwen3 (detected)" in said and "think {'think': True}, nothink {'think': False}" in said
        outputs[mode] = res.output
    assert outputs["think"].endswith(Q + OPEN + "\n") and outputs["nothink"].endswith(Q + EMPTY + "\n")

    # the embedded model, whose own template opens the same thought, thinks in think mode and not in nothink
    from thinkgate.backends.hf import HFBackend
    from thinkgate.gate import Gate
    from thinkgate.types import Request, Sampling

    gate = Gate(HFBackend(folder))
    think = gate.run(Request.of("What is 12+7?", mode="think", sampling=Sampling(max_tokens=48)))
    nothink = gate.run(Request.of("What is 12+7?", mode="nothink", sampling=Sampling(max_tokens=48)))
    assert think.usage.reasoning_tokens > 0 and think.reasoning
    assert nothink.usage.reasoning_tokens == 0 and not nothink.reasoning and nothink.answer
