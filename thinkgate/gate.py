"""A Gate is a backend (who writes tokens) + a chat format (how turns and think tags are written) + a
strategy (how thinking is steered). Every face — CLI, bench, server — calls `Gate.run` / `Gate.run_batch`."""

from __future__ import annotations

from pathlib import Path

from .backends.base import Backend
from .formats import ThinkingFormat, get_format
from .strategies import Strategy, parse_strategy
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


def load_backend(model: str | None = None, batch_size: int = 64) -> Backend:
    from .backends.hf import HFBackend

    return HFBackend(resolve_model(model), batch_size=batch_size)


class Gate:
    def __init__(self, backend: Backend, strategy: Strategy | str = "think", fmt: ThinkingFormat | str | None = None):
        self.backend = backend
        self.strategy = parse_strategy(strategy) if isinstance(strategy, str) else strategy
        self.format = fmt if isinstance(fmt, ThinkingFormat) else get_format(fmt, backend.tokenizer)

    def run(self, request: Request) -> Result:
        return self.strategy.run(request, self.backend, self.format)

    def run_batch(self, requests: list[Request]) -> list[Result]:
        return self.strategy.run_batch(requests, self.backend, self.format) if requests else []
