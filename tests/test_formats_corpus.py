"""Every chat template of llama.cpp's collection (the pinned llama-cpp-python source distribution, fetched
through pip and cached): detected as its family, rendered in each mode, its output split complete,
truncated and streamed; templates of families not rendered yet are refused by name."""

import pytest
from _corpus import EXPECTED, check, templates

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


def test_a_loose_word_does_not_make_a_family(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = ("{% for m in messages %}{{ m.role|capitalize }}: {{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}Assistant:{% endif %}")
    assert detect_format(tok) == "none"
    tok.chat_template = "{{ '<think>' }}{% for m in messages %}{{ m.content }}{% endfor %}"  # no closing tag
    with pytest.raises(FormatError, match="reasoning markup.*--format"):
        detect_format(tok)
