"""The OpenAI-compatible HTTP face: a thin layer over `Gate.stream` (the same call as `Gate.run`, streamed).

`create_app(...)` builds the FastAPI app for one served model:
- a local model: its backend wrapped in the batching scheduler, one Gate per strategy spec in use;
- an engine upstream in raw-prefix mode (`OpenAICompatBackend`): the same Gates, the engine batches;
- an engine upstream in chat fallback (`UpstreamChat`): chat requests pass through with the engine's
  thinking switch set (no strategy can run without raw prefixes; see `upstream_chat.py`).

Every API face takes one path (`launch.py`: a request in thinkgate's words is decided, planned, admitted and
started; a `Writer` per API writes its stream over the one pump): chat completions here, OpenAI's Responses
API (`responses_api.py`), Anthropic's Messages API (`messages_api.py`) and Ollama's chat (`ollama_api.py`).
Chat completions carry the answer in `message.content`, the thinking in `message.reasoning_content` and
`message.reasoning` (the names vLLM and others use), `usage.completion_tokens_details.reasoning_tokens`,
and a `thinkgate` object with the decision. `/v1/completions` continues a raw prompt (engine semantics,
no chat template, no strategy; completions.py), so a thinkgate server can itself be the engine of another.
Chat fallback is passthrough.py; errors, the thread-to-loop relay and SSE helpers are common.py; the
operator's limits, the API key, the body size limit and the catch-all for unexpected errors are guard.py;
reading a body as JSON (its Content-Type and Content-Encoding, its syntax, its depth) is body.py.

No request can take the server down: every field is validated at the edge (text that is not valid
Unicode, an empty prompt, a count or token number past the operator's `ServerLimits` are 400s that name
the field), a request cannot name a file on the server (`route:dir` is refused; routers are the
operator's), every failure answers as `{"error": ...}` with its status, and `/health` says 503 when a
background loop (the batching scheduler) is gone.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..backends.base import Backend, GenParams
from ..backends.openai_compat import OpenAICompatBackend
from ..errors import InvalidText, MissingCapability, RouterError, UpstreamError
from ..formats import get_format
from ..gate import Gate
from ..roster import Member, Roster
from ..strategies import Strategy, parse_strategy
from ..streaming import WorkerPool
from .body import DirectRoutes, JSONRoute, ServerApp, Unsupported
from .common import APIError, Inline, as_api_error, endpoint, error_response, new_id, sse, sse_error
from . import messages_api, ollama_api, responses_api
from .completions import raw_completion
from .control import BadField, Controls, to_messages, tools_of
from .launch import Ask, Launched, Writer, content_logprobs, details, respond
from .guard import CatchAll, LimitBody, RequireKey, ServerLimits
from .metrics import Metrics
from .passthrough import chat_upstream
from .upstream_chat import UpstreamChat
from .scheduler import BatchingBackend
from .schemas import ChatCompletionRequest, CompletionRequest, ErrorResponse

# what the OpenAPI document lists for every /v1 operation: the errors this server does send
_ERRORS = {400: "a malformed body or a bad field", 401: "a missing or wrong API key", 404: "a model not served here",
           408: "a body not received within --body-timeout", 413: "a body over --max-body-bytes",
           415: "a body that is not JSON (Content-Type) or is compressed (Content-Encoding)",
           429: "the queue is full (--max-queue)",
           500: "an unexpected failure (details in the server log)", 502: "the engine upstream is unreachable",
           504: "the engine upstream did not answer in time"}


class _Server:
    def __init__(self, backend: Backend | Roster | None, model_name: str, strategy: str, default_thinking: str,
                 max_queue: int, batch_window_ms: float, default_max_tokens: int,
                 chat: UpstreamChat | None, limits: ServerLimits, fmt: str | None = None):
        self.metrics = Metrics()
        self.metrics.in_flight.set_function(lambda: self.in_flight)  # read when scraped, not set per request
        self.limits = limits
        models = backend if isinstance(backend, Roster) or backend is None else Roster.of(backend)
        backend = models.primary.backend if models is not None else None
        self.fmt = get_format(fmt, backend.tokenizer) if backend is not None else None  # detected once
        self.pool = WorkerPool(max_queue)  # threads for requests' strategies (a local model)
        self.model_name = model_name
        self.default_thinking = default_thinking
        self.max_queue = max_queue
        self.default_max_tokens = default_max_tokens
        self.chat = chat
        self.inline = False  # the thought in `content` between the family's tags (--reasoning-format inline)
        self.in_flight = 0
        self.lock = threading.Lock()
        # every local model batched on its own; engines' I/O on this loop (attached at start-up); the served
        # model's family as detected here, so no gate detects it again
        self.models = models and Roster([Member(
            name=m.name, declared_params=m.params, fmt_name=m.fmt_name, fingerprint_source=m.fingerprint_source,
            _format=self.fmt if k == 0 else None,
            _backend=m.backend if isinstance(m.backend, OpenAICompatBackend) else BatchingBackend(
                m.backend, window_ms=batch_window_ms, on_batch=self.metrics.batch_rows.observe))
            for k, m in enumerate(models)])
        self.backend = self.models.primary.backend if self.models else None
        self.batching = [m.backend for m in self.models or [] if isinstance(m.backend, BatchingBackend)]
        # the served model's batcher counts the requests in flight that run on it alone (it waits for as many
        # calls as there are such requests); a two-model strategy's request may be waiting on the other model,
        # so no batcher counts it: the others serve their calls by their time window alone
        self.counted = [self.backend] if isinstance(self.backend, BatchingBackend) else []
        self.engines = [m.backend for m in self.models or [] if isinstance(m.backend, OpenAICompatBackend)]
        # a strategy runs on the loop itself (a greenlet) only where every model it may call is an engine
        self.on_loop = bool(self.models) and not self.batching
        self.default_strategy = parse_strategy(strategy).spec
        self.gates: OrderedDict[str, Gate] = OrderedDict()  # least recently used first
        if backend is not None:
            self.gate(None).prepare()  # fail at start-up (a missing router), not on a request

    def gate(self, spec: str | None) -> Gate:
        """The gate of a request's strategy (`spec`: named, so a control that contradicts it is a 400), or of
        the server's default (None: it gives way to a request's controls). A strategy a client names is
        checked against the limits and may not name server files."""
        named = spec is not None
        spec = spec or self.default_strategy
        key = f"{'named' if named else 'default'}|{spec}"
        if key in self.gates:
            self.gates.move_to_end(key)
            return self.gates[key]
        try:
            strategy = parse_strategy(spec)
        except ValueError as e:
            raise BadField(str(e), "thinking.strategy") from None
        if spec != self.default_strategy:
            strategy = self._check(strategy)
        gate = Gate(self.models, strategy, named=named)  # the served model's family is its member's
        if spec != self.default_strategy and strategy.runs_several():  # the models a client's strategy names exist
            try:  # (a name lookup: nothing here may wait on an engine, on the loop)
                strategy.resolve(gate.models)
            except ValueError as e:
                raise BadField(str(e), "thinking.strategy") from None
        self.gates[key] = gate
        while len(self.gates) > self.limits.max_gates:
            self.gates.popitem(last=False)
        return self.gates[key]

    def _check(self, strategy: Strategy) -> Strategy:
        """A client's strategy within the operator's limits: a parameter it named past a limit is a 400, a
        default past one is brought down to it."""
        lim = self.limits
        if paths := strategy.parameters("PATHS"):
            raise BadField(f"{', '.join(paths)} names a file on the server, which a request may not; the "
                           "operator chooses routers when starting the server", "thinking.strategy")
        for name, value in strategy.parameters("LOOPS", named_only=True).items():
            if value > lim.max_loops:
                raise BadField(f"{name}={value} is above this server's limit of {lim.max_loops} (--max-loops)",
                               "thinking.strategy")
        for name, value in strategy.parameters("TOKENS", named_only=True).items():
            if value > lim.max_tokens:
                raise BadField(f"{name}={value} is above this server's limit of {lim.max_tokens} tokens "
                               "(--max-tokens-limit)", "thinking.strategy")
        return strategy.capped({"LOOPS": lim.max_loops, "TOKENS": lim.max_tokens})

    def check_max_tokens(self, value: int | None, param: str) -> None:
        if value is not None and value > self.limits.max_tokens:
            raise APIError(400, f"{param}={value} is above this server's limit of {self.limits.max_tokens} "
                                "(--max-tokens-limit)", param=param, code="invalid_value")

    def healthy(self) -> bool:
        return all(b.healthy() for b in self.batching)

    def admit(self, counted: bool = True) -> None:
        """Take a request in (a 429 when the queue is full); `counted`: it runs on the served model alone, so
        that model's batcher waits for its calls (see `counted`)."""
        with self.lock:
            if self.in_flight >= self.max_queue:
                self.metrics.rejected.inc()
                raise APIError(429, f"the queue is full ({self.max_queue} requests in flight); retry later",
                               "rate_limit_error", code="queue_full")
            self.in_flight += 1
        for b in self.counted if counted else []:
            b.enter()

    def release(self, counted: bool = True) -> None:
        with self.lock:
            self.in_flight -= 1
        for b in self.counted if counted else []:
            b.leave()

    def refuse_chat_fallback(self, path: str) -> None:
        """The other APIs' routes need thinkgate to render the prompt: in chat fallback they are a 400."""
        if self.chat is not None:
            raise APIError(400, f"{path} is served where thinkgate renders the prompt (a local model, or an engine in "
                                "raw-prefix mode with --upstream); in chat fallback (--upstream-chat) only "
                                "/v1/chat/completions passes to the engine", code="unsupported")

    def check_model(self, name: str) -> None:
        if name != self.model_name:
            raise APIError(404, f"model {name!r} is not served here; this server serves {self.model_name!r}",
                           param="model", code="model_not_found")


