"""Transformers backend: any causal-LM folder through `AutoModelForCausalLM.from_pretrained`
(`trust_remote_code` off), batched generation with a KV cache, stop strings, continuation from any
prefix, per-token log probabilities, and the hidden state at the end of a prompt. With sinks (see
`thinkgate.streaming`) each row's text is written to its sink token by token as it is generated, and a
row whose sink is cancelled stops at the next token."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..types import Generation
from .base import (FIRST_TOKEN_BAN, HIDDEN_STATE, LOGPROBS, RAW_PREFIX, SCORE, SELF_CERTAINTY, STREAM, Backend,
                   ContextOverflow, GenParams, ModelLoadError, scored)

_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def check_model_folder(path: Path) -> None:
    """Fail early, naming what is wrong, before transformers gives a less direct error."""
    if not path.exists():
        raise ModelLoadError(f"model folder {path} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"model path {path} is not a folder")
    config = path / "config.json"
    if not config.exists():
        raise ModelLoadError(f"model folder {path} has no config.json")
    try:
        json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"model folder {path}: config.json is not valid JSON ({e})") from None
    if not any((path / w).exists() for w in _WEIGHTS):
        raise ModelLoadError(f"model folder {path} has no weights (looked for {', '.join(_WEIGHTS)})")
    if not any((path / t).exists() for t in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")):
        raise ModelLoadError(f"model folder {path} has no tokenizer files")


SCORE_ROWS = 8  # rows per scoring pass (`HFBackend.score`)


class HFBackend(Backend):
    name = "hf"
    capabilities = frozenset({RAW_PREFIX, LOGPROBS, SELF_CERTAINTY, HIDDEN_STATE, STREAM, FIRST_TOKEN_BAN, SCORE})

    def __init__(self, path: str | Path, device: str | None = None, batch_size: int = 64, progress=None):
        """`path`: a model folder, or a GGUF file (converted once to a cached folder: see `backends.gguf`;
        `progress` is told when that happens)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .gguf import folder_for, is_gguf

        path = Path(path)
        source = path
        if is_gguf(path):
            path = folder_for(path, progress)
        check_model_folder(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
            self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        except Exception as e:  # transformers raises many types; name the folder and the cause
            raise ModelLoadError(f"model folder {path} could not be loaded: {type(e).__name__}: {e}") from e
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_id = str(source)
        self.batch_size = batch_size
        self.context_length = getattr(self.model.config, "max_position_embeddings", None)
        self.parameters = self.model.num_parameters()
        self._eos = {i for i in [self.tokenizer.eos_token_id, self.model.generation_config.eos_token_id]
                     for i in (i if isinstance(i, list) else [i]) if i is not None}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0

    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        from .sinks import sinks_for

        if sinks is None:
            sinks = sinks_for(prompts, params.n, params.draft)
        out: list[list[Generation]] = []
        params = scored(params)  # the logits are at hand: the answer is scored whenever it is wanted
        per_call = max(1, self.batch_size // params.n)
        each = params.n if sinks and len(sinks) == len(prompts) * params.n and params.n > 1 else 1  # a sink a sample
        for start in range(0, len(prompts), per_call):
            out.extend(self._generate(prompts[start:start + per_call], params,
                                      sinks[start * each:(start + per_call) * each] if sinks else None))
        return out

    def _generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        width = enc["input_ids"].shape[1]
        room = params.max_tokens
        if self.context_length is not None:  # positions past the context are garbage, or an error
            if width >= self.context_length:
                longest = int(enc["attention_mask"].sum(1).max())
                raise ContextOverflow(longest, self.context_length)
            room = min(room, self.context_length - width)
        n = params.n
        if n > 1:  # one row per (prompt, sample), prompt-major
            enc = {k: v.repeat_interleave(n, 0) for k, v in enc.items()}
        # decoding is greedy over what `RowSampler` leaves: with sampling, each row draws from a generator of
        # its own, so a row's tokens depend on its seed alone, never on the batch it shares
        kwargs: dict[str, Any] = dict(
            max_new_tokens=room, do_sample=False, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self._eos), return_dict_in_generate=True,
            temperature=None, top_p=None, top_k=None,  # the folder's sampling defaults must not leak in
        )
        processors = []
        recorder = _Recorder(params.top_logprobs) if params.logprobs else None
        if recorder is not None:  # first: it reads the distribution before sampling keeps one token
            processors.append(recorder)
        if params.temperature > 0:
            processors.append(RowSampler(params, len(prompts), self.device))
        if processors:
            kwargs["logits_processor"] = LogitsProcessorList(processors)
        criteria = [_stop_strings(self.tokenizer, params.stop, width)] if params.stop else []
        if params.ban_first:  # transformers' own processor masks these ids at the first generated position
            kwargs["begin_suppress_tokens"] = sorted({ids[0] for ids in self.tokenizer(
                params.ban_first, add_special_tokens=False)["input_ids"] if ids})
        if sinks and any(x is not None for x in sinks):
            rows = sinks if len(sinks) == len(prompts) * n else [sinks[r // n] for r in range(len(prompts) * n)]
            kwargs["streamer"] = _RowStreamer(self.tokenizer, rows, self._eos, params.stop, recorder)
            criteria += _cancelled_rows(rows)
        if criteria:
            kwargs["stopping_criteria"] = StoppingCriteriaList(criteria)
        with torch.inference_mode():
            res = self.model.generate(**enc, **kwargs)
        new = res.sequences[:, width:].tolist()
        scores = recorder.result(res.sequences[:, -1]) if recorder is not None else None

        rows: list[Generation] = []
        for r, ids in enumerate(new):
            n_tok, finish = len(ids), "length"
            for j, t in enumerate(ids):
                if t in self._eos or t == self.tokenizer.pad_token_id:  # pad: stopped by a stop string
                    n_tok, finish = j, "stop" if t in self._eos else "length"
                    break
            text = self.tokenizer.decode(ids[:n_tok], skip_special_tokens=False)
            matched = None
            hits = [(text.find(s), s) for s in params.stop if s in text]
            if hits:
                cut, matched = min(hits)
                # the tokens that wrote the text up to and including the stop string were generated
                n_tok = min(n_tok, self._tokens_covering(ids[:n_tok], cut + len(matched)))
                text, finish = text[:cut], "stop"
            gen = Generation(text=text, tokens=n_tok, finish_reason=finish, stop=matched, token_ids=ids[:n_tok])
            if scores is not None:
                chosen, top, top_ids, certainty, alt_lp, alt_ids = (x[r, :n_tok].tolist() for x in scores)
                gen.token_logprobs, gen.top_logprobs, gen.top_ids = chosen, top, top_ids
                gen.pieces = self.tokenizer.batch_decode([[t] for t in ids[:n_tok]], skip_special_tokens=False)
                gen.self_certainty = sum(certainty) / n_tok if n_tok else None
                if params.top_logprobs:
                    gen.alternatives = [list(zip(self.tokenizer.batch_decode([[t] for t in i], skip_special_tokens=False), v))
                                        for i, v in zip(alt_ids, alt_lp)]
            rows.append(gen)
        return [rows[i * n:(i + 1) * n] for i in range(len(prompts))]

    def _tokens_covering(self, ids: list[int], chars: int) -> int:
        """How many of `ids` it takes to write at least `chars` characters (stop-string accounting)."""
        for k in range(1, len(ids) + 1):
            if len(self.tokenizer.decode(ids[:k], skip_special_tokens=False)) >= chars:
                return k
        return len(ids)

    def score(self, prefixes: list[str], texts: list[str]) -> list[list[float]]:
        """log p of each token of `texts[i]` after `prefixes[i]` (one prefill pass per batch of `SCORE_ROWS`;
        the text is tokenized as it follows the prefix, so a token spanning the seam counts as the text's).
        Only the text's positions go through the output layer: a vocabulary of 150k tokens over a whole
        prompt would take gigabytes."""
        import torch

        out: list[list[float]] = []
        for start in range(0, len(prefixes), SCORE_ROWS):
            pre, txt = prefixes[start:start + SCORE_ROWS], texts[start:start + SCORE_ROWS]
            whole = self.tokenizer([p + t for p, t in zip(pre, txt)], add_special_tokens=False)["input_ids"]
            heads = self.tokenizer(pre, add_special_tokens=False)["input_ids"]
            width = max(map(len, whole))
            if width == 0:  # nothing to score
                out.extend([] for _ in whole)
                continue
            if self.context_length is not None and width > self.context_length:
                raise ContextOverflow(width, self.context_length)
            # where each row's text starts: the first token where the whole's tokens leave the prefix's own
            # (never 0: the first token has nothing before it to be scored against)
            seams = [max(1, next((k for k, (a, b) in enumerate(zip(w, h)) if a != b), min(len(h), len(w))))
                     for w, h in zip(whole, heads)]
            keep = max(len(w) - seam for w, seam in zip(whole, seams)) + 1  # positions whose logits are read
            pad = self.tokenizer.pad_token_id
            ids = torch.tensor([[pad] * (width - len(w)) + w for w in whole], device=self.device)
            mask = torch.tensor([[0] * (width - len(w)) + [1] * len(w) for w in whole], device=self.device)
            # positions count from each row's first real token, as generate's do
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=keep).logits.float()  # (rows, keep, vocab): the last positions
            lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, width - keep + 1:, None])[..., 0]
            for r, (w, seam) in enumerate(zip(whole, seams)):
                n = len(w) - seam  # the text's tokens: the last n of the row
                out.append(lp[r, lp.shape[1] - n:].tolist() if n else [])
        return out

    def last_hidden_state(self, prompts: list[str]):
        """The final layer's hidden state at the last prompt token, one row per prompt (one prefill pass)."""
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            out = self.model(**enc, output_hidden_states=True)
        return out.hidden_states[-1][:, -1, :].float().cpu()


