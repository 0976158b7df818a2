"""llama.cpp backend: a GGUF model run in-process by llama.cpp (through llama-cpp-python), quantized as it
is, at llama.cpp's speed on a CPU. Continuation from any prefix, stop strings, seeded sampling, per-token
log probabilities and the model's self-certainty, a banned first token, and streaming to sinks.

llama.cpp evaluates the prompt and each new token; thinkgate reads the last position's logits and chooses
the next token itself (greedy below temperature 1e-5, else temperature, top-k and top-p with a NumPy
generator seeded per request). llama-cpp-python's own generation loop is not used: its custom logit hook
is marked as probably broken in its source, and its log probabilities need `logits_all`, which keeps the
logits of every position (context × vocabulary floats: 805 MB for SmolLM2-135M at a 4096-token context);
reading the one row that sampling needs costs a 49k-float softmax per token, about 0.2 ms here against
the model's 8 ms forward pass.

The model holds one sequence: prompts are generated one after the other (a lock keeps concurrent
callers, the server's threads, apart), and a prompt that shares a prefix with the previous one (budget
forcing continues its own text; a bench runs one template) evaluates only what differs, through
llama.cpp's KV cache. Prompt text is tokenized with special tokens parsed (the chat template's markup)
and no BOS added: the template writes its own.

The tokenizer and chat template thinkgate renders with come from the same file, converted once by
transformers' GGUF reader (`backends.gguf.folder_for(..., weights=False)`).
"""

from __future__ import annotations

import codecs
import math
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from ..types import Generation
from .base import (FIRST_TOKEN_BAN, LOGPROBS, RAW_PREFIX, SELF_CERTAINTY, STREAM, Backend, ContextOverflow, GenParams,
                   ModelLoadError, scored)
from .gguf import check_gguf, folder_for
from .llamacpp_check import check_build

DEFAULT_CONTEXT = 8192  # positions allocated by default (the KV cache's memory grows with it)


