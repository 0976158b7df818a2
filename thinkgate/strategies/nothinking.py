"""`nothinking`: skip thinking by prefilling a finished thought (NoThinking, Ma et al. 2025).

The assistant turn is opened in thinking mode and prefilled with a thought that says it is done —
"Okay, I think I have finished thinking.\\n</think>\\n\\n" — so the model writes the answer directly. This
works on formats with no template switch (DeepSeek-R1 distills). Parameters: `prefill` (the paper's
sentence). Where the template already opened `<think>`, only the sentence and the end tag are added.
"""

from __future__ import annotations

from .base import Params, Strategy, require_thinking, single_pass

R1_PREFILL = "Okay, I think I have finished thinking."


class NoThinkingParams(Params):
    prefill: str = R1_PREFILL


class NoThinking(Strategy):
    name = "nothinking"
    thinks = False  # the policy serves thinking off with it as it is; a cap holds
    Params = NoThinkingParams

    def run_batch(self, requests, backend, fmt):
        require_thinking(fmt, "strategy 'nothinking'")
        tail = f"{self.params.prefill}\n{fmt.close_tag}\n\n"
        return single_pass(self, requests, backend, fmt, lambda r: "think",
                           extra_prefill=lambda prompt: ("" if prompt.rstrip().endswith(fmt.open_tag)
                                                         else fmt.open_tag + "\n") + tail)
