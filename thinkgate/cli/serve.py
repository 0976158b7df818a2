"""`thinkgate serve`: the OpenAI-compatible server, in front of a local model or an engine."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..backends.engines import ENGINES
from .common import (BackendOpt, Engine, FormatOpt, ModelsOpt, _roster, app, choices, engine_options, err,
                     fail, need)

EngineKind = choices("EngineKind", "auto", *ENGINES)
ReasoningFormat = choices("ReasoningFormat", "separate", "inline")
DefaultThinking = choices("DefaultThinking", "on", "off", "auto")


@app.command()
@engine_options(concurrency=False, logprobs="needed")
def serve(
    model: ModelsOpt = None,
    backend_kind: BackendOpt = "auto",
    engine: Engine = Engine(),
    upstream_chat: Annotated[bool, typer.Option("--upstream-chat", help=(
        "Chat fallback: pass chat requests to the engine's /v1/chat/completions with thinking on/off/auto, "
        "budgets and effort in the engine's own fields (no strategies). --tokenizer is optional here: with it, "
        "usage the engine does not send is counted in tokens."))] = False,
    engine_kind: Annotated[EngineKind, typer.Option("--engine", help=(
        "With --upstream-chat, the engine, whose own fields carry thinking on/off, budgets and effort: vllm, "
        "sglang, llamacpp (llama-server), llama-cpp-python, ollama, openai, thinkgate, or auto (asked of the "
        "engine at start-up). See docs/engines/."))] = "auto",
    reasoning_format: Annotated[ReasoningFormat, typer.Option("--reasoning-format", help=(
        "separate: the thought in reasoning_content and reasoning; inline: in content, between the model "
        "family's tags, for pipelines that read only the content (as an engine without a reasoning parser)."))] = "separate",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    api_key: Annotated[Optional[str], typer.Option("--api-key", envvar="THINKGATE_API_KEY", help=(
        "Require 'Authorization: Bearer KEY' (or 'x-api-key: KEY') on /v1/* and /api/*."))] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="The default strategy spec.")] = "think",
    default_thinking: Annotated[DefaultThinking, typer.Option("--default-thinking", help=(
        "on | off | auto: the mode when a request asks for none (auto: the model decides; a router deciding is "
        "the strategy route)."))] = "on",
    max_queue: Annotated[int, typer.Option("--max-queue", min=1, help="Requests in flight before 429.")] = 256,
    upstream_idle_timeout: Annotated[Optional[float], typer.Option("--upstream-idle-timeout", min=0.1, help=(
        "Seconds the engine may stay silent within a request (default: --upstream-timeout)."))] = None,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", min=1024, help="Largest request body (413 beyond).")] = 2 << 20,
    body_timeout: Annotated[float, typer.Option("--body-timeout", min=0.001, help=(
        "Seconds a client has to send a whole request body (408, and the connection closed, beyond)."))] = 30.0,
    max_tokens_limit: Annotated[int, typer.Option("--max-tokens-limit", min=1, help=(
        "Largest max_tokens a request may ask for, and largest token count in a request's strategy parameters."))] = 32768,
    max_loops: Annotated[int, typer.Option("--max-loops", min=1, help=(
        "Largest n, and largest repeat count in a request's strategy parameters (parallel:n, max_probes, "
        "max_extensions)."))] = 32,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="max_tokens when a request sets none.")] = 1024,
    batch_window_ms: Annotated[float, typer.Option("--batch-window-ms", min=0.0, help=(
        "Local model: the scheduler adds calls to a shared generate call while they come less than this "
        "far apart (for at most 10x this)."))] = 10.0,
    served_name: Annotated[Optional[str], typer.Option("--served-model-name", help=(
        "The model name clients send; default: --model's name or --upstream-model."))] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    fmt: FormatOpt = None,
) -> None:
    """Serve the OpenAI-compatible API (chat completions, completions, models, health, metrics), OpenAI's
    Responses API, Anthropic's Messages API and Ollama's chat, with thinking control per request in each
    API's own words, in front of a local model or an engine."""
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        need(module, "serve", "thinkgate serve")
    import uvicorn

    from ..roster import ModelSpec
    from ..server.app import create_app

    chat = None
    backend = None
    if upstream_chat:
        from ..server.upstream_chat import UpstreamChat
        from ..errors import ModelLoadError, UpstreamError

        if not engine.url or not engine.model:
            fail("--upstream-chat needs --upstream URL and --upstream-model NAME")
        try:
            chat = UpstreamChat(engine.url, engine.model, api_key=engine.key, timeout=engine.timeout,
                                idle_timeout=upstream_idle_timeout, engine=engine_kind, tokenizer=engine.tokenizer,
                                max_body=engine.max_body_bytes)
        except (ModelLoadError, UpstreamError) as e:  # a tokenizer folder, or an engine that is not there
            fail(str(e))
        except ValueError as e:
            fail(f"--engine: {e}")
        err.print(f"[dim]chat fallback to engine {chat.engine.name!r}[/]")
    else:
        backend = _roster(model, engine, concurrency=max_queue, idle_timeout=upstream_idle_timeout, kind=backend_kind,
                          lazy=False)
    # the name clients send: the first model's NAME= where it has one, else its source as given
    first = ModelSpec.parse(model[0]) if model else None  # checked already: the roster was built from it
    name = served_name or engine.model or (
        "tiny" if first is None else first.name if model[0].startswith(first.name + "=") or first.is_engine
        else first.source)
    from ..errors import RouterError, UpstreamError
    from ..server.guard import ServerLimits

    try:
        limits = ServerLimits(max_body_bytes=max_body_bytes, body_timeout=body_timeout, max_tokens=max_tokens_limit,
                              max_loops=max_loops)
        application = create_app(backend, name, strategy=strategy, default_thinking=default_thinking,
                                 api_key=api_key, max_queue=max_queue, batch_window_ms=batch_window_ms,
                                 default_max_tokens=max_tokens, chat=chat, limits=limits, fmt=fmt,
                                 reasoning_format=reasoning_format, freeze_gc=True)
    except (ValueError, KeyError, RouterError, UpstreamError) as e:
        fail(str(e).strip('"'))
    err.print(f"[dim]thinkgate serving {name!r} on http://{host}:{port}/v1[/]")
    # requests run their strategy in threads while the event loop streams: hand the interpreter lock over
    # sooner than the default 5 ms, so that a burst of requests does not wait on it
    sys.setswitchinterval(0.0005)
    uvicorn.run(application, host=host, port=port, log_level=log_level)