def create_app(backend: Backend | Roster | None, model_name: str, *, strategy: str = "think", default_thinking: str = "on",
               api_key: str | None = None, max_queue: int = 256, batch_window_ms: float = 10.0,
               default_max_tokens: int = 1024, chat: UpstreamChat | None = None,
               limits: ServerLimits | None = None, freeze_gc: bool = False, fmt: str | None = None,
               reasoning_format: str = "separate") -> FastAPI:
    """The app for one model. `backend` is a local backend (batched here) or an `OpenAICompatBackend`, or a
    `Roster` of named models (the first the one served; the others for two-model strategies, each local one
    batched on its own); pass `chat` instead for the chat fallback to an engine. `limits`: the per-request bounds
    (`ServerLimits()` by default). `fmt`: the model's family (None: detected from its template).
    `reasoning_format`: separate (the thought in `reasoning_content` and `reasoning`) or inline (in
    `content`, between the family's tags, for pipelines that read only the content).
    `freeze_gc`: move what start-up loaded out of the cyclic collector's scans (a process-wide setting: off
    here, for an app built inside another program; `thinkgate serve` turns it on)."""
    if default_thinking not in ("auto", "on", "off"):
        raise ValueError(f"default thinking must be auto, on or off, not {default_thinking!r}")
    if (backend is None) == (chat is None):
        raise ValueError("serve either a backend or an upstream chat endpoint")
    if reasoning_format not in ("separate", "inline"):
        raise ValueError(f"reasoning format must be separate or inline, not {reasoning_format!r}")
    limits = limits or ServerLimits()
    if default_max_tokens > limits.max_tokens:
        raise ValueError(f"the default max_tokens ({default_max_tokens}) is above the limit ({limits.max_tokens})")
    srv = _Server(backend, model_name, strategy, default_thinking, max_queue, batch_window_ms,
                  default_max_tokens, chat, limits, fmt)
    srv.inline = reasoning_format == "inline"
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        if srv.batching:
            srv.pool.prestart(min(max_queue, 64))  # threads for requests' strategies, ready before a burst
        for engine in srv.engines:  # engine I/O on this loop: no thread hop per token
            engine.calls.attach(asyncio.get_running_loop())
        if srv.chat is not None:
            srv.chat.attach(asyncio.get_running_loop())
        # what start-up loaded (transformers, the tokenizer, the model: millions of objects) will live as long
        # as the server: keep it out of the cyclic collector's scans, or a full collection triggered by
        # requests' short-lived objects stalls every stream for a tenth of a second
        if freeze_gc:
            gc.collect()
            gc.freeze()
        app.started()
        yield

    app = ServerApp(title="thinkgate", version="0.1.0", lifespan=lifespan)
    app.router.route_class = JSONRoute  # bodies are read by body.py: 415 / 400 for what cannot be read
    app.state.server = srv
    m = srv.metrics
    count = lambda status: lambda path: m.requests.labels(endpoint(path), status).inc()  # noqa: E731
    guards = [(LimitBody, dict(max_bytes=limits.max_body_bytes, timeout=limits.body_timeout,
                               on_reject=lambda path, status: m.requests.labels(endpoint(path), str(status)).inc())),
              (RequireKey, dict(api_key=api_key, on_reject=count("401"))),
              (CatchAll, dict(on_error=count("500")))]
    for cls, kw in guards:  # each added outside the last
        app.add_middleware(cls, **kw)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, e: APIError):
        m.requests.labels(endpoint(request.url.path), str(e.status)).inc()
        return Response(e.body(request.url.path), status_code=e.status, media_type="application/json",
                        headers=e.headers if isinstance(e, Unsupported) else None)

    async def _mapped(request: Request, e: Exception):
        return await _api_error(request, as_api_error(e))

    for kind in (BadField, ValueError, MissingCapability, UpstreamError, RouterError):
        app.add_exception_handler(kind, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        err = e.errors()[0] if e.errors() else {}
        loc = [str(x) for x in err.get("loc", []) if x != "body"]
        param = ".".join(loc) or None
        cause = (err.get("ctx") or {}).get("error")
        if err.get("type") == "json_invalid":  # body.py reads bodies first; this is FastAPI's own reading
            msg = f"the body is not valid JSON: {err.get('ctx', {}).get('error', err.get('msg'))}"
            msg, code, param = f"{msg} (at character {loc[0]})" if loc else msg, "invalid_json", None
        elif isinstance(cause, InvalidText):
            msg, code, param = str(cause), "invalid_text", cause.where
        elif err.get("type") == "extra_forbidden":
            msg, code = f"unknown field {param!r}", "unknown_field"
        else:
            text = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            msg, code = f"{param or 'body'}: {text}", "invalid_field"
        m.requests.labels(endpoint(request.url.path), "400").inc()
        return error_response(400, msg, "invalid_request_error", param, code, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException):
        return error_response(e.status_code, str(e.detail), "invalid_request_error",
                              code="not_found" if e.status_code == 404 else None, path=request.url.path)

    @app.get("/health")
    async def health():
        if not srv.healthy():
            return JSONResponse({"status": "unhealthy", "model": srv.model_name, "in_flight": srv.in_flight,
                                 "reason": "the batching scheduler's thread is gone"}, status_code=503)
        return {"status": "ok", "model": srv.model_name, "in_flight": srv.in_flight}

    @app.get("/metrics")
    async def metrics():
        return Response(m.render(), media_type=m.content_type)

    @app.get("/v1/models", responses=_error_docs())
    async def models():
        return {"object": "list", "data": [{"id": srv.model_name, "object": "model", "created": 0,
                                            "owned_by": "thinkgate"}]}

    @app.post("/v1/chat/completions", responses=_error_docs())
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        srv.check_model(body.model)
        if body.n != 1:
            raise APIError(400, "n > 1 is not supported for chat completions (use thinking.strategy "
                                "'parallel:n=N' to sample and vote)", param="n", code="unsupported")
        srv.check_max_tokens(body.max_tokens, "max_tokens")
        srv.check_max_tokens(body.max_completion_tokens, "max_completion_tokens")
        if srv.chat is not None:  # the engine honours every field it is sent
            return await chat_upstream(srv, body, request)
        _refuse_unhonoured(body, "chat")
        ask = Ask(messages=to_messages(body), controls=Controls.of_chat(body), tools=tools_of(body),
                  path="/v1/chat/completions", max_tokens=body.max_completion_tokens or body.max_tokens,
                  temperature=body.temperature, top_p=body.top_p, top_k=body.top_k, seed=body.seed,
                  logprobs=body.logprobs_asked(),
                  stop=[body.stop] if isinstance(body.stop, str) else list(body.stop or []))
        created = int(time.time())
        # streamed, the first event decides the status: an upstream failure is a 502/504, not a 200
        return await respond(srv, request, ask, body.stream, lambda run, result: _chat_whole(srv, run, result, created),
                             lambda run: _ChatWriter(srv, body, run, created))

    @app.post("/v1/completions", responses=_error_docs())
    async def completions(body: CompletionRequest, request: Request):
        srv.check_model(body.model)
        if srv.backend is None:
            raise APIError(400, "/v1/completions is not available in chat fallback (--upstream-chat): "
                                "the engine is reached through its chat endpoint only", code="unsupported")
        if body.echo:
            raise APIError(400, "echo is not supported", param="echo", code="unsupported")
        _refuse_unhonoured(body, "completions")
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        if len(prompts) > srv.limits.max_prompts:
            raise APIError(400, f"{len(prompts)} prompts is above this server's limit of {srv.limits.max_prompts}",
                           param="prompt", code="invalid_value")
        if body.n > srv.limits.max_loops:
            raise APIError(400, f"n={body.n} is above this server's limit of {srv.limits.max_loops} (--max-loops)",
                           param="n", code="invalid_value")
        srv.check_max_tokens(body.max_tokens, "max_tokens")
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        try:
            params = GenParams(max_tokens=body.max_tokens or 16, stop=stop, temperature=body.temperature or 0.0,
                               top_p=body.top_p or 1.0, top_k=max(0, body.top_k or 0), n=body.n,
                               logprobs=body.logprobs is not None, top_logprobs=body.logprobs or 0, seed=body.seed)
        except ValueError as e:
            raise APIError(400, str(e), code="invalid_value") from None
        srv.admit()
        return await raw_completion(srv, body, prompts, params, request)

    for face in (responses_api, messages_api, ollama_api):
        face.add_routes(app, srv, _error_docs())
    # Starlette tries the routes in order (a regular expression each, about 6 us a route in a server's
    # request): the APIs' POST routes before the documentation's and the GET ones (no path is in two)
    app.router.routes.sort(key=lambda r: "POST" not in (getattr(r, "methods", None) or ()))
    direct = {r.path: r.direct for r in app.router.routes if isinstance(r, JSONRoute) and r.direct is not None
              and r.methods == {"POST"}}
    stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: DirectRoutes.around(stack(), direct, app, guards)
    app.openapi = lambda: _openapi(app)
    return app


def _refuse_unhonoured(body: ChatCompletionRequest | CompletionRequest, endpoint: str) -> None:
    """A field that would change the output but that thinkgate's generation does not honour is a 400
    naming it, not ignored (schemas.py lists them)."""
    name = body.unhonoured(endpoint)
    if name is None:
        return
    value = (body.model_extra or {}).get(name, getattr(body, name, None))  # an extra field, or a declared one
    value = json.dumps(value, ensure_ascii=False)  # any number: orjson stops at 64 bits
    value = value if len(value) <= 60 else value[:57] + "..."
    where = ("when thinkgate's strategies generate (a local model, or an engine in raw-prefix mode); in chat "
             "fallback (--upstream-chat) the engine honours it") if endpoint == "chat" else "by /v1/completions here"
    raise APIError(400, f"{name}={value} is not supported {where}", param=name, code="unsupported")


def _error_docs() -> dict:
    return {status: {"model": ErrorResponse, "description": why} for status, why in _ERRORS.items()}


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document without the 422 it adds to every operation with a body: this server answers a
    body that fails validation with a 400 (listed, with the other errors it sends)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                op.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            doc.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema


def _usage(result) -> dict[str, Any]:
    u = result.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.prompt_tokens + u.completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens}}


