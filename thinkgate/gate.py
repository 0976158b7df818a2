"""A Gate is a backend (who writes tokens) + a chat format (how turns and think tags are written) + a
strategy (how thinking is steered). Every face — CLI, bench, server — calls `Gate.run` / `Gate.run_batch`,
or `Gate.stream`, which is `Gate.run` in a thread with its tokens streamed as they are generated."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from .backends.base import Backend
from .formats import ThinkingFormat, get_format
from .policy import Plan, plan
from .strategies import Strategy, parse_strategy
from .strategies.base import group_indices
from .types import Request, Result

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "tiny"


def resolve_model(name_or_path: str | None) -> Path:
    """An embedded model's name (e.g. `tiny`) or any folder path."""
    name = name_or_path or DEFAULT_MODEL
    embedded = MODELS_DIR / name
    if "/" not in name and embedded.is_dir():
        return embedded
    return Path(name).expanduser()


def load_backend(model: str | None = None, batch_size: int = 64, progress=None, kind: str = "auto") -> Backend:
    """The backend of an embedded model's name, a model folder or a GGUF file (`progress`: told of a
    first conversion). `kind`: hf (transformers), llamacpp (a GGUF file run by llama.cpp in-process) or
    auto (llamacpp for a GGUF file when llama-cpp-python is installed, else hf)."""
    import importlib.util

    from .backends.gguf import is_gguf
    from .errors import ModelLoadError

    path = resolve_model(model)
    if kind == "auto":
        kind = "llamacpp" if is_gguf(path) and importlib.util.find_spec("llama_cpp") else "hf"
    if kind == "llamacpp":
        if not is_gguf(path):
            raise ModelLoadError(f"the llamacpp backend runs GGUF files; {path} is not one (use --backend hf)")
        from .backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(path, progress=progress)
    from .backends.hf import HFBackend

    return HFBackend(path, batch_size=batch_size, progress=progress)


class Gate:
    """`named`: the strategy was chosen by whoever sends the requests (a library caller, `--strategy`, a
    request's `thinking.strategy`, a bench row), so a request control that contradicts it is an error; a
    default (the server's `--strategy`) gives way to the request's controls (`thinkgate.policy`)."""

    def __init__(self, backend: Backend, strategy: Strategy | str = "think", fmt: ThinkingFormat | str | None = None,
                 named: bool = True):
        self.backend = backend
        self.strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
        self.format = fmt if isinstance(fmt, ThinkingFormat) else get_format(fmt, backend.tokenizer)
        self.named = named
        # strategies composed for requests' controls, kept so that one holding state (a loaded router) is
        # built once; the controls clients send make few distinct ones, and at most `MAX_COMPOSED` are kept
        self._composed: OrderedDict[str, Strategy] = OrderedDict()

    MAX_COMPOSED = 32

    def plan(self, request: Request) -> Plan:
        """Which strategy serves `request` and why (`thinkgate.policy.plan`); raises `PolicyConflict`."""
        return plan(self.strategy, request.thinking, self.format, self.named)

    def strategy_for(self, request: Request) -> Strategy:
        chosen = self.plan(request).strategy
        if chosen is self.strategy:
            return chosen
        if chosen.spec in self._composed:
            self._composed.move_to_end(chosen.spec)
            return self._composed[chosen.spec]
        self._composed[chosen.spec] = chosen
        while len(self._composed) > self.MAX_COMPOSED:
            self._composed.popitem(last=False)
        return chosen

    def run(self, request: Request) -> Result:
        return self.run_batch([request])[0]

    def stream(self, request: Request, on_event=None, on_token=None, inline: bool = False, pool=None):
        """Serve one request as `run` does, in its own thread, streaming reasoning and answer deltas as the
        backend writes them (see `thinkgate.streaming`); returns the `Stream` (iterate it, or pass
        `on_event`; `cancel()` stops the generation). `inline`: run the strategy on the calling event
        loop's thread instead (a greenlet), for a backend whose I/O runs on that loop: an engine upstream
        attached to a server's loop. `pool`: a `streaming.WorkerPool` to serve it in (a server's), else a
        thread of its own."""
        from .streaming import Stream

        return Stream(lambda: self.run(request), self.format, on_event=on_event, on_token=on_token, inline=inline,
                      pool=pool, tools=bool(request.tools), stop=request.sampling.stop)

    def run_batch(self, requests: list[Request]) -> list[Result]:
        """The batch contract, enforced here once: a strategy is handed only requests that share the strategy
        that serves them and their sampling settings, so it may generate for all of them with one call's
        settings; results come back in request order, each what `run` gives for that request alone. Tools
        for a template whose tool calls cannot be read back are refused (`ToolsUnsupported`)."""
        for r in requests:
            self.format.check_tools(r.tools, r.messages, "tools")
        chosen = [self.strategy_for(r) for r in requests]
        by_spec = {s.spec: s for s in chosen}
        results: list[Result | None] = [None] * len(requests)
        keys = ((s.spec, r.sampling.model_dump_json()) for s, r in zip(chosen, requests))
        for (spec, _), idx in group_indices(keys).items():
            strategy = by_spec[spec]
            for i, res in zip(idx, strategy.run_batch([requests[i] for i in idx], self.backend, self.format)):
                results[i] = res
        return results  # type: ignore[return-value]
