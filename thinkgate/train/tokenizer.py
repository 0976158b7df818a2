"""Build the embedded model's tokenizer with the `tokenizers` library.

Byte-level BPE: the 256-byte base alphabet encodes any text (every printable ASCII character, and more),
so any prompt or injected phrase has tokens. Digits are always single tokens (arithmetic stays learnable
digit by digit), and every newline is its own token, so that a prompt ending in "\\n\\n" tokenizes the same
alone as inside a longer text: a continuation from a raw prefix sees the tokens training saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
CHAT_TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 640) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\n"), behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=50,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def save_hf_tokenizer(tok: Tokenizer, folder: str | Path) -> None:
    """Save as a fast tokenizer that `AutoTokenizer.from_pretrained` loads, with the chat template."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<think>", "</think>"],
        chat_template=CHAT_TEMPLATE_PATH.read_text(), model_max_length=1024,
        padding_side="left", clean_up_tokenization_spaces=False,
    )
    hf.save_pretrained(str(folder))
