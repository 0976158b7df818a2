"""`gpt_oss`: OpenAI's gpt-oss, harmony channels. The model writes its reasoning in the analysis channel
(`<|channel|>analysis<|message|>` ... `<|end|>`) and its answer in a new assistant message on the final
channel (`<|start|>assistant<|channel|>final<|message|>`), so the end of a thought is the whole
`<|end|><|start|>assistant<|channel|>final<|message|>`: budget forcing writes exactly that, never a
`</think>`. Effort is the template's `reasoning_effort` (low | medium | high: "medium", the template's
default, for thinking), and a request's effort is sent on those levels ("minimal" as "low"), not as a cap.
gpt-oss cannot switch reasoning off: thinking off is an empty analysis message (NoThinking).
"""

from __future__ import annotations

from .base import TaggedFamily


class GptOssFormat(TaggedFamily):
    name = "gpt_oss"
    open_tag = "<|channel|>analysis<|message|>"
    close_tag = "<|end|><|start|>assistant<|channel|>final<|message|>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"reasoning_effort": "medium"}
    nothink_kwargs = {"reasoning_effort": "low"}  # the least it reasons; then the empty analysis message
    off_switch = False
    efforts = {"minimal": {"reasoning_effort": "low"}, "low": {"reasoning_effort": "low"},
               "medium": {"reasoning_effort": "medium"}, "high": {"reasoning_effort": "high"}}
    answer_markup = ("<|return|>", "<|end|>")
