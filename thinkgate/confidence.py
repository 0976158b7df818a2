"""Which generated tokens wrote an answer, and the answer's confidence.

`Result.confidence` has one definition for every backend and strategy (`types.confidence_of`): the geometric
mean of the probabilities of the tokens the model generated for its answer, exp(mean log p). Those tokens
are the ones whose text comes after the thought's end tag in the assistant turn (the first end tag, as
`ThinkingFormat.split` reads a turn; for a model without a thinking mode, every token), from the first that
writes more than whitespace (the line breaks after an end tag are a format, not an answer). The end tag's own
tokens, the thought, and text a strategy injected (which no model generated) are not counted; the answer's
markup a family writes after the end tag (gpt-oss's final channel header) is. Where a stop string ended
the answer, the tokens end with the one that wrote the answer's last character.

The log p are the backend's: of the token under the model's distribution before the request's temperature,
top-p and top-k (after the model folder's own processors, such as a repetition penalty its generation config
sets, and the bans of forced thinking; the engines report theirs the same way), so a sampled answer's
confidence reads the model, not the sampler. None where
the backend gave no log probabilities, or no answer was written (a thought that never closed)."""

from __future__ import annotations

from .formats import ThinkingFormat
from .types import Generation, TokenLogprob, TopLogprob


def answer_tokens(fmt: ThinkingFormat, before: str, gens: list[Generation]) -> list[tuple[Generation, int]] | None:
    """The answer's tokens among `gens`, the generations that wrote the end of an assistant turn (in order)
    after the turn's text `before` (its prefill and whatever came before them): (generation, index of its
    token) pairs, in order. None where a generation has no log probabilities or token texts, or the turn has
    no answer (the thought never closed)."""
    if not gens or any(g.token_logprobs is None or g.pieces is None for g in gens):
        return None
    tag = fmt.close_tag if fmt.has_thinking else ""
    answering = not tag or tag in before
    seen = before[-len(tag):] if tag else ""
    out = []
    for g in gens:
        for k, piece in enumerate(g.pieces):
            if answering:
                out.append((g, k))
            else:
                seen = (seen + piece)[-(len(tag) + len(piece)):]
                answering = tag in seen
    if not answering:  # no end tag: an answer only where no thought was ever opened
        whole = before + "".join(p for g in gens for p in g.pieces)
        if fmt.open_tag in whole or fmt.untagged_is_reasoning:
            return None
        out = [(g, k) for g in gens for k in range(len(g.pieces))]
    lead = next((j for j, (g, k) in enumerate(out) if g.pieces[k].strip()), len(out))
    return out[lead:]  # the whitespace before the answer's first character is not the answer's (`split` strips it)


def score_answer(fmt: ThinkingFormat, before: str, gens: list[Generation], top: int | None,
                 cut: int | None = None) -> tuple[float | None, list[TokenLogprob] | None]:
    """(the answer's confidence, its tokens as `Result.logprobs` with `top` alternatives each, or None where
    `top` is None). `cut`: the answer's length where a stop string ended it: the tokens end with the one that
    writes its last character (those after it wrote what the answer does not hold)."""
    from .types import confidence_of

    tokens = answer_tokens(fmt, before, gens)
    if tokens is None:
        return None, ([] if top is not None else None)
    if cut is not None:
        text, kept = "", []
        for g, k in tokens:
            if len(text.strip()) >= cut:
                break
            text += g.pieces[k]
            kept.append((g, k))
        tokens = kept
    conf = confidence_of([g.token_logprobs[k] for g, k in tokens])
    if top is None:
        return conf, None
    return conf, [TokenLogprob(token=g.pieces[k], logprob=g.token_logprobs[k],
                               top=[TopLogprob(token=t, logprob=v) for t, v in
                                    (g.alternatives[k][:top] if g.alternatives and k < len(g.alternatives) else [])])
                  for g, k in tokens]



def chat_answer_logprobs(choice: dict, out: list[float], answer: str | None = None) -> list[float]:
    """`out` extended by the log p an engine returned for its chat answer's tokens in `choice` (OpenAI's
    `choices[].logprobs.content`, asked by the client), from the first token that writes more than whitespace
    (`answer_tokens`' rule); a streamed answer's chunks extend the same list (give only those that carry
    answer text: an engine with a reasoning parser may list the thought's tokens too). `answer`: the whole
    answer's text, for a whole response: only the last entries, those that write it, are read.
    `types.confidence_of(out)` is the answer's confidence."""
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    entries = lp.get("content") if isinstance(lp, dict) else None
    entries = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    if answer is not None:  # the entries that write the answer: counted back from the end
        text, start = "", len(entries)
        while start > 0 and len(text.strip()) < len(answer.strip()):
            start -= 1
            text = str(entries[start].get("token", "")) + text
        entries = entries[start:] if answer.strip() else []
    for e in entries:
        x = e.get("logprob")
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            continue
        if out or str(e.get("token", "")).strip():
            out.append(float(x))
    return out
