"""The models a gate runs: one or more, each named, each a backend with its own chat format.

Most strategies use one model (the roster's first, its primary). The two-model strategies (`speculative`,
`specreason`, `foreal`) take two by role. A member is written the same way on every face that takes several
(library, `ask`, `bench`, `serve`: a repeated `--model`):

    [NAME=]SOURCE[,key=value,...]

SOURCE is an embedded model's name (`tiny`), a model folder, a GGUF file, or an engine's base URL
(`http://127.0.0.1:8080`). Keys: `served` (the model name an engine serves; an engine needs it),
`tokenizer` (an engine model's tokenizer folder, for its chat template; an engine needs it), `backend`
(hf or llamacpp, for a GGUF file), `format` (the chat family, when detection is wrong), `params` (the
parameter count, for the cost figure: counted from the weights of a local model; an engine's is unknown
unless given). NAME defaults to the source's last path part (`tiny`, the folder's or file's name) or, for
an engine, to `served`; names are unique.

The embedded pair: with no model named, the roster is `tiny` (primary) and `mini` (the small model trained
for two-model strategies), `mini` loaded only when a strategy asks for it.

Cost: `cost_of` weighs the tokens each model wrote by its parameter count: 2 x parameters x tokens is the
standard estimate of a decoder's FLOPs per generated token, so the figure is generation FLOPs (GFLOP).
Tokens a model only reads (its prompt, another model's text it continues, a draft it scores) are not in
it: a prefill runs in parallel and costs a fraction of token-by-token generation's time.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .backends.base import Backend
from .formats import ThinkingFormat, get_format

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = "tiny"
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
KEYS = ("served", "tokenizer", "backend", "format", "params")
# the embedded pair, used when no model is named: the primary, then the small one (loaded when used)
DEFAULT_PAIR = ("tiny", "mini")


@dataclass(frozen=True)
class ModelSpec:
    """One member as written: `[NAME=]SOURCE[,key=value,...]` (see the module)."""

    name: str
    source: str
    served: str | None = None
    tokenizer: str | None = None
    backend: str = "auto"
    format: str | None = None
    params: int | None = None

    @property
    def is_engine(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """A member from its command-line spelling; ValueError naming the bad part."""
        head, *rest = [p.strip() for p in text.strip().split(",")]
        name, eq, source = head.partition("=")
        if not eq or "/" in name or not NAME.fullmatch(name):
            name, source = "", head
        if not source:
            raise ValueError(f"model {text!r} names no model (an embedded name, a folder, a GGUF file or a URL)")
        kw: dict[str, Any] = {}
        for part in filter(None, rest):
            key, eq, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not eq or key not in KEYS:
                raise ValueError(f"model {text!r}: {part!r} is not one of {', '.join(k + '=' for k in KEYS)}")
            if key in kw:
                raise ValueError(f"model {text!r}: {key} is given twice")
            kw[key] = value
        if "backend" in kw and kw["backend"] not in ("auto", "hf", "llamacpp"):
            raise ValueError(f"model {text!r}: backend must be auto, hf or llamacpp, not {kw['backend']!r}")
        if "params" in kw:
            try:
                kw["params"] = int(float(kw["params"]))
            except (ValueError, OverflowError):
                raise ValueError(f"model {text!r}: params must be a number (e.g. 1.5e9), not {kw['params']!r}") from None
            if kw["params"] <= 0:
                raise ValueError(f"model {text!r}: params must be positive")
        spec = cls(name=name, source=source, **kw)
        if spec.is_engine:
            from .backends.http1 import check_url

            check_url(source)
            if not spec.served or not spec.tokenizer:
                raise ValueError(f"model {text!r} is an engine: give served=NAME (the model it serves) and "
                                 "tokenizer=FOLDER (its tokenizer and chat template)")
        elif spec.served or spec.tokenizer:
            raise ValueError(f"model {text!r}: served= and tokenizer= go with an engine's URL")
        if not spec.name:
            spec = replace(spec, name=_name(spec.served if spec.is_engine else Path(source.rstrip("/")).name))
        return spec


@dataclass
class Member:
    """A named model: its backend and chat format, loaded on first use (`loader`) unless given."""

    name: str
    loader: Callable[[], Backend] | None = None
    fmt_name: str | None = None
    declared_params: int | None = None
    fingerprint_source: str | None = None  # what the bench cache fingerprints (a path or an engine's URL)
    _backend: Backend | None = None
    _format: ThinkingFormat | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                assert self.loader is not None
                self._backend = self.loader()
            return self._backend

    @property
    def format(self) -> ThinkingFormat:
        backend = self.backend
        with self._lock:
            if self._format is None:
                self._format = get_format(self.fmt_name, backend.tokenizer)
            return self._format

    @property
    def params(self) -> int | None:
        """The parameter count: as declared, else counted by the backend (None: unknown, an engine's)."""
        return self.declared_params if self.declared_params is not None else self.backend.parameters

    def fingerprint(self) -> str:
        from .scoring.cache import model_fingerprint

        return model_fingerprint(self.fingerprint_source or self.backend.model_id)


class Roster:
    """Named models, the first the primary. `Roster.of(backend)` wraps one backend (a library caller's);
    `member_of(ModelSpec.parse(text))` builds a member from its spelling."""

    def __init__(self, members: list[Member]):
        if not members:
            raise ValueError("a roster needs at least one model")
        seen: set[str] = set()
        for m in members:
            if m.name in seen:
                raise ValueError(f"two models are named {m.name!r}; name them apart (NAME=SOURCE)")
            seen.add(m.name)
        self.members = list(members)

    @classmethod
    def of(cls, backend: Backend, fmt: ThinkingFormat | str | None = None, name: str | None = None) -> "Roster":
        member = Member(name=name or _name_of(backend), _backend=backend,
                        fmt_name=fmt if isinstance(fmt, str) or fmt is None else fmt.name)
        if isinstance(fmt, ThinkingFormat):
            member._format = fmt
        return cls([member])

    @property
    def primary(self) -> Member:
        return self.members[0]

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    def get(self, name: str, who: str = "") -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise ValueError(f"{who + ': ' if who else ''}no model is named {name!r}; the models are "
                         f"{', '.join(self.names)}")

    def pair(self, small: str | None, large: str | None, who: str) -> tuple[Member, Member]:
        """The (small, large) members a two-model strategy asked for: by name, else by parameter count among
        the roster's models (the fewest is small, the most large). Raises ValueError naming what is missing."""
        if small is not None and large is not None:
            out = (self.get(small, who), self.get(large, who))
        else:
            if len(self.members) < 2:
                raise ValueError(f"{who} needs two models (small and large), and only {self.names[0]!r} is given; "
                                 "add one with another --model NAME=SOURCE")
            named = {n: self.get(n, who) for n in (small, large) if n is not None}
            rest = [m for m in self.members if m.name not in named]
            sized = sorted(rest, key=lambda m: (m.params is None, m.params or 0))
            if small is None and large is None:
                if len(sized) > 2 or any(m.params is None for m in sized):
                    raise ValueError(f"{who}: say which models play small and large ({who}:small=NAME,large=NAME); "
                                     f"the models are {', '.join(self.names)}")
                out = (sized[0], sized[-1])
            elif small is None:
                out = (sized[0], named[large])  # type: ignore[index]
            else:
                out = (named[small], sized[-1])
        if out[0].name == out[1].name:
            raise ValueError(f"{who}: small and large are both {out[0].name!r}; they must be two models")
        return out

    def cost_of(self, by_model: dict[str, int]) -> float | None:
        """Generation GFLOPs of the tokens each model wrote (2 x parameters x tokens; see the module), or None
        where a model that wrote tokens has no known parameter count."""
        total = 0.0
        for name, tokens in by_model.items():
            if not tokens:
                continue
            params = next((m.params for m in self.members if m.name == name), None)
            if params is None:
                return None
            total += 2.0 * params * tokens / 1e9
        return round(total, 6)


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


def member_of(spec: ModelSpec, batch_size: int = 64, progress=None, engine: dict[str, Any] | None = None,
              lazy: bool = False) -> Member:
    """A member from its spelling: loaded now (errors are `ModelLoadError`s naming it), or on first use
    (`lazy`). `engine`: the connection settings an engine's backend takes (key, timeout, concurrency, ...)."""
    if spec.is_engine:
        def loader() -> Backend:
            from .backends.openai_compat import OpenAICompatBackend

            return OpenAICompatBackend(spec.source, spec.served, spec.tokenizer, **(engine or {}))
        where = f"{spec.source.rstrip('/')}#{spec.served}"
    else:
        def loader() -> Backend:
            return load_backend(spec.source, batch_size=batch_size, progress=progress, kind=spec.backend)
        where = str(resolve_model(spec.source))
    member = Member(name=spec.name, loader=loader, fmt_name=spec.format, declared_params=spec.params,
                    fingerprint_source=where)
    if not lazy:
        _ = member.backend
    return member


def default_roster(batch_size: int = 64, progress=None, kind: str = "auto") -> Roster:
    """The embedded pair (`DEFAULT_PAIR`): `tiny` loaded now, `mini` when a strategy first asks for it.
    `kind`: the backend (`load_backend`; the embedded models are folders, which llamacpp refuses)."""
    first, *rest = (replace(ModelSpec.parse(n), backend=kind) for n in DEFAULT_PAIR)
    return Roster([member_of(first, batch_size, progress)]
                  + [member_of(s, batch_size, progress, lazy=True) for s in rest])


def _name_of(backend: Backend) -> str:
    """A wrapped backend's member name: its model's (an engine's served name, a folder's or file's)."""
    base = Path(str(getattr(backend, "model_id", "")).split("#")[-1].rstrip("/")).name
    return _name(base or getattr(backend, "name", "model"))


def _name(base: str) -> str:
    """A member's name from what it was loaded from (a folder's or file's name, an engine's served name): a GGUF
    file's without `.gguf`, made a name (`NAME`)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", base[:-5] if base.endswith(".gguf") else base)
    return stem if NAME.fullmatch(stem) else f"m-{stem}"
