"""The chat fallback's engine (`serve --upstream-chat`): chat requests go to an engine's own
`/v1/chat/completions` with thinkgate's decision in the engine's fields.

For engines reached only by their chat endpoint: the request is passed through (messages, tools,
tool_calls and every other field intact, streaming chunk by chunk) with the engine's own thinking switch set
from the decision — `chat_template_kwargs.enable_thinking` (vLLM, SGLang, llama.cpp), `reasoning_effort`
(OpenAI, Ollama's OpenAI API) or `think` (Ollama); each engine's fields are in `backends/engines.py`. No
strategy can inject text here, so only the modes think / nothink / auto are served; budgets reach the
engines that have a budget field, and strategies that need raw prefixes are refused with an error that
says so. The HTTP is the raw-prefix backend's own (`backends/upstream.py`), run on the server's loop.
`passthrough.py` serves the requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

from ..backends.base import load_tokenizer, tokenizer_counts
from ..backends.http1 import MAX_BODY
from ..backends.upstream import Upstream
from ..errors import EngineFieldError


REASONING_FIELDS = ("reasoning_content", "reasoning")  # older engines and DeepSeek's API; vLLM 0.10+


def both_reasoning_fields(chunk: dict[str, Any]) -> dict[str, Any]:
    """A chat completion or streamed chunk from an engine with the reasoning it split out in both fields
    clients read (`reasoning_content` and `reasoning`), whichever of the two the engine wrote."""
    for choice in chunk.get("choices") or []:
        for part in ("message", "delta"):
            msg = choice.get(part)
            if isinstance(msg, dict):
                text = next((msg[f] for f in REASONING_FIELDS if msg.get(f) is not None), None)
                if text is not None:
                    msg.update(dict.fromkeys(REASONING_FIELDS, text))
    return chunk


class UpstreamChat:
    """Chat fallback: pass chat requests through to the engine, with the thinking decision in the engine's
    own fields (`backends.engines`). Its HTTP runs on the server's loop (`attach`)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 600.0,
                 engine: str = "auto", idle_timeout: float | None = None, tokenizer: str | Path | None = None,
                 max_body: int = MAX_BODY):
        """`tokenizer`: the model's tokenizer folder, optional: with it, usage an engine does not send is
        counted in tokens (without it, a streamed answer's chunks are counted, one token each)."""
        from ..backends.engines import ENGINES, detect

        if engine == "auto":
            engine = detect(base_url, api_key)
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: auto, {', '.join(ENGINES)}")
        self.engine = ENGINES[engine]
        self.tokenizer = None if tokenizer is None else load_tokenizer(tokenizer)
        self.model = model
        self.model_id = f"{base_url.rstrip('/')}#{model}"
        # as many in flight as the server admits: its `--max-queue` bounds them
        self.calls = Upstream(base_url, api_key, timeout, concurrency=1 << 16, idle_timeout=idle_timeout,
                              max_body=max_body)

    def attach(self, loop) -> None:
        """Do the engine's HTTP on `loop`, the server's event loop (called from it at start-up)."""
        self.calls.attach(loop)

    def body(self, body: dict[str, Any], mode: str, budget: int | None = None, min_budget: int | None = None,
             effort: str | None = None, strategy: str | None = None, asked: bool = True) -> dict[str, Any]:
        """The request as the engine gets it: thinkgate's own fields removed; the mode, budget and effort in
        the engine's own fields (`EngineFieldError` where it has none; `asked`: the request chose the mode, not
        the server's default); greedy decoding sent explicitly when
        the request names no temperature (as documented; an engine's own default would sample)."""
        if strategy not in (None, "think", "nothink"):
            raise EngineFieldError(f"strategy {strategy!r} needs the raw-prefix upstream (capability 'raw_prefix'); "
                                   "--upstream-chat serves only think and nothink", "thinking.strategy")
        out = {k: v for k, v in body.items() if k != "thinking"}
        out["model"] = self.model
        if out.get("temperature") is None:
            out["temperature"] = 0.0
        return self.engine.apply(out, mode, budget, min_budget, effort, asked)

    def usage(self, body: dict[str, Any], text: str, chunks: int | None, why: str | None = None) -> dict[str, Any]:
        """Usage for an answer the engine sent none for, or none to believe (`why`: what was wrong with the
        engine's): counted with the tokenizer when there is one (the prompt as the chat template renders its
        text messages), else the streamed chunks that carried text, one token each (as llama.cpp, vLLM and
        SGLang stream; `chunks` None for a whole answer: no count), and no prompt count."""
        prompt = completion = 0
        if self.tokenizer is not None:
            messages = [{"role": m.get("role"), "content": m.get("content") if isinstance(m.get("content"), str) else ""}
                        for m in body.get("messages", []) if isinstance(m, dict)]
            try:
                rendered = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - a template that refuses this conversation: no prompt count
                rendered = ""
            prompt, completion = tokenizer_counts(self.tokenizer, [rendered, text])
            how = "thinkgate (tokenizer)"
        elif chunks is not None:
            completion, how = chunks, "thinkgate (streamed chunks)"
        else:
            how = "nobody (no tokenizer: start the server with --tokenizer to count)"
        if why:
            how += f"; the engine's usage was not used: {why}"
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "counted_by": how}

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """The engine's chat completion, on the server's loop."""
        return await self.calls.post("/v1/chat/completions", body)

    def stream(self, body: dict[str, Any]) -> AsyncIterator[list[dict]]:
        """The engine's streamed chunks, on the server's loop, in batches of those that arrived together;
        closing it early closes the connection, and the engine stops."""
        return self.calls.events("/v1/chat/completions", body)
