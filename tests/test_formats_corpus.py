"""Every chat template of llama.cpp's collection (the pinned llama-cpp-python source distribution, fetched
through pip and cached): detected as its family, rendered in each mode, its output split complete,
truncated and streamed, and run end to end; a template with reasoning markup no family describes is an
error, never served as a model without thinking."""

import pytest
from _corpus import EXPECTED, check, end_to_end, templates

from thinkgate.formats import FormatError, detect_format, get_format
from thinkgate.formats.base import _direct


@pytest.fixture(scope="module")
def corpus():
    return templates()


def test_the_corpus_is_the_one_the_expectations_describe(corpus):
    assert set(corpus) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_passes_its_familys_checks(corpus, tokenizer, name):
    result = check(name, corpus[name], tokenizer)
    failed = [k for k, v in result.items() if k != "family" and v is not True]
    assert not failed, (name, result)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_runs_end_to_end_on_a_model_built_with_it(corpus, name):
    """ask in each mode and budget:max=8 on a random-init two-layer model with the template and a matching
    vocabulary: streamed as returned, refused clearly where the family cannot serve a mode, and the budget's
    stop closes the thought with the family's own markup."""
    result = end_to_end(name, corpus[name])
    assert all(result.values()), (name, result)


def test_a_loose_word_does_not_make_a_family(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = ("{% for m in messages %}{{ m.role|capitalize }}: {{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}Assistant:{% endif %}")
    assert detect_format(tok) == "none"
    tok.chat_template = "{{ '<think>' }}{% for m in messages %}{{ m.content }}{% endfor %}"  # no closing tag
    with pytest.raises(FormatError, match="reasoning markup.*--format"):
        detect_format(tok)


@pytest.mark.parametrize("name,effort,expected", [
    ("openai-gpt-oss-120b", "low", "Reasoning: low"),
    ("openai-gpt-oss-120b", "high", "Reasoning: high"),
    ("openai-gpt-oss-120b", "minimal", "Reasoning: low"),
    ("tencent-Hy3", "low", "reasoning_effort:low"),
    ("tencent-Hy3", "minimal", "reasoning_effort:low"),
    ("Kimi-K3", "low", "thinking_effort=low"),
    ("Kimi-K3", "medium", "thinking_effort=high"),
])
def test_an_effort_reaches_the_familys_own_levels(corpus, tokenizer, name, effort, expected):
    """A family whose template has effort levels gets the request's effort on them, in its own words, and
    no cap of thinkgate's stands in for it."""
    from _corpus import tokenizer_with

    from thinkgate.formats import get_format
    from thinkgate.types import Message, ThinkingSpec

    fmt = get_format(None, tokenizer_with(corpus[name], tokenizer))
    assert fmt.native_effort(effort)
    msgs = [Message(role="user", content="2+2?")]
    prompt = fmt.render(msgs, "think", ThinkingSpec(effort=effort))
    assert expected in prompt and expected not in fmt.render(msgs, "think")
    assert fmt.split(fmt.assistant_part(prompt) + "x" + fmt.close_tag + "4")[1] == "4"


def test_a_cap_reaches_seed_oss_as_its_own_thinking_budget(corpus, tokenizer):
    from _corpus import tokenizer_with

    from thinkgate.formats import get_format
    from thinkgate.types import Message, ThinkingSpec

    fmt = get_format(None, tokenizer_with(corpus["ByteDance-Seed-OSS"], tokenizer))
    msgs = [Message(role="user", content="2+2?")]
    assert not fmt.native_effort("low")
    assert "thinking budget, which is 128" in fmt.render(msgs, "think", ThinkingSpec(effort="low"))
    assert "thinking budget, which is 64" in fmt.render(msgs, "think", ThinkingSpec(budget=64, effort="low"))
    assert "thinking budget" not in fmt.render(msgs, "think", ThinkingSpec(effort="high"))


_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                            "parameters": {"type": "object", "properties": {
                                                "city": {"type": "string"}}, "required": ["city"]}}}]
_CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
         {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
             "name": "get_weather", "arguments": {"city": "Paris"}}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
         {"role": "assistant", "content": "Sunny.", "reasoning_content": "It said sunny."},
         {"role": "user", "content": "And tomorrow?"}]
_TEXT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
         {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "And tomorrow?"}]


def _outcome(render) -> tuple[str, str]:
    try:
        return "text", render()
    except Exception as e:  # noqa: BLE001 - a template's own refusal must be one both ways
        return "refused", type(e).__name__


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_template_renders_as_apply_chat_template_does(corpus, tokenizer, name):
    """The format renders through transformers' `render_jinja_template` with the template and special
    tokens worked out once (`ThinkingFormat._renderer`), and a conversation of text alone through the
    compiled template directly (`_direct`): the same text as `apply_chat_template`, with and without tools
    and a generation prompt, in each mode, or the same refusal."""
    import copy

    from thinkgate.errors import FormatError as Refused

    tok = copy.copy(tokenizer)  # a real tokenizer (its Rust vocabulary shared) with the template
    tok.chat_template = corpus[name]
    try:
        fmt = get_format(detect_format(tok), tok)
    except FormatError:
        pytest.skip("a template no family describes")
    assert fmt._renderer(False) is not None and fmt._renderer(True) is not None
    text_render = _direct(tok.get_chat_template(None, None), dict(tok.special_tokens_map))
    assert text_render is not None  # every template here renders a conversation of text directly
    for mode in ("think", "nothink"):
        for messages, tools in ((_CHAT[1:2], None), (_TEXT, None), (_TEXT, _TOOLS), (_CHAT, _TOOLS), (_CHAT, None)):
            for generation in (True, False):
                kw = fmt.kwargs_for(mode)
                ours = _outcome(lambda: fmt._apply([dict(m) for m in messages], mode, generation, tools=tools))
                theirs = _outcome(lambda: tok.apply_chat_template([dict(m) for m in messages], tokenize=False,
                                                                  add_generation_prompt=generation,
                                                                  **({"tools": tools} if tools else {}), **kw))
                if ours[0] == "refused":  # the format's FormatError, for whatever the template raised
                    assert ours[1] == Refused.__name__ and theirs[0] == "refused", (name, theirs)
                else:
                    assert ours == theirs, (name, mode, tools is not None, generation)
                if tools is None and messages is not _CHAT:  # text alone: the direct rendering itself, the same
                    direct = _outcome(lambda: text_render([dict(m) for m in messages], generation, kw))
                    assert direct == theirs, (name, mode, generation)
