"""The family contract: how a conversation is rendered for a thinking mode, and how output splits into
reasoning and answer.

The prompt comes from the tokenizer's own chat template (`apply_chat_template`), so a model folder that
ships a template is rendered exactly as its authors intended. What differs between model families is how
each mode is asked for (template switches by their real names), the reasoning markup, and whether the
template opens the thought itself; that is one small class per family, registered by name (see
`thinkgate.formats`), like an inference engine's reasoning parsers.

What a template writes after the assistant header is found by rendering a probe conversation, not
assumed: `assistant_header` is the generation prompt up to any thinking markup the template adds, and
`prefills` are what the template adds after it in each mode. So a template that opens `<think>\\n` itself
(DeepSeek-R1 distills, QwQ, Qwen3.5, Nemotron 3) has that opening in its thinking prefill, where the
parser sees it: a thought cut by `max_tokens` is reasoning that never closed, not an answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from ..errors import FormatError, ToolsUnsupported
from ..types import Message, Mode, ThinkingSpec
from .tools import parse_tool_calls, reads_tool_calls

_PROBE = [{"role": "user", "content": "x"}]
_SCALARS = (str, int, float, bool, type(None))  # exactly these types (a subclass may carry methods)


def _text_only(messages: list[dict]) -> bool:
    """Every message is a role and a text, both `str` itself (a `Message` without reasoning or tool calls,
    dumped): what `_direct` renders."""
    return all(len(m) == 2 and type(m.get("role")) is str and type(m.get("content")) is str for m in messages)


def _direct(template: str, special: dict[str, Any]) -> Callable | None:
    """`render(messages, generation, kwargs)` by transformers' compiled template in its sandbox, for messages
    of text only (`_text_only`) and template arguments of `_SCALARS` only, with `special` (the special
    tokens' texts) given as `render_jinja_template` gives them; jinja's low-level API (`Template.new_context`
    with the globals merged once, `root_render_func`). None where transformers has no compiled-template
    cache (`_compile_jinja_template`) or a special token is not plain text."""
    from transformers.utils import chat_template_utils

    compile_ = getattr(chat_template_utils, "_compile_jinja_template", None)
    if compile_ is None or any(type(v) is not str for v in special.values()):
        return None
    compiled = compile_(template)
    concat = compiled.environment.concat
    base = {**dict(compiled.globals), **special, "tools": None, "documents": None}

    def render(messages: list[dict], generation: bool, kwargs: dict[str, Any]) -> str:
        context = compiled.new_context({**base, "messages": messages, "add_generation_prompt": generation, **kwargs},
                                       shared=True)
        try:
            return concat(compiled.root_render_func(context))
        except Exception:  # as `Template.render` raises it (the template's own line in the traceback)
            compiled.environment.handle_exception()

    return render


@dataclass(frozen=True)
class Probe:
    """What rendering the probe conversation in each mode showed."""

    header: str  # the generation prompt up to any thinking markup the template adds
    think: str  # what the template writes after the header in thinking mode
    nothink: str  # ... in no-thinking mode
    switch: bool  # the no-thinking arguments change the rendering (its prefill, or an earlier part)


def template_text(tokenizer: Any) -> str:
    """A tokenizer's chat template; of several named ones, the default (the one that renders chats)."""
    template = getattr(tokenizer, "chat_template", None) or ""
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()), "")
    return template


