"""`foreal`: FoReaL-Decoding — the large model leads the first tokens of a sentence, the small one finishes
it; a random gate decides per sentence whether the large model leads at all.

Source: FoReaL-Decoding, "Follow the Reasoning Leader" (Li et al. 2025, arXiv 2506.06998). Disagreement
between a large reasoning model and a small one given the same history sits at the start of sentences and
fades within one, so the leading (large) model writes a sentence's first `lead` tokens and the draft (small)
model completes it; with probability `p` per sentence the leader leads, else the draft writes the whole
sentence. Reported: 30-50% fewer FLOPs and 86-100% of the leader's accuracy.

Parameters (defaults):
- `small`, `large` (None): the models, by name in the gate's roster; by default the roster's smaller and
  larger model by parameter count (`thinkgate.roster`).
- `lead` (3): tokens the leader writes at the start of a sentence it leads (the paper: "the first few").
- `p` (1.0): the share of sentences the leader leads. The paper tunes it per pair and task.
- `ends` (". ", "? ", "! ", "\\n", ", ", "="): what ends a sentence; on a command line `;`-separated, `\\n` a
  line break, `\\s` a space and `\\c` a comma (`foreal:ends=.\\s;?\\s;!\\s;\\n`: the paper's sentences only). The
  paper splits at sentence punctuation; chosen here: a line break, a clause's comma and an equals sign end
  one too, so the leader writes the start of every step, clause and result (the embedded models write a
  step a line, `8*3+2=26, write 6 carry 2`: the result after `=` is where a weak draft goes wrong).

`lead`, `p` and `ends` were chosen on the calibration split's `under` items with the embedded pair (`tiny`
leads, `mini` drafts; fraction of `tiny` thinking's accuracy at a fraction of its cost): lead 3 at p 1.0,
97.6% at 48%; lead 2, 82% at 36%; lead 4, 91% at 60%; p 0.9 (lead 3), 91% at 45%. The paper's sentences
with 15 leading tokens kept 80% at 43% (p 0.5) and 90% at 72% (p 1.0) of the test split. With p 1.0 the
gate leads every sentence; a lower `p` trades accuracy for cost.

Chosen where the paper is silent: the gate draws from a generator seeded by the request's sampling seed and
its text (the same request leads the same sentences alone or in any batch); the answer after the thought
is decoded the same way, sentence by sentence, until a model ends the turn. Handover is by text
(`thinkgate.strategies.pair`), so the two models may have different tokenizers. Every call is kept, so
everything streams live.
"""

from __future__ import annotations

import hashlib
import random

from pydantic import Field, field_validator

from .base import text_list
from .pair import PairParams, PairStrategy, keep, write


class ForealParams(PairParams):
    lead: int = Field(default=3, ge=1)
    p: float = Field(default=1.0, ge=0.0, le=1.0)
    ends: tuple[str, ...] = (". ", "? ", "! ", "\n", ", ", "=")

    _list = field_validator("ends", mode="before")(text_list)


class Foreal(PairStrategy):
    name = "foreal"
    TOKENS = ("lead",)
    Params = ForealParams

    def write_turns(self, requests, small, large, turns):
        p = self.params
        gates = [random.Random(_seed(r)) for r in requests]
        ends = list(p.ends)
        while True:
            live = [i for i, t in enumerate(turns) if not t.ended]
            if not live:
                break
            leads = {i: gates[i].random() < p.p for i in live}
            finishing = [i for i in live if not leads[i]]
            for i, gen in write(large, turns, [i for i in live if leads[i]], requests, p.lead, stop=ends).items():
                keep(large, turns[i], gen, "lead")
                if gen.stop is None and gen.finish_reason == "length" and not turns[i].ended:
                    finishing.append(i)  # the sentence goes on: the draft model finishes it
            for i, gen in write(small, turns, sorted(finishing), requests, None, stop=ends).items():
                keep(small, turns[i], gen, "draft")


def _seed(request) -> int:
    """The gate's seed for a request: its sampling seed and its messages (the same alone or in any batch)."""
    text = f"{request.sampling.seed}|" + "\n".join(m.content for m in request.messages)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
