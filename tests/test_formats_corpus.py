"""Every chat template of llama.cpp's collection (the pinned llama-cpp-python source distribution, fetched
through pip and cached): detected as its family, rendered in each mode, its output split complete,
truncated and streamed, and run end to end; a template with reasoning markup no family describes is an
error, never served as a model without thinking."""

import pytest
from _corpus import EXPECTED, check, end_to_end, templates

from thinkgate.formats import FormatError, detect_format


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
