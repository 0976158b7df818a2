"""A Gate is a backend (who writes tokens) + a chat format (how turns and think tags are written) + a
strategy (how thinking is steered). Every face — CLI, bench, server — calls `Gate.run` / `Gate.run_batch`,
or `Gate.stream`, which is `Gate.run` in a thread with its tokens streamed as they are generated."""

from __future__ import annotations

from pathlib import Path

from .backends.base import Backend
from .formats import ThinkingFormat, get_format
from .strategies import STRATEGIES, Strategy, parse_strategy
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
    def __init__(self, backend: Backend, strategy: Strategy | str = "think", fmt: ThinkingFormat | str | None = None):
        self.backend = backend
        self.strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
        self.format = fmt if isinstance(fmt, ThinkingFormat) else get_format(fmt, backend.tokenizer)

    def strategy_for(self, request: Request) -> Strategy:
        """The request's own thinking controls win over the gate's default strategy: mode `nothink` means
        the empty think block, and a `budget` / `min_budget` means budget forcing with those limits. An
        effort is the family's own level where it has one (rendered by the format), else its cap
        (`EFFORT_BUDGETS`); a model without a thinking mode answers an effort plainly."""
        spec = request.thinking
        if spec.mode == "nothink" and self.strategy.name not in ("nothink", "nothinking", "parallel"):
            return STRATEGIES["nothink"]()
        cap = self.cap(request)
        if cap is not None or spec.min_budget is not None:
            return STRATEGIES["budget"](max=cap, min=spec.min_budget)
        return self.strategy

    def cap(self, request: Request) -> int | None:
        """The most thinking tokens a request allows: its budget, else its effort's cap where the family has
        no effort levels of its own (None: no cap)."""
        spec = request.thinking
        if spec.budget is not None or not self.format.has_thinking or self.format.native_effort(spec.effort):
            return spec.budget
        return spec.effort_budget()

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
                      pool=pool, tools=bool(request.tools))

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