class _Recorder:
    """A logits processor that records, at each step, what the log probabilities need, and nothing more:
    the distribution's log p (log-softmax of the scores it is given: the model's, after the processors
    transformers runs first — the bans of forced thinking, a repetition penalty the model folder's generation
    config sets — and before temperature and sampling) of the token chosen, of the most likely token, the mean log p
    over the vocabulary (for the self-certainty), and the `k` most likely tokens. It must come before any
    processor that changes the distribution (`RowSampler`).

    Written here because transformers' `output_logits` keeps every step's whole logits until `generate`
    returns: rows x steps x vocabulary floats, 39 GB for 64 rows of 1,000 tokens over a 152k vocabulary.
    This keeps one step's log probabilities (to read the chosen token's once the next step shows it) and a
    few numbers per row and step."""

    def __init__(self, k: int):
        self.k = k
        self.last = None  # the previous step's log probabilities (rows, vocab)
        self.steps: list = []  # per step: (top, top id, mean log p, k log p, k ids); the chosen's log p below
        self.chosen: list = []

    def __call__(self, input_ids, scores):
        import torch

        if self.last is not None:  # the token the previous step chose is the last of input_ids
            self.chosen.append(self.last.gather(-1, input_ids[:, -1:])[:, 0])
        lp = torch.log_softmax(scores.float(), -1)
        top = lp.max(-1)
        finite = torch.isfinite(lp)  # a banned token is -inf: the mean is over the others
        mean = torch.where(finite, lp, 0.0).sum(-1) / finite.sum(-1)
        alt = lp.topk(self.k, -1) if self.k else None
        self.steps.append((top.values, top.indices, -mean - math.log(lp.shape[-1]),
                           alt.values if alt is not None else None, alt.indices if alt is not None else None))
        self.last = lp
        return scores

    def entry(self, row: int, token: int) -> tuple[float, list[tuple[int, float]]]:
        """The last step's log p of `token` in `row`, and its `k` most likely (id, log p): for a stream."""
        alts = []
        if self.k:
            _, _, _, v, i = self.steps[-1]
            alts = list(zip(i[row].tolist(), v[row].tolist()))
        return float(self.last[row, token]), alts

    def result(self, final):
        """(chosen log p, top log p, top id, certainty term, k log p, k ids), each (rows, steps); `final` is
        the last token of each row (the last step's choice)."""
        import torch

        chosen = self.chosen + [self.last.gather(-1, final[:, None].to(self.last.device))[:, 0]]
        rows = len(final)
        empty = torch.zeros(rows, len(self.steps), 0)
        return (torch.stack(chosen, 1), torch.stack([s[0] for s in self.steps], 1),
                torch.stack([s[1] for s in self.steps], 1), torch.stack([s[2] for s in self.steps], 1),
                torch.stack([s[3] for s in self.steps], 1) if self.k else empty,
                torch.stack([s[4] for s in self.steps], 1) if self.k else empty.long())