class ThinkingFormat:
    """Base: `<think>...</think>` reasoning. Subclasses say how the template switches modes."""

    name: ClassVar[str]
    open_tag: ClassVar[str] = "<think>"
    close_tag: ClassVar[str] = "</think>"
    # When output has no tags at all: is it an answer (False) or unclosed reasoning (True)?
    untagged_is_reasoning: ClassVar[bool] = False
    has_thinking: ClassVar[bool] = True  # False: a model without a thinking mode (family "none")

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    # ---- what the template is given ------------------------------------------------------------------
    # the family's own effort levels: thinkgate's effort level -> the template arguments that ask for it
    efforts: ClassVar[dict[str, dict[str, Any]]] = {}
    # the template argument that takes a thinking budget in tokens, where the family has one (Seed-OSS's)
    budget_kwarg: ClassVar[str | None] = None

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        raise NotImplementedError

    def native_effort(self, effort: str | None) -> bool:
        """The template has its own level for this effort (so no cap of thinkgate's stands in for it)."""
        return effort in self.efforts

    def kwargs_for(self, mode: Mode, spec: ThinkingSpec | None = None) -> dict[str, Any]:
        """The template arguments for a mode and, when thinking, the spec's effort on the family's own
        levels and its cap on the family's own budget argument."""
        kw = self.template_kwargs(mode)
        if spec is None or mode == "nothink":
            return kw
        if spec.effort in self.efforts:
            kw.update(self.efforts[spec.effort])
        cap = spec.effort_budget()
        if self.budget_kwarg and cap:  # (0 is thinking off, which is the nothink mode's)
            kw[self.budget_kwarg] = cap
        return kw

    def _apply(self, messages: list[dict], mode: Mode, generation: bool = True, spec: ThinkingSpec | None = None,
               tools: list[dict] | None = None) -> str:
        """The template's rendering with the mode's arguments (without the generation prompt when not
        `generation`; with `tools` listed its own way); FormatError (a bad request, not a crash) when the
        template refuses the conversation (its own raise_exception: roles that do not alternate, ...) or
        cannot render it."""
        kwargs = self.kwargs_for(mode, spec)
        try:
            render = self._renderer(bool(tools))
            if render is not None:
                return render(messages, generation, tools, kwargs)
            extra = {"tools": tools} if tools else {}
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation,
                                                      **extra, **kwargs)
        except Exception as e:  # noqa: BLE001 - jinja2 and templates raise anything; the message says what
            raise FormatError(f"the model's chat template could not render this conversation "
                              f"({type(e).__name__}: {e})") from None

    @cached_property
    def _renderers(self) -> dict[bool, Callable | None]:
        return {}

    def _renderer(self, tools: bool) -> Callable | None:
        """transformers' own rendering of the template (`render_jinja_template`, which `apply_chat_template`
        calls), with what `apply_chat_template` works out on every call worked out once: the template (the
        one for tools where there are tools) and the special tokens it is given. None for a tokenizer with an
        `apply_chat_template` of its own, which is called instead. A serving path renders a prompt per
        request: this saves about a fifth of the render (90 -> 70 us for the embedded model's template).
        The messages are plain dicts without None values (as `model_dump(exclude_none=True)` gives them), which
        `apply_chat_template` would make of them.

        A conversation of text alone (no tools, no tool calls, no reasoning of earlier turns) is rendered by
        the same compiled template in transformers' sandbox, given what `render_jinja_template` would give it:
        that function's own work on the way (a plain copy of every value, reasoning fields aliased, the
        template's globals merged into a new dict each call) does nothing to such a conversation, whose values
        are plain text already, and took a third of the render (77 -> 50 us for the embedded model's template
        with a system and a user turn; `_direct`). Anything else, and a transformers without the compiled
        template's cache, takes `render_jinja_template`."""
        if tools not in self._renderers:
            from transformers import PreTrainedTokenizerBase
            from transformers.utils.chat_template_utils import render_jinja_template

            tok = self.tokenizer
            if getattr(type(tok), "apply_chat_template", None) is not PreTrainedTokenizerBase.apply_chat_template:
                self._renderers[tools] = None
            else:
                template = tok.get_chat_template(None, [{}] if tools else None)
                special = dict(tok.special_tokens_map)

                def render(messages, generation, tools_, kwargs):
                    return render_jinja_template([messages], tools=tools_ or None, chat_template=template,
                                                 add_generation_prompt=generation, **{**special, **kwargs})[0][0]

                direct = None if tools else _direct(template, special)
                if direct is not None:
                    def render_text(messages, generation, tools_, kwargs):
                        if tools_ or not _text_only(messages) or any(type(v) not in _SCALARS for v in kwargs.values()):
                            return render(messages, generation, tools_, kwargs)
                        return direct(messages, generation, kwargs)

                    self._renderers[tools] = render_text
                else:
                    self._renderers[tools] = render
        return self._renderers[tools]

    def render(self, messages: list[Message], mode: Mode, spec: ThinkingSpec | None = None,
               tools: list[dict] | None = None) -> str:
        """The prompt text, ending where the assistant (after any prefill) continues. `auto`: nothing after
        the assistant header, so the model decides whether to think (see `supports_auto`). `spec`: the
        request's thinking spec, whose effort and cap reach the template where the family has arguments for
        them (`kwargs_for`). `tools`: the request's tool definitions (see `check_tools`)."""
        dicts = [m.model_dump(exclude_none=True) for m in messages]
        if mode == "auto" and not self.template_has_auto:
            prompt = self._apply(dicts, "think", spec=spec, tools=tools)
            think = self._probe.think
            # the template's own thinking prefill is taken off; anything else (a soft switch's) stays
            return prompt[:-len(think)] if think and self.assistant_part(prompt) == think else prompt
        prompt = self._apply(dicts, mode, spec=spec, tools=tools)
        if mode == "nothink" and not self.template_closes_off:
            prompt += self.empty_thought_after(self.assistant_part(prompt))
        return prompt

    @property
    def template_has_auto(self) -> bool:
        """The template has its own switch for "the model decides" (thinkgate's `auto_think`)."""
        return False

    # ---- what the probe finds ------------------------------------------------------------------------
    @cached_property
    def _probe(self) -> Probe:
        """The probe conversation rendered in each mode, once per family object."""
        # without the generation prompt, but with the thinking arguments (some change the system part)
        base = self._apply(_PROBE, "think", generation=False)
        think = self._apply(_PROBE, "think")
        nothink = self._apply(_PROBE, "nothink")
        tail = think[len(base):] if think.startswith(base) else ""
        if not tail.strip() and think.startswith(base):
            # no generation prompt (Mistral's templates end the user turn with [/INST] and the model goes on):
            # the header is what follows the probe's user text
            cut = base.rfind(_PROBE[-1]["content"]) + len(_PROBE[-1]["content"])
            if 0 < cut <= len(base) and base[cut:].strip():
                base, tail = base[:cut], base[cut:] + tail
                think = base + tail
        at = tail.find(self.open_tag) if self.open_tag else -1
        header = tail[:at] if at >= 0 else tail  # up to the thinking markup the template adds
        if header and (after := self._after(nothink, header)) is not None:
            nothink_prefill = after  # (the no-thinking switch may change an earlier turn: GLM's /nothink)
        elif nothink.startswith(base):  # the header ends sooner in one mode ("assistant:" against "assistant: ")
            header = os.path.commonprefix([header, nothink[len(base):]])
            nothink_prefill = nothink[len(base) + len(header):]
        else:
            nothink_prefill = tail[len(header):]
        return Probe(header, tail[len(header):], nothink_prefill, switch=think != nothink)

    @property
    def assistant_header(self) -> str:
        """What the template writes to open the assistant turn, before any thinking markup: the rendered
        prompt's text after its last occurrence is the prefill. Empty when it cannot be told apart."""
        return self._probe.header

    @property
    def prefills(self) -> tuple[str, str]:
        """(thinking prefill, no-thinking prefill): what the template writes after the assistant header in
        each mode (the thinking one includes an opening tag the template writes itself)."""
        return self._probe.think, self._probe.nothink

    @property
    def opens_thought(self) -> bool:
        """The template opens the thought itself in thinking mode."""
        return bool(self.open_tag) and self.open_tag in self.prefills[0]

    # whether the template's no-thinking arguments really turn thinking off (None: the probe decides; gpt-oss's
    # lowest effort still reasons, so that family says False and thinking off is the empty thought)
    off_switch: ClassVar[bool | None] = None

    @property
    def can_skip(self) -> bool:
        """The template has its own switch to thinking off: its no-thinking turn differs from its thinking one
        (an empty closed thought, no opening where the thinking turn has one, or a system prompt without
        the instruction to think: Granite's, Apertus')."""
        if self.off_switch is not None:
            return self.off_switch
        return self._probe.think != self._probe.nothink or self._probe.switch

    @property
    def template_closes_off(self) -> bool:
        """The template's no-thinking turn is thinking off by itself; where not, `render` appends NoThinking's
        empty closed thought to it (a template without a switch, or a switch whose off value only leaves the
        thought unopened: `formats.qwen3`)."""
        return self.can_skip

    @property
    def supports_auto(self) -> bool:
        """The model can decide for itself whether to think: only where the family can skip thinking."""
        return self.can_skip

    # NoThinking's empty closed thought, between the family's tags
    empty_gap: ClassVar[str] = "\n\n"  # what stands inside an empty thought
    after_thought: ClassVar[str] = "\n\n"  # what follows the closing tag

    def empty_thought_after(self, assistant_text: str | None) -> str:
        """What turns a thinking-mode assistant turn into a no-thinking one (NoThinking's empty closed
        thought), for a family without its own switch."""
        text = assistant_text or ""
        if self.open_tag and text.rstrip().endswith(self.open_tag):
            gap = self.empty_gap if not text.endswith("\n") else self.empty_gap[1:]
            return gap + self.close_tag + self.after_thought
        return self.open_tag + self.empty_gap + self.close_tag + self.after_thought

    def assistant_part(self, prompt: str) -> str | None:
        """The text of a rendered prompt after its last assistant header (the prefill, plus anything a
        strategy appended), or None when the header is not in it."""
        return self._after(prompt, self.assistant_header)

    def _after(self, prompt: str, header: str) -> str | None:
        """The text after the last `header` in `prompt` that is not part of a closed thought's own markup
        (gpt-oss's and Solar Open's closing markup opens a new assistant message)."""
        if not header:
            return None
        end = len(prompt)
        inner = self.close_tag.find(header) if self.close_tag else -1  # gpt-oss's close tag holds its header
        while (at := prompt.rfind(header, 0, end)) >= 0:
            if inner >= 0 and prompt.startswith(self.close_tag, at - inner):
                # a closed thought's own markup, not the turn's header, if a thought was opened since the
                # header before it (Solar Open's closing markup is also how any turn hands over to the assistant)
                before = prompt.rfind(header, 0, at - inner)
                if prompt.find(self.open_tag, max(before, 0), at - inner) >= 0:
                    end = at
                    continue
            return prompt[at + len(header):]
        return None

    def forced_thinking(self, prompt: str) -> list[str]:
        """What the model may not write first after `prompt` for its thinking to be forced (a backend's
        `GenParams.ban_first`). A template whose thinking prefill is the start of its no-thinking one
        (thinkgate's and Qwen3.5's hybrid templates, `<think>\\n` against `<think>\\n\\n</think>\\n\\n`) leaves
        the choice open after the prefill, and a model trained to choose (`tiny-auto`) may close the thought
        at once; banning the first token of the rest of the no-thinking prefill makes it think. Empty when
        the prompt does not end in the thinking prefill (a soft switch turned thinking off, text was
        injected after it) or the template forces nothing (an empty thinking prefill)."""
        think, nothink = self.prefills
        if not think or not nothink.startswith(think) or len(nothink) == len(think):
            return []
        return [nothink[len(think):]] if self.assistant_part(prompt) == think else []

    def check_mode(self, mode: Mode, who: str) -> None:
        """Refuse a mode this family cannot serve, naming the family and what it can do."""
        if mode == "auto" and not self.supports_auto:
            raise FormatError(f"{who}: the model's family {self.name!r} always thinks, so it cannot decide by "
                              "itself whether to (auto); ask for thinking on or off, or route with strategy 'route'")

    # ---- tools ---------------------------------------------------------------------------------------
    @property
    def reads_tools(self) -> bool:
        """The template writes tool calls in a format thinkgate reads back (`formats.tools`)."""
        return reads_tool_calls(template_text(self.tokenizer))

    def check_tools(self, tools: list[dict] | None, messages: list[Message], who: str) -> None:
        """Refuse tools (or a conversation with tool turns) for a template whose tool calls thinkgate cannot
        read back, naming the family and what is read: never serve it with the tools dropped."""
        if (tools or any(m.role == "tool" or m.tool_calls for m in messages)) and not self.reads_tools:
            raise ToolsUnsupported(f"{who}: the model's chat template (family {self.name!r}) has no tool-call format "
                                   "thinkgate reads back (Hermes-style <tool_call> blocks, as Qwen's templates write), "
                                   "so tools cannot be served in raw-prefix mode; use the chat fallback "
                                   "(--upstream-chat), where the engine parses them")

    def tool_calls_of(self, answer: str) -> tuple[str, list[dict]]:
        """(the answer without its tool-call blocks, the calls in OpenAI's shape)."""
        return parse_tool_calls(answer)

    # ---- reading output ------------------------------------------------------------------------------
    # markup around the answer that is not part of it (Cohere's <|START_RESPONSE|> ... <|END_RESPONSE|>)
    answer_markup: ClassVar[tuple[str, ...]] = ()

    def answer_of(self, text: str) -> str:
        """The answer in the text after a thought: the family's answer markup taken off, stripped."""
        for m in self.answer_markup:
            text = text.replace(m, "")
        return text.strip()

    def thought_of(self, text: str) -> str:
        """The thought as written in an assistant turn's text: up to the closing tag, after the opening tag
        and the newline a template writes after it (from the start where no opening is in the text)."""
        raw = text.split(self.close_tag)[0] if self.close_tag else text
        raw = raw.split(self.open_tag, 1)[1] if self.open_tag and self.open_tag in raw else raw
        return raw[1:] if raw.startswith("\n") else raw

    @cached_property
    def _markup_ids(self) -> tuple[list[int], list[int]] | None:
        """The token ids of the opening and closing markup where each is written in special tokens of this
        tokenizer only (gpt-oss's channels, Kimi's blocks in their own vocabularies), else None."""
        tok = self.tokenizer
        special = set(getattr(tok, "all_special_ids", None) or []) | set(getattr(tok, "added_tokens_decoder", None) or {})
        if not self.has_thinking or not self.close_tag or not special:
            return None
        try:
            ids = [tok.encode(t, add_special_tokens=False) if t else [] for t in (self.open_tag, self.close_tag)]
        except Exception:  # noqa: BLE001 - a tokenizer stand-in without encode: count from text
            return None
        return (ids[0], ids[1]) if ids[1] and all(i in special for i in ids[0] + ids[1]) else None

    def thought_tokens(self, ids: list[int] | None, opened: bool) -> int | None:
        """How many of the generated `ids` are the model's thinking, counted from the ids themselves where the
        family's markup is special tokens (so no re-tokenizing of decoded text can miscount it): from the
        start (`opened`: the prompt left a thought open) or after an opening the model wrote, up to the
        closing markup or the end. None where the markup is ordinary text (then the thought's text is
        counted)."""
        markup = self._markup_ids
        if ids is None or markup is None:
            return None
        open_ids, close_ids = markup
        start = 0
        if not opened:
            at = _find(ids, open_ids) if open_ids else -1
            if at < 0:
                return 0  # no thought was opened: everything is the answer
            start = at + len(open_ids)
        end = _find(ids[start:], close_ids)
        return end if end >= 0 else len(ids) - start

    def thought_tokens_written(self, text: str, written: int, opened: bool,
                               count_many: Callable[[list[str]], list[int]]) -> int | None:
        """`thought_tokens` for a backend that reports how many tokens it wrote (`written`, whose text is
        `text`) but not their ids (an engine upstream): where the markup is special tokens, the text around
        the thought tokenizes on its own (a tokenizer splits at special tokens before anything else), so the
        thought is what was written less the markup and the text before and after it, counted by
        `count_many` (a batch of texts). The thought itself, the long part, is never tokenized again: a
        thousand-token thought cost a server about 1.4 ms a request to count (`thinkgate/models/tiny`'s
        tokenizer). None where the markup is ordinary text."""
        markup = self._markup_ids
        if markup is None:
            return None
        open_ids, close_ids = markup
        before, body = "", text
        if not opened:
            if not open_ids or self.open_tag not in text:
                return 0  # no thought was opened: everything is the answer
            before, _, body = text.partition(self.open_tag)
        _, closed, after = body.partition(self.close_tag)
        n_before, n_after = count_many([before, after if closed else ""])
        around = n_before + (0 if opened else len(open_ids)) + (len(close_ids) + n_after if closed else 0)
        return max(0, written - around)

    def split(self, text: str) -> tuple[str, str, bool]:
        """(reasoning, answer, closed) of an assistant turn's text, including any prefill."""
        head, sep, tail = text.partition(self.close_tag)
        if sep:
            return head.replace(self.open_tag, "", 1).strip(), self.answer_of(tail), True
        if self.open_tag in text:
            return text.split(self.open_tag, 1)[1].strip(), "", False
        if self.untagged_is_reasoning:
            return text.strip(), "", False
        return "", self.answer_of(text), True


def _find(ids: list[int], part: list[int]) -> int:
    """The first index of the run `part` in `ids`, or -1."""
    n = len(part)
    return next((i for i in range(len(ids) - n + 1) if ids[i:i + n] == part), -1) if n else -1


class TaggedFamily(ThinkingFormat):
    """A family described by data: its reasoning markup (`open_tag`, `close_tag`) and the template
    arguments that ask for each mode, by their real names. Where no argument turns thinking off, thinking off
    is the empty closed thought (`empty_thought_after`)."""

    think_kwargs: ClassVar[dict[str, Any]] = {}
    nothink_kwargs: ClassVar[dict[str, Any]] = {}
    auto_kwargs: ClassVar[dict[str, Any] | None] = None  # the template's own "the model decides", if it has one

    @property
    def template_has_auto(self) -> bool:
        return self.auto_kwargs is not None

    @property
    def supports_auto(self) -> bool:
        return self.template_has_auto or self.can_skip

    def template_kwargs(self, mode: Mode) -> dict[str, Any]:
        if mode == "auto" and self.auto_kwargs is not None:
            return dict(self.auto_kwargs)
        return dict(self.nothink_kwargs if mode == "nothink" else self.think_kwargs)
