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

from ..backends.wire import MAX_TOKEN_BYTES, RECOUNT_SLACK, Room, chat_choices, token_prefix, usage_problem
from ..confidence import chat_answer_logprobs
from ..errors import EngineFieldError, UpstreamError
from ..types import Message, confidence_of
from .common import APIError, EventStream, Inline, as_api_error, sse, sse_pump, until_done_or_gone, whole_response
from .control import Controls, decide
from .guard import log
from .schemas import ChatCompletionRequest
from .upstream_chat import both_reasoning_fields


async def chat_upstream(srv, body: ChatCompletionRequest, request: Request):
    """Chat fallback: the request goes to the engine with its thinking switch set; the answer (or each
    streamed chunk) comes back intact — tool calls included — with thinkgate's decision added.

    What the engine sends is checked before it is passed on: an answer whose fields have the wrong types is
    a 502 (streamed: an error event, then `[DONE]`); usage that cannot be true (negative counts, more
    reasoning than completion tokens) is not passed on but counted here, with `counted_by` saying why. An
    engine that writes past the request's `max_tokens` (the server's `--max-tokens` when it names none, sent
    to the engine) is cut there — a stream where it reaches `max_tokens` (`wire.Room`), a whole answer at
    `max_tokens` tokens counted with the tokenizer (without one, at 1,024 bytes a token) — and the answer
    ends with finish reason "length", `thinkgate.cut` saying so. A client that leaves a request that is
    not streamed cancels the engine's request at once."""
    m = srv.metrics
    decision, _ = decide(Controls.of_chat(body), _messages_for_decision(body), srv.default_thinking)
    try:
        payload = srv.chat.body(body.model_dump(exclude_unset=True), decision.mode, decision.budget,
                                decision.min_budget, decision.effort, decision.strategy,
                                asked=decision.source != "default")
    except EngineFieldError as e:
        raise APIError(400, str(e), param=e.param, code="missing_capability") from None
    limit = body.max_completion_tokens or body.max_tokens
    if limit is None:  # the server's default, as for a local model: the engine's own may be its whole context
        limit = payload["max_tokens"] = srv.default_max_tokens
    info = {"mode": decision.mode, "decided_by": decision.source, "budget": decision.budget,
            "min_budget": decision.min_budget, "effort": decision.effort,
            "strategy": f"upstream-chat:{srv.chat.engine.name}", "router_score": None, "confidence": None}
    started = time.perf_counter()
    srv.admit()
    if not body.stream:
        try:
            out = await until_done_or_gone(srv.chat.complete(payload), request, m.cancelled)
            choices = chat_choices(out, "message")
            if not choices:
                raise UpstreamError(f"upstream {srv.chat.calls.base_url} answered with no choices")
        except Exception as e:  # noqa: BLE001 - answered as an OpenAI-style error
            raise as_api_error(e) from None
        finally:
            srv.release()
        out = both_reasoning_fields(out)
        problem = usage_problem(out.get("usage"))
        cut = any([_cut_message(c, limit, srv.chat.tokenizer) for c in choices])
        if cut:
            info["cut"] = f"the engine wrote past max_tokens={limit}; its answer was cut there"
            problem = problem or "the answer was cut at max_tokens"
        if problem is not None:
            log.warning("upstream %s: %s; the usage is counted here", srv.chat.calls.base_url, problem)
            text = "".join((c["message"].get("content") or "") + (c["message"].get("reasoning_content") or "")
                           for c in choices)
            out["usage"] = srv.chat.usage(payload, text, None, why=problem)
        if srv.inline:
            for choice in choices:
                Inline().message(choice["message"])
        out["model"] = srv.model_name
        message = choices[0].get("message") or {}
        answer = message.get("content") if isinstance(message.get("content"), str) else ""
        info["confidence"] = confidence_of(chat_answer_logprobs(choices[0], [], answer))  # where the client asked
        out["thinkgate"] = info
        m.requests.labels("/v1/chat/completions", "200").inc()
        m.latency.labels("/v1/chat/completions").observe(time.perf_counter() - started)
        m.decisions.labels(decision.mode, decision.source).inc()
        return whole_response(out)

    tally = _Tally(limit, srv.chat.tokenizer)

    async def engine_events():
        """The engine's chunks as the pump's events, those that arrived together in one burst (one write),
        each checked (a wrong type ends the stream with the engine's error); an engine past `max_tokens` is
        cut there ("cut"). Leaving early closes the connection (the engine stops)."""
        try:
            async with contextlib.aclosing(srv.chat.stream(payload)) as batches:
                async for batch in batches:
                    out = []
                    for chunk in batch:
                        chat_choices(chunk, "delta")
                        if not tally.add(chunk):  # what fitted of it, then the end
                            if any(c.get("delta") for c in chunk.get("choices") or []):
                                for c in chunk["choices"]:  # its end is the cut's ("length"), said next
                                    c["finish_reason"] = None
                                out.append(("chunk", chunk))
                            out.append(("cut", None))
                            yield out
                            return
                        if "usage" in chunk and chunk["usage"] is None and not chunk.get("choices"):
                            continue  # usage-only chunk whose usage could not be true: counted here instead
                        out.append(("chunk", chunk))
                    if out:
                        yield out
        except Exception as e:  # noqa: BLE001 - the engine failed: the pump answers it
            yield [("error", e)]
            return
        finally:
            srv.release()
        yield [("done", None)]

    inline = Inline() if srv.inline else None
    answer_lps: list[float] = []  # the streamed answer's log p, where the client asked for them

    def render(batch: list) -> tuple[str, bool]:
        out: list[str] = []
        for kind, chunk in batch:
            if kind == "chunk":
                chunk = both_reasoning_fields(chunk)
                if inline is not None:
                    for choice in chunk.get("choices") or []:
                        if isinstance(choice.get("delta"), dict):
                            inline.message(choice["delta"])
                chunk["model"] = srv.model_name
                for c in chunk.get("choices") or []:
                    delta = c.get("delta") if isinstance(c.get("delta"), dict) else {}
                    if c.get("index", 0) == 0 and delta.get("content"):  # the answer's chunks, not the thought's
                        chat_answer_logprobs(c, answer_lps)
                if any(c.get("finish_reason") for c in chunk.get("choices") or []):
                    info["confidence"] = confidence_of(answer_lps)
                    chunk["thinkgate"] = info
                out.append(sse(chunk))
            elif kind in ("done", "cut"):
                m.requests.labels("/v1/chat/completions", "200").inc()
                m.decisions.labels(decision.mode, decision.source).inc()
                if kind == "cut":  # the engine did not stop at max_tokens: its stream ends here
                    info["cut"] = f"the engine wrote past max_tokens={limit}; its stream was cut there"
                    out.append(sse({"id": tally.id, "object": "chat.completion.chunk", "created": tally.created,
                                    "model": srv.model_name, "thinkgate": info,
                                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}))
                if body.include_usage() and not tally.usage_seen:  # none, or none to believe: count it
                    why = tally.problem or ("the answer was cut at max_tokens" if kind == "cut" else None)
                    out.append(sse({"id": tally.id, "object": "chat.completion.chunk", "created": tally.created,
                                    "model": srv.model_name, "choices": [],
                                    "usage": srv.chat.usage(payload, "".join(tally.pieces), len(tally.pieces), why=why)}))
                out.append("data: [DONE]\n\n")
                return "".join(out), True
        return "".join(out), False

    return EventStream(sse_pump(engine_events(), render, lambda: None, m, "/v1/chat/completions"))