class RowSampler:
    """Sampling as a logits processor, one `torch.Generator` per row: row (prompt i, sample k) is seeded with
    `seed + k` (a random seed when the request has none), so the same request gives the same tokens alone or
    in any batch, and no process-wide seed is touched. Temperature, top-k and top-p are transformers' own
    warpers; what is returned keeps only the drawn token, for greedy decoding to take.

    Written here because transformers' `generate` draws every row of a batch from one global generator
    (`torch.multinomial` without a generator), which makes a row's sample depend on its batch."""

    def __init__(self, params: GenParams, prompts: int, device: str):
        import torch
        from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        self.warpers = [TemperatureLogitsWarper(params.temperature)]
        if params.top_k:
            self.warpers.append(TopKLogitsWarper(params.top_k))
        if params.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(params.top_p))
        self.generators = []
        for _ in range(prompts):
            for k in range(params.n):
                g = torch.Generator(device=device)
                if params.seed is None:
                    g.seed()
                else:
                    g.manual_seed((params.seed + k) % 2**64)
                self.generators.append(g)

    def __call__(self, input_ids, scores):
        import torch

        for warp in self.warpers:
            scores = warp(input_ids, scores)
        probs = torch.softmax(scores.float(), -1)
        drawn = torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self.generators)])
        out = torch.full_like(scores, -math.inf)
        out[torch.arange(len(drawn)), drawn] = 0.0
        return out


