"""`early_exit`: stop thinking once a trial answer is confident (DEER, Yang et al. 2025).

The model thinks until it writes a transition word ("Wait" by default). There the strategy pauses, closes
the thought with a probe (`</think>` and the answer prefix), and greedily decodes a short trial answer.
Its confidence is the mean over the trial answer's tokens of the most likely token's probability. At or
above `threshold` the thought ends there and the trial answer is the answer; below it the probe is thrown
away, the transition word is put back, and thinking goes on. At most `max_probes` probes per request.

Parameters (defaults): `threshold` (0.95, the paper's), `max_probes` (10), `words` ("Wait"; the paper also
uses "Alternatively"), `probe_tokens` (24: the longest trial answer decoded), `probe` ("" — for
`<think>` formats the probe is the end tag itself; the paper's "**Final Answer**" prefix can be set here).
Chosen where the paper is silent: a trial answer that does not finish within `probe_tokens` counts as not
confident; probing is skipped once fewer than `probe_tokens` tokens of the request budget are left; a thought
the model closes itself is answered with what is left of `max_tokens` (none left: an empty answer cut by
length), so a request never gets more tokens than it asked for.
"""

from __future__ import annotations

import math
import time

from pydantic import Field

from ..backends.base import LOGPROBS, RAW_PREFIX
from ..types import Generation, TraceEvent
from .base import (Params, Strategy, assistant_prefill, finish, gen_params, generate_forced, group_indices,
                   require_thinking)


class EarlyExitParams(Params):
    threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    max_probes: int = Field(default=10, ge=0)
    words: str = "Wait"  # several separated by |
    probe_tokens: int = Field(default=24, ge=1)
    probe: str = ""


class EarlyExit(Strategy):
    name = "early_exit"
    LOOPS = ("max_probes",)
    TOKENS = ("probe_tokens",)
    Params = EarlyExitParams

    def run_batch(self, requests, backend, fmt):
        backend.require(RAW_PREFIX, "strategy 'early_exit'")
        backend.require(LOGPROBS, "strategy 'early_exit'")
        require_thinking(fmt, "strategy 'early_exit'")
        p = self.params
        words = [w for w in p.words.split("|") if w]
        started = time.time()
        close = fmt.close_tag
        prompts = [fmt.render(r.messages, "think", r.thinking, r.tools) for r in requests]
        prefills = [assistant_prefill(fmt, pr, r, "think") for pr, r in zip(prompts, requests)]
        texts = [""] * len(requests)  # what follows the prompt (and its prefill) so far
        written = [0] * len(requests)
        probes = [0] * len(requests)
        traces: list[list[TraceEvent]] = [[] for _ in requests]
        answers: dict[int, tuple[str, int, str, Generation | None]] = {}  # i -> (answer text, tokens, finish, gen)
        open_ = list(range(len(requests)))
        while open_:
            # think until a transition word, the end tag, or the request's budget
            gens = generate_forced(backend, fmt, [prompts[i] + texts[i] for i in open_],
                                   gen_params(requests[open_[0]], max_tokens=max(1, min(
                                       requests[i].sampling.max_tokens - written[i] for i in open_)),
                                              stop=words + [close]))
            paused, nxt = [], []
            for i, g in zip(open_, gens):
                gen = g[0]
                texts[i] += gen.text
                written[i] += gen.tokens
                room = requests[i].sampling.max_tokens - written[i]
                hit_word = gen.stop in words
                if gen.finish_reason == "length" and room > 0:
                    nxt.append(i)  # the shared cap cut it; keep thinking
                elif hit_word and probes[i] < p.max_probes and room > p.probe_tokens:
                    paused.append(i)
                elif hit_word and room > 0:
                    texts[i] += words[0]
                    nxt.append(i)
                elif gen.finish_reason == "stop":
                    texts[i] += close  # the model closed its thought itself
                    answers[i] = ("", 0, "", None)
                # else: out of budget inside thinking; stays unclosed
            if paused:
                probe_texts = [prompts[i] + texts[i].rstrip() + "\n" + close + "\n\n" + p.probe for i in paused]
                pgens = backend.generate(probe_texts, gen_params(requests[paused[0]], max_tokens=p.probe_tokens,
                                                                 draft=True, decides=True).model_copy(update={"temperature": 0.0}))
                for i, g in zip(paused, pgens):
                    gen = g[0]
                    probes[i] += 1
                    conf = (sum(math.exp(x) for x in gen.top_logprobs) / len(gen.top_logprobs)
                            if gen.top_logprobs and gen.finish_reason == "stop" else 0.0)
                    traces[i].append(TraceEvent(kind="probe", detail={"at": written[i], "confidence": round(conf, 4),
                                                                       "answer": gen.text.strip()[:80]}))
                    if conf >= p.threshold:
                        texts[i] = texts[i].rstrip() + "\n" + close + "\n\n" + p.probe
                        answers[i] = (gen.text, gen.tokens, "stop", gen)
                        traces[i].append(TraceEvent(kind="exit", detail={"at": written[i], "confidence": round(conf, 4)}))
                    else:
                        texts[i] += words[0]
                        nxt.append(i)
            open_ = nxt
        # closed thoughts without an accepted probe answer get their answer now, each with its own room: one
        # generate call per distinct room, so a row never answers past what it would get alone
        todo = [i for i, a in answers.items() if not a[2]]
        rooms = [requests[i].sampling.max_tokens - written[i] for i in todo]
        for room, pos in group_indices(rooms).items():
            idx = [todo[k] for k in pos]
            if room <= 0:  # max_tokens ran out with the end tag: no room for an answer
                answers.update((i, ("", 0, "length", None)) for i in idx)
                continue
            gens = backend.generate([prompts[i] + texts[i] for i in idx], gen_params(requests[idx[0]], max_tokens=room))
            for i, g in zip(idx, gens):
                answers[i] = (g[0].text, g[0].tokens, g[0].finish_reason, g[0])
        results = []
        for i, r in enumerate(requests):
            ans, n, reason, gen = answers.get(i, ("", 0, "length", None))
            results.append(finish(r, self.spec, "think", fmt, backend, prompts[i], prefills[i] + texts[i] + ans, written[i] + n,
                                  reason, traces[i], started, gens=[gen] if gen else [], before=prefills[i] + texts[i]))
        return results

