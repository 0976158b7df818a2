"""`kimi_k3`: Moonshot's Kimi K3. Reasoning in a think block (`<|open|>think<|sep|>` ... `<|close|>think<|sep|>`),
the answer in a response block (`<|open|>response<|sep|>` ... `<|close|>response<|sep|>`, taken off the
answer); the template's `thinking` switch (true by default) opens the think block itself.
"""

from __future__ import annotations

from .base import TaggedFamily


class KimiK3Format(TaggedFamily):
    name = "kimi_k3"
    open_tag = "<|open|>think<|sep|>"
    close_tag = "<|close|>think<|sep|>"
    empty_gap = ""
    after_thought = ""
    think_kwargs = {"thinking": True}
    nothink_kwargs = {"thinking": False}
    answer_markup = ("<|open|>response<|sep|>", "<|close|>response<|sep|>")