def _cut_message(choice: dict, limit: int, tokenizer) -> bool:
    """Cut a whole answer's message to `limit` tokens (reasoning first, then content); True when the engine
    wrote past it and the message was cut. Counted with the tokenizer (a recount up to `RECOUNT_SLACK` over
    is the tokenizer's difference, not the engine's fault; of each text only `Room.TOKEN_CHARS` characters a
    token are read, a longer text being past the limit), else `MAX_TOKEN_BYTES` bytes a token."""
    msg = choice["message"]
    parts = [f for f in ("reasoning_content", "content") if isinstance(msg.get(f), str) and msg[f]]
    if tokenizer is None:
        sizes = [len(msg[f].encode()) for f in parts]
        room = limit * MAX_TOKEN_BYTES
        if sum(sizes) <= room:
            return False
        for f, size in zip(parts, sizes):
            msg[f] = msg[f].encode()[:room].decode("utf-8", "ignore")
            room = max(0, room - size)
    else:
        most = (limit + RECOUNT_SLACK) * Room.TOKEN_CHARS
        cuts, room, total = [], limit, 0  # one tokenizing pass: each part's cut at the room left, and its count
        for f in parts:
            cut, n = token_prefix(tokenizer, msg[f][:most], room)
            cuts.append(cut)
            total, room = total + n, max(0, room - n)
        if total <= limit + RECOUNT_SLACK and all(len(msg[f]) <= most for f in parts):
            return False
        for f, cut in zip(parts, cuts):
            msg[f] = cut
    if "reasoning_content" in parts:
        msg["reasoning"] = msg["reasoning_content"]
    choice["finish_reason"] = "length"
    return True


class _Tally:
    """What an engine streamed: the text of its deltas (answer, reasoning, tool calls), whether it sent usage
    itself (and what was wrong with it, when it could not be true), and what is left of `limit` tokens
    (`wire.Room`)."""

    def __init__(self, limit: int, tokenizer=None):
        self.pieces: list[str] = []  # one a chunk that carried text
        self.room = Room(limit, tokenizer)
        self.usage_seen = False
        self.problem: str | None = None
        self.id, self.created = "", 0

    def add(self, chunk: dict) -> bool:
        """Count a checked chunk (`wire.chat_choices`); False when it reaches past the limit: its text is cut
        to what fits, when it is one field's. Usage that cannot be true is set to None in the chunk."""
        self.id, self.created = chunk.get("id", self.id), chunk.get("created", self.created)
        if chunk.get("usage") is not None:
            problem = usage_problem(chunk["usage"])
            if problem is None:
                self.usage_seen = True
            else:
                log.warning("upstream stream: %s; the usage is counted here", problem)
                self.problem, chunk["usage"] = problem, None
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            answer, thought = delta.get("content") or "", delta.get("reasoning_content") or delta.get("reasoning") or ""
            text = answer + thought
            for call in delta.get("tool_calls") or []:
                fn = call.get("function") or {}
                text += (fn.get("name") or "") + (fn.get("arguments") or "")
            if not text:
                continue
            part, over = self.room.take(text)
            if over:  # what fits is kept where it is one field's text (an answer's, or a thought's)
                fields = [f for f in ("content", "reasoning_content", "reasoning") if delta.get(f)]
                if part and text in (answer, thought):
                    for f in fields:
                        delta[f] = part
                    self.pieces.append(part)
                else:
                    choice["delta"] = {}
                return False
            self.pieces.append(text)
        return True


def _messages_for_decision(body: ChatCompletionRequest):
    """Messages for the decision only (soft switches); tool turns and parts are kept for the engine."""
    out = []
    for m in body.messages:
        text = m.content if isinstance(m.content, str) else ""
        role = m.role if m.role in ("system", "user", "assistant") else "system"
        out.append(Message(role=role, content=text))
    return out