def _chat_whole(srv: _Server, run: Launched, result, created: int) -> dict[str, Any]:
    """A chat completion that is not streamed."""
    message = {"role": "assistant", "content": result.answer, "reasoning_content": result.reasoning,
               "reasoning": result.reasoning}
    if srv.inline:
        fmt = run.gate.format
        message = {"role": "assistant", "content": Inline(fmt.open_tag, fmt.close_tag).whole(
            result.reasoning, result.answer, result.closed)}
    if result.tool_calls:
        message.update(content=result.answer or None, tool_calls=result.tool_calls)
    return {"id": new_id("chatcmpl-"), "object": "chat.completion", "created": created, "model": srv.model_name,
            "choices": [{"index": 0, "message": message,
                         "logprobs": None if result.logprobs is None else {
                             "content": content_logprobs(t.scored() for t in result.logprobs), "refusal": None},
                         "finish_reason": "tool_calls" if result.tool_calls else result.finish_reason}],
            "usage": _usage(result), "thinkgate": details(run, result)}


class _ChatWriter(Writer):
    """A streamed chat completion's chunks: the role chunk first, a chunk per delta (the answer's log
    probabilities so far with it), then the finish chunk with thinkgate's decision, the usage chunk when
    asked, and `[DONE]`."""

    def __init__(self, srv: _Server, body: ChatCompletionRequest, run: Launched, created: int):
        """(Made once the request has started: its id is no part of the time to first token.)"""
        self.run, self.usage = run, body.include_usage()
        self.meta = {"id": new_id("chatcmpl-"), "object": "chat.completion.chunk", "created": created,
                     "model": srv.model_name}
        self.head = orjson.dumps(self.meta).decode()[:-1]
        fmt = run.gate.format
        self.inline = Inline(fmt.open_tag, fmt.close_tag) if srv.inline else None

    def chunk(self, delta: dict, scored: list, finish=None) -> str:
        lp = ""
        if scored:  # the answer's tokens so far leave with the next delta (OpenAI's place for them)
            lp = f',"logprobs":{{"content":{orjson.dumps(content_logprobs(scored)).decode()},"refusal":null}}'
            scored.clear()
        return (f'data: {self.head},"choices":[{{"index":0,"delta":{orjson.dumps(delta).decode()}{lp},'
                f'"finish_reason":{orjson.dumps(finish).decode()}}}]}}\n\n')

    def begin(self) -> str:
        return self.chunk({"role": "assistant", "content": ""}, [])

    def delta(self, kind: str, text: str, scored: list) -> str:
        if self.inline is not None:
            delta = {"content": self.inline.reasoning(text) if kind == "reasoning" else self.inline.content(text)}
        else:
            delta = {"reasoning_content": text, "reasoning": text} if kind == "reasoning" else {"content": text}
        return self.chunk(delta, scored)

    def done(self, result, scored: list) -> str:
        out = []
        if result.tool_calls:  # the calls, whole, once the model has written them
            out.append(self.chunk({"tool_calls": [{"index": i, **call} for i, call in enumerate(result.tool_calls)]},
                                  scored))
        if scored:  # tokens whose text was all streamed before their log probabilities were known
            out.append(self.chunk({}, scored))
        final = {**self.meta, "choices": [{"index": 0, "delta": {},
                                           "finish_reason": "tool_calls" if result.tool_calls else result.finish_reason}]}
        final["thinkgate"] = details(self.run, result)
        if self.usage:
            final["usage"] = _usage(result)
        out.append(sse(final))
        if self.usage:
            out.append(sse({**self.meta, "choices": [], "usage": _usage(result)}))
        out.append("data: [DONE]\n\n")
        return "".join(out)

    def error(self, e: APIError) -> str:
        return sse_error(e) + "data: [DONE]\n\n"