class LlamaCppBackend(Backend):
    name = "llamacpp"
    capabilities = frozenset({RAW_PREFIX, LOGPROBS, SELF_CERTAINTY, STREAM, FIRST_TOKEN_BAN})

    def __init__(self, path: str | Path, context: int | None = None, threads: int | None = None, progress=None):
        """`path`: a GGUF file. `context`: positions to allocate (default 8192, never used past the model's own);
        `threads`: llama.cpp's threads (default: the CPU's cores)."""
        try:
            import llama_cpp
        except ImportError:
            raise ModelLoadError("the llama.cpp backend needs llama-cpp-python: pip install 'llama-cpp-python'") from None
        from transformers import AutoTokenizer

        path = Path(path).expanduser()
        check_gguf(path)
        check_build(path, llama_cpp)  # a build that would kill this process is refused, not run
        self._llama_cpp = llama_cpp
        try:
            self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=context or DEFAULT_CONTEXT,
                                       n_threads=threads or os.cpu_count(), n_batch=512, verbose=False)
        except Exception as e:  # noqa: BLE001 - llama.cpp reports a bad file as a ValueError or a RuntimeError
            raise ModelLoadError(f"GGUF file {path} could not be loaded by llama.cpp: {type(e).__name__}: {e}") from e
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder_for(path, progress, weights=False)))
        self.model_id = str(path)
        # positions past what the model was trained on are garbage: the smaller of the two
        self.context_length = min(self.llm.n_ctx(), self.llm._model.n_ctx_train() or self.llm.n_ctx())
        self._vocab = self.llm._model.vocab
        self.parameters = int(llama_cpp.llama_model_n_params(self.llm._model.model))
        self._n_vocab = self.llm.n_vocab()
        self._lock = threading.Lock()
        # free the model while the interpreter can still run llama-cpp-python's own clean-up (at exit its
        # module globals are gone and its finalizer fails noisily)
        weakref.finalize(self, self.llm.close)

    # ---- tokens ----------------------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) if text else []

    def count_tokens(self, text: str) -> int:
        return len(self._encode(text))

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]

    def _eog(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self._vocab, token))

    # ---- generation ------------------------------------------------------------------------------------
    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        from .sinks import sinks_for

        if sinks is None:
            sinks = sinks_for(prompts, params.n, params.draft)
        sinks = sinks or [None] * len(prompts)
        params = scored(params)  # the logits are at hand: the answer is scored whenever it is wanted
        each = len(sinks) == len(prompts) * params.n and params.n > 1  # a sink a sample (else a sink a prompt)
        banned = sorted({ids[0] for ids in map(self._encode, params.ban_first) if ids})
        out = []
        for i, prompt in enumerate(prompts):
            ids = self._encode(prompt)
            if len(ids) >= self.context_length:
                raise ContextOverflow(len(ids), self.context_length)
            row = []
            for k in range(params.n):
                sink = sinks[i * params.n + k] if each else sinks[i]
                seed = None if params.seed is None else params.seed + k
                rng = np.random.default_rng(seed)
                with self._lock:
                    row.append(self._one(ids, params, rng, banned, sink))
                if sink is not None and sink.cancelled and not each:
                    break
            out.append(row)
        return out

    def _start(self, ids: list[int]) -> None:
        """Evaluate `ids`, reusing the KV cache for the prefix it shares with what was evaluated last (at
        least the last token is evaluated again, for its logits)."""
        llm = self.llm
        shared = 0
        for a, b in zip(llm.input_ids[:llm.n_tokens], ids):
            if a != b:
                break
            shared += 1
        llm.n_tokens = min(shared, len(ids) - 1)  # eval() drops the cache from here on
        llm.eval(ids[llm.n_tokens:])

    def _logits(self) -> np.ndarray:
        ptr = self.llm._ctx.get_logits()
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64)

    def _one(self, ids: list[int], params: GenParams, rng, banned: list[int], sink) -> Generation:
        self._start(ids)
        room = min(params.max_tokens, self.context_length - len(ids))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        out_ids: list[int] = []
        text = ""
        chosen_lp: list[float] = []
        top_lp: list[float] = []
        top_ids: list[int] = []
        certainty: list[float] = []
        pieces: list[str] = []
        alternatives: list[list[tuple[str, float]]] = []
        scored = None  # the last token as a stream is told it (`sinks.Scored`)
        finish, matched = "length", None
        hold = max((len(s) - 1 for s in params.stop), default=0)  # text that may still become a stop string
        sent = 0
        owed: str | None = None  # the last token's piece: written with the next token, or with the rest at the end
        for step in range(room):
            logits = self._logits()
            if step == 0 and banned:
                logits[banned] = -np.inf
            token = self._choose(logits, params, rng)
            if self._eog(token):
                finish = "stop"
                break
            raw = self.llm.detokenize([token], prev_tokens=None, special=True)  # its bytes, read once
            if params.logprobs:
                logp = logits - _logsumexp(logits)
                chosen_lp.append(float(logp[token]))
                top_ids.append(int(np.argmax(logp)))
                top_lp.append(float(logp[top_ids[-1]]))
                finite = np.isfinite(logp)
                certainty.append(float(-logp[finite].mean() - math.log(self._n_vocab)))
                pieces.append(raw.decode("utf-8", errors="replace"))
                alts = []
                if params.top_logprobs:
                    best = np.argpartition(-logp, params.top_logprobs)[:params.top_logprobs]
                    best = best[np.argsort(-logp[best], kind="stable")]
                    alts = [(self._piece(int(i)), float(logp[i])) for i in best]
                    alternatives.append(alts)
                scored_now = (pieces[-1], chosen_lp[-1], alts)
            out_ids.append(token)
            text += decoder.decode(raw)
            hits = [(text.find(s), s) for s in params.stop if s in text]
            if hits:
                cut, matched = min(hits)
                text, finish = text[:cut], "stop"
            if sink is not None:  # one write per generated token (the server counts them), held-back text later
                if owed is not None:
                    sink.write(owed, scored and [scored])
                ready = len(text) if matched else max(sent, len(text) - hold)
                owed, sent = text[sent:ready], ready
                scored = scored_now if params.logprobs else None
                if sink.cancelled:
                    break
            if matched:
                break
            if step + 1 < room:
                self.llm.eval([token])
        text += decoder.decode(b"", final=True) if not matched else ""
        if sink is not None and owed is not None and not sink.cancelled:
            sink.write(owed + text[sent:], scored and [scored])
        gen = Generation(text=text, tokens=len(out_ids), finish_reason=finish, stop=matched, token_ids=out_ids)
        if params.logprobs:
            gen.token_logprobs, gen.top_logprobs, gen.top_ids = chosen_lp, top_lp, top_ids
            gen.pieces = pieces
            gen.alternatives = alternatives if params.top_logprobs else None
            gen.self_certainty = sum(certainty) / len(certainty) if certainty else None
        return gen

    def _piece(self, token: int) -> str:
        """One token's text (a part of a character shows as U+FFFD)."""
        return self.llm.detokenize([token], prev_tokens=None, special=True).decode("utf-8", errors="replace")

    @staticmethod
    def _choose(logits: np.ndarray, params: GenParams, rng) -> int:
        if params.temperature <= 0:
            return int(np.argmax(logits))
        z = logits / params.temperature
        if params.top_k:
            kth = np.partition(z, -params.top_k)[-params.top_k]
            z = np.where(z < kth, -np.inf, z)
        p = np.exp(z - z.max())
        p /= p.sum()
        if params.top_p < 1.0:
            order = np.argsort(-p)
            keep = np.cumsum(p[order]) - p[order] < params.top_p  # the smallest set reaching top_p
            mask = np.zeros_like(p, dtype=bool)
            mask[order[keep]] = True
            p = np.where(mask, p, 0.0)
            p /= p.sum()
        return int(rng.choice(len(p), p=p))


def _logsumexp(x: np.ndarray) -> float:
    m = x[np.isfinite(x)].max()
    return float(m + np.log(np.exp(x - m).sum()))
