"""Strategies: how thinking is steered. One file per method; this registry maps names to classes.

`parse_strategy("budget:max=64,min=16")` builds a strategy from its command-line spelling; `SPEC@NAME` runs a
one-model strategy on the roster's model `NAME` (`on_model.py`); an `@` inside a parameter's value that is
followed by what could be a name is written `\\@`.
"""

from __future__ import annotations

import re

from .base import Strategy
from .budget import Budget
from .cascade import Cascade
from .deepconf import DeepConf
from .dont_overthink import DontOverthink
from .early_exit import EarlyExit
from .foreal import Foreal
from .nothink import NoThink
from .nothinking import NoThinking
from .on_model import OnModel
from .parallel import Parallel
from .route import Route
from .self import SelfDecide
from .speculative import Speculative
from .specreason import SpecReason
from .think import Think
from .thinkless import ThinkLess

STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s for s in (Think, NoThink, NoThinking, Budget, EarlyExit, ThinkLess, Parallel, DontOverthink, Route,
                        SelfDecide, Speculative, SpecReason, Foreal, Cascade, DeepConf)
}


# former names, still read: `auto` was `route` (the mode `auto` is another thing: the model decides)
ALIASES = {"auto": "route"}


def parse_strategy(text: str) -> Strategy:
    """`name` or `name:key=value,key=value`, optionally followed by `@MODEL` -> a configured strategy; errors
    name the bad part."""
    on = model_suffix(text)
    if on is not None:
        return OnModel(parse_strategy(on[0]), on[1])
    name, _, rest = text.strip().partition(":")
    name = ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    kw = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"strategy {name!r}: parameter {part!r} is not key=value")
        # `\@`: an @ that names no model (other escapes stay as written, for the parameter to read)
        kw[key.strip()] = "".join("@" if t == "\\@" else t for t in _TOKEN.findall(value.strip()))
    return STRATEGIES[name](**kw)


_TOKEN = re.compile(r"\\.|.", re.DOTALL)  # an escape (a backslash and what follows), or one character


def model_suffix(text: str) -> tuple[str, str] | None:
    """(the spec before it, the model's name) where `text` ends in `@NAME`: the last `@` that is not part of
    an escape, followed by what could be a model's name; None otherwise."""
    from ..roster import NAME

    text = text.strip()
    at, pos = None, 0
    for token in _TOKEN.findall(text):
        if token == "@":
            at = pos
        pos += len(token)
    if at is None or at == 0 or not NAME.fullmatch(text[at + 1:]):
        return None
    return text[:at], text[at + 1:]


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of specs whose parameters are comma-separated too:
    "think,budget:max=64,min=16,nothink" -> ["think", "budget:max=64,min=16", "nothink"]. A piece with
    `=` and no `:` continues the spec before it."""
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if "=" in piece and ":" not in piece and specs and ":" in specs[-1]:
            specs[-1] += "," + piece
        else:
            specs.append(piece)
    return specs


__all__ = ["STRATEGIES", "Strategy", "model_suffix", "parse_strategy", "split_specs"]
