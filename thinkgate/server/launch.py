"""The one path every API face takes to the gate: a request in thinkgate's words (`Ask`) is decided, planned,
admitted and started (`launch`); its end is awaited (`outcome`) or its events pumped by the face's own
renderer. Chat completions, the Responses API, Anthropic's Messages API and Ollama's `/api/chat` differ only
in how they read a body into an `Ask` and how they write a `Result` and a stream's events back."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import PolicyConflict
from ..types import Message, Result, Sampling, ThinkingSpec
from ..types import Request as TGRequest
from ..verify import regex_verifier
from .common import APIError, EventStream, Relay, as_api_error, sse_pump, wait_or_cancel, whole_response
from .control import BadField, Controls, Decision, client_field, decide

if TYPE_CHECKING:
    from ..gate import Gate
    from .app import _Server


@dataclass
class Ask:
    """One chat turn asked for, in thinkgate's words, whichever API it came in."""

    messages: list[Message]
    controls: Controls
    path: str  # the endpoint, as metrics label it
    tools: list[dict] | None = None
    max_tokens: int | None = None  # None: the server's default
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    logprobs: int | None = None  # alternatives per answer token (None: no log probabilities asked)


@dataclass
class Launched:
    """A request on its way: its decision, the gate serving it, its events (`relay`), and how to give it up."""

    decision: Decision
    gate: "Gate"
    stream: Any  # the gate's stream (`cancel()`)
    relay: Relay
    started: float
    path: str


def launch(srv: "_Server", ask: Ask) -> Launched:
    """Decide the request's thinking, plan its strategy, admit it (a 429 when the queue is full) and start it.
    Every failure before it starts is an `APIError`, a `BadField` or a `ValueError` the app answers."""
    decision, messages = decide(ask.controls, ask.messages, srv.default_thinking)
    try:
        gate = srv.gate(decision.strategy)
    except BadField as e:  # named by the field the client sent (`thinkgate.strategy` on the other APIs)
        raise BadField(str(e), client_field(e.param, decision)) from None
    t = ask.controls.thinking
    verifier = None
    if t is not None and t.verify is not None:
        try:
            verifier = regex_verifier(t.verify)
        except ValueError as e:
            raise BadField(str(e), decision.fields.get("thinking.verify", "thinking.verify")) from None
    try:
        req = TGRequest(messages=messages, verifier=verifier, tools=ask.tools, logprobs=ask.logprobs,
                        thinking=ThinkingSpec(mode=decision.mode, budget=decision.budget,
                                              min_budget=decision.min_budget, effort=decision.effort),
                        sampling=Sampling(max_tokens=ask.max_tokens or srv.default_max_tokens,
                                          temperature=ask.temperature or 0.0, top_p=ask.top_p or 1.0,
                                          top_k=max(0, ask.top_k or 0), seed=ask.seed, stop=list(ask.stop)))
    except ValueError as e:
        raise APIError(400, str(e), code="invalid_value") from None
    try:
        chosen = gate.plan(req)
    except PolicyConflict as e:  # named by the field the client sent, not the library's
        raise as_api_error(PolicyConflict(str(e), client_field(e.param, decision))) from None
    # the cap in force (the budget's, or the effort's) and how the strategy was reached
    decision = replace(decision, budget=chosen.cap, policy=chosen.why)
    # a request that may run on another model (two-model strategies, routing between models, SPEC@NAME) is
    # counted by no batcher
    alone = not chosen.strategy.runs_several()
    srv.admit(counted=alone)
    started = time.perf_counter()
    relay = Relay(asyncio.get_running_loop(), on_end=lambda: srv.release(counted=alone))
    # an engine upstream does its I/O on this loop: the strategy runs here too (no thread per request)
    stream = gate.stream(req, on_event=relay.put, on_token=srv.metrics.generated_tokens.inc,
                         inline=srv.on_loop, pool=srv.pool)
    return Launched(decision, gate, stream, relay, started, ask.path)


async def outcome(srv: "_Server", run: Launched, request) -> Result:
    """The result of a request that is not streamed, accounted; its failure raised as an `APIError`."""
    result = (await wait_or_cancel(run.relay, request, run.stream.cancel, srv.metrics.cancelled))[1]
    if isinstance(result, BaseException):
        raise as_api_error(result)
    account(srv, run, result)
    return result


def account(srv: "_Server", run: Launched, result: Result) -> None:
    m = srv.metrics
    m.requests.labels(run.path, "200").inc()
    m.latency.labels(run.path).observe(time.perf_counter() - run.started)
    unconstrained = result.strategy == "think" and result.mode == "think"
    m.served(result.mode, run.decision.source, result.usage.reasoning_tokens, result.usage.answer_tokens,
             unconstrained)


def first_token(srv: "_Server", run: Launched, at: float) -> None:
    srv.metrics.ttft.labels(run.path).observe(at - run.started)


