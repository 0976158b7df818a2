"""The OpenAI-compatible HTTP face: a thin layer over `Gate.stream` (the same call as `Gate.run`, streamed).

`create_app(...)` builds the FastAPI app for one served model:
- a local model: its backend wrapped in the batching scheduler, one Gate per strategy spec in use;
- an engine upstream in raw-prefix mode (`OpenAICompatBackend`): the same Gates, the engine batches;
- an engine upstream in chat fallback (`UpstreamChat`): chat requests pass through with the engine's
  thinking switch set (no strategy can run without raw prefixes; see `backends/openai_compat.py`).

Chat completions carry the answer in `message.content`, the thinking in `message.reasoning_content` and
`message.reasoning` (the names vLLM and others use), `usage.completion_tokens_details.reasoning_tokens`,
and a `thinkgate` object with the decision. `/v1/completions` continues a raw prompt (engine semantics,
no chat template, no strategy; completions.py), so a thinkgate server can itself be the engine of another.
Chat fallback is passthrough.py; errors, the thread-to-loop relay and SSE helpers are common.py.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..backends.base import Backend, GenParams, MissingCapability
from ..backends.openai_compat import OpenAICompatBackend, UpstreamChat, UpstreamError
from .common import APIError, EventStream, Relay, as_api_error, error_response, sse, sse_error
from .completions import raw_completion
from .passthrough import chat_upstream
from ..gate import Gate
from ..strategies import parse_strategy
from ..types import Request as TGRequest
from ..types import Sampling, ThinkingSpec
from ..verify import regex_verifier
from .control import BadField, Decision, decide, to_messages
from .metrics import Metrics
from .scheduler import BatchingBackend
from .schemas import ChatCompletionRequest, CompletionRequest


class _Server:
    def __init__(self, backend: Backend | None, model_name: str, strategy: str, default_thinking: str,
                 api_key: str | None, max_queue: int, batch_window_ms: float, default_max_tokens: int,
                 chat: UpstreamChat | None):
        self.metrics = Metrics()
        self.model_name = model_name
        self.default_thinking = default_thinking
        self.api_key = api_key
        self.max_queue = max_queue
        self.default_max_tokens = default_max_tokens
        self.chat = chat
        self.in_flight = 0
        self.lock = threading.Lock()
        if backend is not None and not isinstance(backend, OpenAICompatBackend):
            backend = BatchingBackend(backend, window_ms=batch_window_ms, on_batch=self.metrics.batch_rows.observe)
        self.backend = backend
        self.default_strategy = parse_strategy(strategy).spec
        self.gates: dict[str, Gate] = {}
        if backend is not None:
            self.gate(self.default_strategy)  # fail at start-up, not on the first request

    def gate(self, spec: str | None) -> Gate:
        spec = spec or self.default_strategy
        if spec not in self.gates:
            try:
                strategy = parse_strategy(spec)
            except ValueError as e:
                raise BadField(str(e), "thinking.strategy") from None
            self.gates[spec] = Gate(self.backend, strategy)
        return self.gates[spec]

    def admit(self) -> None:
        with self.lock:
            if self.in_flight >= self.max_queue:
                self.metrics.rejected.inc()
                raise APIError(429, f"the queue is full ({self.max_queue} requests in flight); retry later",
                               "rate_limit_error", code="queue_full")
            self.in_flight += 1
            self.metrics.in_flight.set(self.in_flight)
        if isinstance(self.backend, BatchingBackend):
            self.backend.enter()

    def release(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)
        if isinstance(self.backend, BatchingBackend):
            self.backend.leave()

    def check_model(self, name: str) -> None:
        if name != self.model_name:
            raise APIError(404, f"model {name!r} is not served here; this server serves {self.model_name!r}",
                           param="model", code="model_not_found")


def create_app(backend: Backend | None, model_name: str, *, strategy: str = "think", default_thinking: str = "on",
               api_key: str | None = None, max_queue: int = 256, batch_window_ms: float = 10.0,
               default_max_tokens: int = 1024, chat: UpstreamChat | None = None) -> FastAPI:
    """The app for one model. `backend` is a local backend (batched here) or an `OpenAICompatBackend`;
    pass `chat` instead for the chat fallback to an engine."""
    if default_thinking not in ("auto", "on", "off"):
        raise ValueError(f"default thinking must be auto, on or off, not {default_thinking!r}")
    if (backend is None) == (chat is None):
        raise ValueError("serve either a backend or an upstream chat endpoint")
    srv = _Server(backend, model_name, strategy, default_thinking, api_key, max_queue, batch_window_ms,
                  default_max_tokens, chat)
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        from ..streaming import workers

        workers.prestart(min(max_queue, 64))  # threads for requests' strategies, ready before a burst
        if isinstance(srv.backend, OpenAICompatBackend):  # engine I/O on this loop: no thread hop per token
            srv.backend.calls.attach(asyncio.get_running_loop())
        # what start-up loaded (transformers, the tokenizer, the model: millions of objects) will live as long
        # as the server: keep it out of the cyclic collector's scans, or a full collection triggered by
        # requests' short-lived objects stalls every stream for a tenth of a second
        gc.collect()
        gc.freeze()
        yield

    app = FastAPI(title="thinkgate", version="0.1.0", lifespan=lifespan)
    app.state.server = srv
    m = srv.metrics

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        m.requests.labels(request.url.path, str(e.status)).inc()
        return error_response(e.status, e.message, e.type, e.param, e.code)

    async def _mapped(request: Request, e: Exception):
        return await _api_error(request, as_api_error(e))

    for kind in (BadField, ValueError, MissingCapability, UpstreamError):
        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        err = e.errors()[0] if e.errors() else {}
        loc = [str(x) for x in err.get("loc", []) if x != "body"]
        param = ".".join(loc) or None
        if err.get("type") == "json_invalid":
            msg, code = f"the body is not valid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}", "invalid_json"
        elif err.get("type") == "extra_forbidden":
            msg, code = f"unknown field {param!r}", "unknown_field"
        else:
            msg, code = f"{param or 'body'}: {err.get('msg', 'invalid')}", "invalid_field"
        m.requests.labels(request.url.path, "400").inc()
        return error_response(400, msg, "invalid_request_error", param, code)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return error_response(e.status_code, str(e.detail), "invalid_request_error",
                      code="not_found" if e.status_code == 404 else None)

    async def authorize(request: Request) -> None:
        if srv.api_key is None:
            return
        got = request.headers.get("authorization", "")
        if not got.lower().startswith("bearer "):
            raise APIError(401, "missing API key: send 'Authorization: Bearer KEY'", "authentication_error",
                           code="missing_api_key")
        if got[7:].strip() != srv.api_key:
            raise APIError(401, "wrong API key", "authentication_error", code="invalid_api_key")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": srv.model_name, "in_flight": srv.in_flight}

    @app.get("/metrics")
    async def metrics():
        return Response(m.render(), media_type=m.content_type)

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models():
        return {"object": "list", "data": [{"id": srv.model_name, "object": "model", "created": 0,
                                            "owned_by": "thinkgate"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        srv.check_model(body.model)
        if body.n != 1:
            raise APIError(400, "n > 1 is not supported for chat completions (use thinking.strategy "
                                "'parallel:n=N' to sample and vote)", param="n", code="unsupported")
        if srv.chat is not None:
            return await chat_upstream(srv, body, request)
        messages = to_messages(body)
        decision, messages = decide(body, messages, srv.default_thinking)
        gate = srv.gate(decision.strategy)
        max_tokens = body.max_completion_tokens or body.max_tokens or srv.default_max_tokens
        verifier = None
        if body.thinking is not None and body.thinking.verify is not None:
            try:
                verifier = regex_verifier(body.thinking.verify)
            except ValueError as e:
                raise BadField(str(e), "thinking.verify") from None
        try:
            req = TGRequest(messages=messages, verifier=verifier,
                            thinking=ThinkingSpec(mode=decision.mode, budget=decision.budget,
                                                  min_budget=decision.min_budget),
                            sampling=Sampling(max_tokens=max_tokens, temperature=body.temperature or 0.0,
                                              top_p=body.top_p or 1.0, top_k=max(0, body.top_k or 0), seed=body.seed))
        except ValueError as e:
            raise APIError(400, str(e), code="invalid_value") from None
        srv.admit()
        started = time.perf_counter()
        relay = Relay(asyncio.get_running_loop(), on_end=srv.release)
        events = relay.queue
        # an engine upstream does its I/O on this loop: the strategy runs here too (no thread per request)
        stream = gate.stream(req, on_event=relay.put, on_token=m.generated_tokens.inc,
                             inline=isinstance(srv.backend, OpenAICompatBackend))
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:  # the first event decides the status: an upstream failure is a 502/504, not a 200
            return EventStream(_chat_stream(srv, body, decision, gate, stream, events, rid, created, started))
        result = await _wait(stream, events, request, m)
        if isinstance(result, BaseException):
            raise as_api_error(result)
        _account(srv, decision, result, "/v1/chat/completions", started)
        return {"id": rid, "object": "chat.completion", "created": created, "model": srv.model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer,
                                                      "reasoning_content": result.reasoning,
                                                      "reasoning": result.reasoning},
                             "finish_reason": result.finish_reason, "logprobs": None}],
                "usage": _usage(result), "thinkgate": _decision(decision, gate, result)}

    @app.post("/v1/completions", dependencies=[Depends(authorize)])
    async def completions(body: CompletionRequest, request: Request):
        srv.check_model(body.model)
        if srv.backend is None:
            raise APIError(400, "/v1/completions is not available in chat fallback (--upstream-chat): "
                                "the engine is reached through its chat endpoint only", code="unsupported")
        if body.echo:
            raise APIError(400, "echo is not supported", param="echo", code="unsupported")
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if not prompts:
            raise APIError(400, "prompt is empty", param="prompt", code="invalid_value")
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        try:
            params = GenParams(max_tokens=body.max_tokens or 16, stop=stop, temperature=body.temperature or 0.0,
                               top_p=body.top_p or 1.0, top_k=max(0, body.top_k or 0), n=body.n,
                               logprobs=body.logprobs is not None, seed=body.seed)
        except ValueError as e:
            raise APIError(400, str(e), code="invalid_value") from None
        srv.admit()
        return await raw_completion(srv, body, prompts, params, request)

    return app


async def _wait(stream, events: asyncio.Queue, request: Request, m: Metrics):
    """The Result (or the exception) of a non-streamed request; a client that goes away cancels it."""
    while True:
        try:
            kind, payload = await asyncio.wait_for(events.get(), timeout=0.5)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                stream.cancel()
                m.cancelled.inc()
                return APIError(499, "client went away", code="cancelled")
            continue
        if kind == "done":
            return payload
        if kind == "error":
            return payload


def _usage(result) -> dict[str, Any]:
    u = result.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens}}


def _decision(decision: Decision, gate: Gate, result) -> dict[str, Any]:
    truncated = None
    if result.finish_reason == "length":
        truncated = "thinking" if not result.closed else "answer"
    route = result.route()
    return {"mode": route.get("decision", result.mode), "requested_mode": decision.mode,
            "decided_by": route.get("router", decision.source),
            "budget": route.get("budget", decision.budget), "min_budget": decision.min_budget,
            "strategy": result.strategy, "router_score": route.get("score"), "thinking_closed": result.closed,
            "truncated": truncated, "reasoning_tokens": result.usage.reasoning_tokens,
            "answer_tokens": result.usage.answer_tokens, "trace": [e.model_dump() for e in result.trace]}


def _account(srv: _Server, decision: Decision, result, endpoint: str, started: float) -> None:
    m = srv.metrics
    m.requests.labels(endpoint, "200").inc()
    m.latency.labels(endpoint).observe(time.perf_counter() - started)
    unconstrained = result.strategy == "think" and result.mode == "think"
    m.served(result.mode, decision.source, result.usage.reasoning_tokens, result.usage.answer_tokens, unconstrained)


async def _chat_stream(srv: _Server, body: ChatCompletionRequest, decision: Decision, gate: Gate, stream, events,
                    rid: str, created: int, started: float):
    m = srv.metrics
    meta = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": srv.model_name}
    head = orjson.dumps(meta).decode()[:-1]
    def chunk(delta: dict, finish=None) -> str:
        return (f'data: {head},"choices":[{{"index":0,"delta":{orjson.dumps(delta).decode()},'
                f'"finish_reason":{orjson.dumps(finish).decode()}}}]}}\n\n')

    finished = False
    first = True
    try:
        role = chunk({"role": "assistant", "content": ""})
        pending = [await events.get()]
        if pending[0][0] == "error":
            finished = True
            e = as_api_error(pending[0][1])
            m.requests.labels("/v1/chat/completions", str(e.status)).inc()
            raise e
        while True:
            batch = pending or [await events.get()]
            pending = []
            while not events.empty():  # deltas that arrived meanwhile leave in one write
                batch.append(events.get_nowait())
            out = []
            merged: list = []  # consecutive deltas of one kind leave as one chunk
            for kind, payload in batch:
                if merged and kind == merged[-1][0] and kind in ("reasoning", "content"):
                    merged[-1] = (kind, merged[-1][1] + payload)
                else:
                    merged.append((kind, payload))
            for kind, payload in merged:
                if kind in ("reasoning", "content"):
                    if first:
                        m.ttft.labels("/v1/chat/completions").observe(time.perf_counter() - started)
                        first = False
                    delta = {"reasoning_content": payload, "reasoning": payload} if kind == "reasoning" \
                        else {"content": payload}
                    out.append(chunk(delta))
                elif kind == "done":
                    result = payload
                    finished = True
                    _account(srv, decision, result, "/v1/chat/completions", started)
                    final = {**meta, "choices": [{"index": 0, "delta": {}, "finish_reason": result.finish_reason}]}
                    final["thinkgate"] = _decision(decision, gate, result)
                    if body.include_usage():
                        final["usage"] = _usage(result)
                    out.append(sse(final))
                    if body.include_usage():
                        out.append(sse({**meta, "choices": [], "usage": _usage(result)}))
                    out.append("data: [DONE]\n\n")
                elif kind == "error":
                    finished = True
                    e = as_api_error(payload)
                    m.requests.labels("/v1/chat/completions", str(e.status)).inc()
                    out.append(sse_error(e))
                    out.append("data: [DONE]\n\n")
            if role:  # the role chunk leaves first: when the engine accepted the request ("open"), or with
                out.insert(0, role)  # the first delta
                role = ""
            if out:
                yield "".join(out)
            if finished:
                return
    finally:
        if not finished:  # the client went away mid-stream: stop generating
            stream.cancel()
            m.cancelled.inc()
