"""The backend contract: continue raw text from any prefix.

Strategies pause, inject text (a budget stop, a "Wait", a probe) and continue, so a backend continues a
raw prompt rather than only answering chats. It batches where the engine batches. What it cannot do it
says through `capabilities`, and `require` turns a missing one into a clear error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from ..errors import ContextOverflow, MissingCapability, ModelLoadError  # noqa: F401 - raised by backends
from ..types import Generation, Temperature, _Strict, check_text

RAW_PREFIX = "raw_prefix"  # continues arbitrary text (needed for injection)
LOGPROBS = "logprobs"  # per-token log probabilities
SELF_CERTAINTY = "self_certainty"  # with logprobs, Generation.self_certainty (the whole distribution's KL)
HIDDEN_STATE = "hidden_state"  # exposes the model's hidden state at the end of a prompt
STREAM = "stream"  # writes tokens to `thinkgate.streaming` sinks as they are generated
FIRST_TOKEN_BAN = "first_token_ban"  # honours GenParams.ban_first
SCORE = "score"  # `score(prefixes, texts)`: log p of given text after a prefix (one prefill, nothing generated)


class GenParams(_Strict):
    max_tokens: int = Field(default=256, ge=1)
    stop: list[str] = Field(default_factory=list)  # (a factory: a list default is deep-copied per instance)
    temperature: Temperature = 0.0
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0)
    n: int = Field(default=1, ge=1)
    # log probabilities of the chosen tokens are needed: the request asked for them, or the strategy decides by them
    logprobs: bool = False
    top_logprobs: int = Field(default=0, ge=0, le=20)  # with logprobs: this many alternatives per token
    # the answer's confidence is wanted (`thinkgate.confidence`): log probabilities where they cost nothing
    # more (a local model's logits are at hand); an engine returns them only when its backend is told to score
    # every answer (they slow an engine down: llama-cpp-python's server 2.7x, vLLM about 17%); see `scored`
    score: bool = False
    # a continuation the strategy may throw away (a probe, a draft): a stream does not show it live
    draft: bool = False
    seed: int | None = None
    # the first generated token may not be the first token of any of these texts (forced thinking: see
    # ThinkingFormat.forced_thinking); a backend without FIRST_TOKEN_BAN generates as if it were empty
    ban_first: list[str] = Field(default_factory=list)

    @field_validator("stop", "ban_first")
    @classmethod
    def _text(cls, v: list[str]) -> list[str]:
        return check_text(v, "a stop string")


def scored(params: GenParams, free: bool = True) -> GenParams:
    """The call's parameters with log probabilities asked for where the answer's confidence is wanted
    (`score`) and they are `free` for this backend."""
    if params.score and free and not params.logprobs:
        return params.model_copy(update={"logprobs": True})
    return params


def fast_token_counts(tokenizer: Any, texts: list[str]) -> list[int] | None:
    """Token counts (no special tokens added) of `texts` by the Rust tokenizer behind a transformers fast
    tokenizer, in one batch call (which releases the interpreter lock); None when there is no such one.

    transformers leaves padding switched on in that tokenizer after a padded call (a batched generate makes
    one), and a batch call then pads every text to the longest: what counts is the attention mask, which
    marks the real tokens whatever padding is in force."""
    fast = getattr(tokenizer, "_tokenizer", None)
    if fast is None:
        return None
    todo = [t for t in texts if t]
    encoded = fast.encode_batch(todo, add_special_tokens=False) if todo else []
    counts = iter([sum(e.attention_mask) for e in encoded])
    return [next(counts) if t else 0 for t in texts]


def load_tokenizer(folder: str | Path, option: str = "--tokenizer") -> Any:
    """The tokenizer (and chat template) of a model's tokenizer folder, for a backend that has no weights
    here (an engine upstream); `ModelLoadError` naming the folder, and the command-line `option` that gave
    it, when it is not a folder or cannot be loaded."""
    from transformers import AutoTokenizer

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"{option} {path} is not a folder (the model's tokenizer and chat template)")
    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as e:  # noqa: BLE001 - transformers raises many types; name the folder and the cause
        raise ModelLoadError(f"tokenizer folder {path} could not be loaded: {type(e).__name__}: {e}") from e


def tokenizer_counts(tokenizer: Any, texts: list[str]) -> list[int]:
    """Token counts of `texts` by a transformers tokenizer: its Rust tokenizer in one batch call where it has
    one (`fast_token_counts`), else one call a text."""
    counts = fast_token_counts(tokenizer, texts)
    if counts is not None:
        return counts
    return [len(tokenizer(t, add_special_tokens=False)["input_ids"]) if t else 0 for t in texts]


class Backend(ABC):
    name: ClassVar[str]
    capabilities: frozenset[str] = frozenset()
    model_id: str = ""
    tokenizer: Any = None  # a transformers tokenizer when the backend has one (needed for chat formats)
    context_length: int | None = None  # the most positions the model takes (prompt + output); None: unknown
    parameters: int | None = None  # the model's parameter count where the backend knows it (cost figures)

    @abstractmethod
    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        """For each prompt, `params.n` continuations. Stop strings are cut from the returned text. `sinks`
        (capability `stream`): where each token is written as it is generated (`backends/sinks.py`), one per
        prompt, or one per (prompt, sample), prompt-major, for samples that stop on their own (a sink that is
        cancelled ends its row); None: the calling thread's stream's, where there is one."""

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    def score(self, prefixes: list[str], texts: list[str]) -> list[list[float]]:
        """log p of each token of `texts[i]` as the model would continue `prefixes[i]` with it (capability
        `score`)."""
        raise MissingCapability(f"backend {self.name!r} cannot score given text (capability {SCORE!r})")

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """`count_tokens` of each text, in one call of the Rust tokenizer when the backend has a fast one:
        its batch call releases the interpreter lock while it works, which a server counting a finished
        request's thought (a thousand characters can take a millisecond here) needs (see
        OpenAICompatBackend)."""
        counts = fast_token_counts(self.tokenizer, texts)
        return counts if counts is not None else [self.count_tokens(t) for t in texts]

    def check_context(self, prompts: list[str]) -> None:
        """Raise `ContextOverflow` for the first prompt that leaves no room to generate in the model's
        context. A backend whose context is unknown checks nothing (the engine answers for itself).

        Only prompts that could be too long are tokenized (this runs before every generate call of a
        server's requests, and the backend tokenizes the prompt again to generate): a token covers at least
        one byte of UTF-8 text, so a prompt of fewer bytes than the context (less one, for a tokenizer's
        prefix token) fits."""
        if self.context_length is None:
            return
        long = [p for p in prompts if len(p.encode("utf-8", "surrogatepass")) + 1 >= self.context_length]
        for n in self.count_tokens_many(long) if long else []:
            if n >= self.context_length:
                raise ContextOverflow(n, self.context_length)

    def require(self, capability: str, who: str) -> None:
        if capability not in self.capabilities:
            raise MissingCapability(f"{who} needs the backend capability {capability!r}, which backend "
                                    f"{self.name!r} ({self.model_id}) does not have")