def details(run: Launched, result: Result) -> dict[str, Any]:
    """thinkgate's decision for a served request: every face carries it (chat completions as `thinkgate`,
    the others as an extension field where their API has no place for it)."""
    decision, truncated = run.decision, None
    if result.finish_reason == "length":
        truncated = "thinking" if not result.closed else "answer"
    route = result.route()
    return {"mode": route.get("decision", result.mode), "requested_mode": decision.mode,
            "decided_by": route.get("router", decision.source),
            "budget": decision.budget if route.get("budget") is None else route["budget"],
            "min_budget": decision.min_budget,
            "effort": decision.effort, "policy": decision.policy,
            "strategy": result.strategy, "confidence": result.confidence, "router_score": route.get("score"),
            "router_threshold": route.get("threshold"),
            "route_option": route.get("option"), "route_fallback": route.get("fallback"),
            "thinking_closed": result.closed, "truncated": truncated, "thinking_mode": result.thinking_mode,
            "reasoning_tokens": result.usage.reasoning_tokens,
            "answer_tokens": result.usage.answer_tokens, "answered_by": result.model,
            "tokens_by_model": result.usage.by_model, "cost_gflop": result.usage.cost,
            "trace": [e.model_dump() for e in result.trace]}


class Writer:
    """How a face writes a streamed response: `begin` (what leaves first: chat's role chunk, Anthropic's
    `message_start`, the Responses API's `response.created`), one `delta` per run of reasoning or answer text
    that was ready together, `done` with the result, and `error` for a failure after the stream began (a
    failure before it is the face's plain error with its status). `scored` holds the answer's tokens whose log
    probabilities have not left yet: a writer that sends them clears it."""

    media_type = "text/event-stream"

    def begin(self) -> str:
        return ""

    def delta(self, kind: str, text: str, scored: list) -> str:
        raise NotImplementedError

    def done(self, result: Result, scored: list) -> str:
        raise NotImplementedError

    def error(self, e: APIError) -> str:
        raise NotImplementedError


def streamed(srv: "_Server", run: Launched, writer: Writer):
    """The response of a streamed request: the one pump (`common.sse_pump`) over the request's events, written
    by the face's `writer`. Consecutive deltas of one kind leave as one; the first one is the time to first
    token; `begin` leaves when the engine accepted the request ("open") or with the first delta."""
    scored: list = []
    began = first = False

    def render(batch: list) -> tuple[str, bool]:
        nonlocal began, first
        out: list[str] = [] if began else [writer.begin()]
        began = True
        finished = False
        merged: list = []
        for kind, payload in batch:
            if merged and kind == merged[-1][0] and kind in ("reasoning", "content"):
                merged[-1] = (kind, merged[-1][1] + payload)
            else:
                merged.append((kind, payload))
        for kind, payload in merged:
            if kind == "logprobs":
                scored.extend(payload)
            elif kind in ("reasoning", "content"):
                if not first:  # observed once the delta is written (the loop's next turn), timed now
                    asyncio.get_running_loop().call_soon(first_token, srv, run, time.perf_counter())
                    first = True
                out.append(writer.delta(kind, payload, scored))
            elif kind == "done":
                finished = True
                account(srv, run, payload)
                out.append(writer.done(payload, scored))
        return "".join(out), finished

    pump = sse_pump(run.relay.bursts(), render, run.stream.cancel, srv.metrics, run.path, on_error=writer.error)
    return EventStream(pump, run.path, writer.media_type)


async def respond(srv: "_Server", request, ask: Ask, stream: bool, whole, writer):
    """A face's answer to one request: launched, then streamed by `writer(run)` or, whole, the JSON of
    `whole(run, result)`."""
    run = launch(srv, ask)
    if stream:
        return streamed(srv, run, writer(run))
    return whole_response(whole(run, await outcome(srv, run, request)))


def arguments_of(call: dict) -> dict:
    """A tool call's arguments as an object (APIs whose calls carry one: Anthropic's `input`, Ollama's
    `arguments`); arguments the model wrote as anything but an object are under `value`."""
    raw = call["function"].get("arguments", "{}")
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = raw
    return value if isinstance(value, dict) else {"value": value}


def content_logprobs(tokens: Iterable, with_bytes: bool = True) -> list[dict[str, Any]]:
    """Answer tokens (`sinks.Scored`: text, log p, alternatives) as the entries OpenAI's chat completions and
    Responses API list (`token`, `logprob`, `bytes`, `top_logprobs`; Ollama's are the same without `bytes`); a
    log p of minus infinity, a token the model could not write, as OpenAI writes it: -9999."""
    def one(text: str, lp: float) -> dict[str, Any]:
        entry: dict[str, Any] = {"token": text, "logprob": lp if math.isfinite(lp) else -9999.0}
        if with_bytes:
            entry["bytes"] = list(text.encode("utf-8", "surrogatepass"))
        return entry
    return [{**one(t, lp), "top_logprobs": [one(a, v) for a, v in alts]} for t, lp, alts in tokens]
