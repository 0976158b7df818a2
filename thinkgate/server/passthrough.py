"""Chat fallback (`--upstream-chat`): chat requests pass through to the engine with its own thinking switch set.

No strategy can run without raw prefixes, so this is the one path that does not go through `Gate`: the
engine generates, thinkgate decides the mode (the same precedence as everywhere, see control.py), refuses
what needs raw prefixes, and passes requests and answers — tool calls included — through intact. The
engine's HTTP (`upstream_chat.UpstreamChat`) runs on the server's own loop; a stream leaves through the
server's one pump (`common.sse_pump`)."""

from __future__ import annotations

import contextlib
import time

from fastapi import Request

from ..errors import EngineFieldError
from ..types import Message
from .common import APIError, EventStream, Inline, as_api_error, sse, sse_pump
from .control import decide
from .schemas import ChatCompletionRequest
from .upstream_chat import both_reasoning_fields


async def chat_upstream(srv, body: ChatCompletionRequest, request: Request):
    """Chat fallback: the request goes to the engine with its thinking switch set; the answer (or each
    streamed chunk) comes back intact — tool calls included — with thinkgate's decision added."""
    m = srv.metrics
    decision, _ = decide(body, _messages_for_decision(body), srv.default_thinking)
    try:
        payload = srv.chat.body(body.model_dump(exclude_unset=True), decision.mode, decision.budget,
                                decision.min_budget, decision.effort, decision.strategy,
                                asked=decision.source != "default")
    except EngineFieldError as e:
        raise APIError(400, str(e), param=e.param, code="missing_capability") from None
    info = {"mode": decision.mode, "decided_by": decision.source, "budget": decision.budget,
            "min_budget": decision.min_budget, "effort": decision.effort,
            "strategy": f"upstream-chat:{srv.chat.engine.name}", "router_score": None}
    started = time.perf_counter()
    srv.admit()
    if not body.stream:
        try:
            out = await srv.chat.complete(payload)
        except Exception as e:  # noqa: BLE001 - answered as an OpenAI-style error
            raise as_api_error(e) from None
        finally:
            srv.release()
        out = both_reasoning_fields(out)
        if srv.inline:
            for choice in out.get("choices") or []:
                if isinstance(choice.get("message"), dict):
                    Inline().message(choice["message"])
        out["model"] = srv.model_name
        out["thinkgate"] = info
        m.requests.labels("/v1/chat/completions", "200").inc()
        m.latency.labels("/v1/chat/completions").observe(time.perf_counter() - started)
        m.decisions.labels(decision.mode, decision.source).inc()
        return out

    async def engine_events():
        """The engine's chunks as the pump's events, those that arrived together in one burst (one write);
        leaving early closes the connection (the engine stops)."""
        try:
            async with contextlib.aclosing(srv.chat.stream(payload)) as batches:
                async for batch in batches:
                    yield [("chunk", ch) for ch in batch]
        except Exception as e:  # noqa: BLE001 - the engine failed: the pump answers it
            yield [("error", e)]
            return
        finally:
            srv.release()
        yield [("done", None)]

    tally = _Tally()
    inline = Inline() if srv.inline else None

    def render(batch: list) -> tuple[str, bool]:
        out: list[str] = []
        for kind, chunk in batch:
            if kind == "chunk":
                tally.add(chunk)
                chunk = both_reasoning_fields(chunk)
                if inline is not None:
                    for choice in chunk.get("choices") or []:
                        if isinstance(choice.get("delta"), dict):
                            inline.message(choice["delta"])
                chunk["model"] = srv.model_name
                if any(c.get("finish_reason") for c in chunk.get("choices", [])):
                    chunk["thinkgate"] = info
                out.append(sse(chunk))
            elif kind == "done":
                m.requests.labels("/v1/chat/completions", "200").inc()
                m.decisions.labels(decision.mode, decision.source).inc()
                if body.include_usage() and not tally.usage_seen:  # the engine sent none: count it
                    out.append(sse({"id": tally.id, "object": "chat.completion.chunk", "created": tally.created,
                                    "model": srv.model_name, "choices": [],
                                    "usage": srv.chat.usage(payload, "".join(tally.pieces), tally.chunks)}))
                out.append("data: [DONE]\n\n")
                return "".join(out), True
        return "".join(out), False

    return EventStream(sse_pump(engine_events(), render, lambda: None, m, "/v1/chat/completions"))


class _Tally:
    """What an engine streamed: the text of its deltas (answer, reasoning, tool calls) and whether it sent
    usage itself."""

    def __init__(self):
        self.pieces: list[str] = []
        self.chunks = 0
        self.usage_seen = False
        self.id, self.created = "", 0

    def add(self, chunk: dict) -> None:
        self.id, self.created = chunk.get("id", self.id), chunk.get("created", self.created)
        if chunk.get("usage"):
            self.usage_seen = True
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            text = (delta.get("content") or "") + (delta.get("reasoning_content") or delta.get("reasoning") or "")
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                text += (fn.get("name") or "") + (fn.get("arguments") or "")
            if text:
                self.pieces.append(text)
                self.chunks += 1


def _messages_for_decision(body: ChatCompletionRequest):
    """Messages for the decision only (soft switches); tool turns and parts are kept for the engine."""
    out = []
    for m in body.messages:
        text = m.content if isinstance(m.content, str) else ""
        role = m.role if m.role in ("system", "user", "assistant") else "system"
        out.append(Message(role=role, content=text))
    return out
