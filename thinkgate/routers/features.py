"""What a router sees of a query: the target model's hidden state, or the query's characters.

- `hidden_state_features`: one prefill pass over the prompt rendered in `auto` mode (it ends right after
  the assistant tag, where a model that chooses its own mode would choose) and the final layer's hidden
  state at its last token (Self-Route's probe input).
- `ngram_features`: hashed character n-grams for backends without a hidden state. Two views of the text
  are hashed into one vector: the lower-cased text, and its "shape" with every digit written as `0`, so
  that "48213+3977" and "51290+1234" share the n-grams that say "a five-digit plus a four-digit number"
  (difficulty in these tasks is mostly how many digits or steps there are). Counts are log-scaled and the
  vector is L2-normalised. Hashing uses CRC32, which is stable across processes (Python's `hash` is not).
"""

from __future__ import annotations

import re
import zlib

from ..types import Request

_DIGIT = re.compile(r"\d")


def query_text(request: Request) -> str:
    """The text a text router reads: the user turns of the conversation."""
    return "\n".join(m.content for m in request.messages if m.role == "user")


def ngram_features(texts: list[str], buckets: int = 4096, n_min: int = 1, n_max: int = 4):
    import torch

    out = torch.zeros(len(texts), buckets)
    for row, text in enumerate(texts):
        low = " " + text.lower() + " "
        for view, tag in ((low, "t"), (_DIGIT.sub("0", low), "s")):
            for n in range(n_min, n_max + 1):
                for i in range(len(view) - n + 1):
                    out[row, zlib.crc32(f"{tag}{n}:{view[i:i + n]}".encode()) % buckets] += 1.0
    out = torch.log1p(out)
    return out / out.norm(dim=1, keepdim=True).clamp_min(1e-8)


def hidden_state_features(requests: list[Request], backend, fmt, batch: int = 64):
    """The final layer's hidden state at the end of each prompt rendered in auto mode (one prefill)."""
    import torch

    prompts = [fmt.render(r.messages, "auto", r.thinking, r.tools) for r in requests]
    parts = [backend.last_hidden_state(prompts[i:i + batch]) for i in range(0, len(prompts), batch)]
    return torch.cat(parts, 0) if parts else torch.zeros(0, 0)