def _stop_strings(tokenizer, stop: list[str], width: int):
    """A stopping criterion that ends each row once the text it generated (after the first `width` ids)
    holds one of `stop`; `_generate` then cuts the text at the match.

    Written here because transformers' `StopStringCriteria` reads the whole vocabulary for every new set of
    stop strings: 1.1 s each on a 152k-token vocabulary (profiled on the template corpus's end-to-end test,
    9 sets in 10.3 s), which budget forcing pays for each family's closing tag and a server for every
    request with a `stop` list it has not seen. Here each step costs one small decode per row: the last
    token's text is looked at, and only a row whose last token holds a stop string's last character has its
    recent text decoded (enough tokens for the longest stop string, at up to 4 byte tokens a character) and,
    when that holds a stop string, its whole generated text, so a row is never stopped early."""
    import torch
    from transformers import StoppingCriteria

    ends = {s[-1] for s in stop if s}
    window = 4 * max(len(s) for s in stop) + 8
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=False)  # noqa: E731
    may_end: dict[int, bool] = {}  # token id -> whether its text may end a stop string

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids, scores, **kw):
            length = input_ids.shape[1]
            done = [False] * input_ids.shape[0]
            if length > width:
                for r, token in enumerate(input_ids[:, -1].tolist()):
                    if token not in may_end:
                        piece = decode([token])
                        may_end[token] = not ends.isdisjoint(piece) or not piece.isascii()
                    if may_end[token] and any(x in decode(input_ids[r, max(width, length - window):].tolist())
                                              for x in stop):
                        done[r] = any(x in decode(input_ids[r, width:].tolist()) for x in stop)
            return torch.tensor(done, device=input_ids.device)

    return StopStrings()


def _cancelled_rows(sinks: list):
    """A stopping criterion that ends the rows whose sink was cancelled (the others go on)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kw):
            return torch.tensor([s is not None and s.cancelled for s in sinks], device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


class _RowStreamer:
    """Receives each step's new token per row from `generate` and writes the decoded text to the row's sink:
    one write per token (possibly empty while a multi-byte character or a possible stop string is
    incomplete), none after end-of-sequence or a stop string; stop strings themselves are not written. With
    log probabilities, the token's (`sinks.Scored`) go with each write to a live sink, or to one that wants
    them (`wants_scores`) though it shows nothing."""

    def __init__(self, tokenizer: Any, sinks: list, eos: set[int], stop: list[str], recorder: _Recorder | None = None):
        self.tokenizer, self.sinks, self.eos, self.stop = tokenizer, sinks, eos, stop
        self.recorder = recorder  # where each token's log probability is read, for the sink
        self.ids: list[list[int]] = [[] for _ in sinks]
        self.sent = [0] * len(sinks)
        self.done = [s is None for s in sinks]
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            return
        for r, t in enumerate(value.reshape(len(self.sinks), -1)[:, -1].tolist()):
            if self.done[r]:
                continue
            sink = self.sinks[r]
            if t in self.eos or sink.cancelled:
                self.done[r] = True
                continue
            live = getattr(sink, "live", True)
            scored = None
            if self.recorder is not None and getattr(sink, "wants_scores", live):
                lp, alts = self.recorder.entry(r, t)
                names = self.tokenizer.batch_decode([[t]] + [[i] for i, _ in alts], skip_special_tokens=False)
                scored = (names[0], lp, list(zip(names[1:], (v for _, v in alts))))
            if not live:  # speculative (samples, probes): count, do not decode
                sink.write("", scored and [scored])
                continue
            self.ids[r].append(t)
            text = self.tokenizer.decode(self.ids[r], skip_special_tokens=False)
            end = len(text)
            hits = [text.find(s) for s in self.stop if s in text]  # earlier text had none: it would be done
            if hits:
                end, self.done[r] = min(hits), True
            else:
                while end and text[end - 1] == "\ufffd":
                    end -= 1
                for s in self.stop:  # hold back what may be the start of a stop string
                    for k in range(min(len(s) - 1, end), 0, -1):
                        if text[:end].endswith(s[:k]):
                            end -= k
                            break
            piece = text[self.sent[r]:end] if end > self.sent[r] else ""
            self.sent[r] = max(self.sent[r], end)
            sink.write(piece, scored and [scored])

    def end(self) -> None:
        pass
