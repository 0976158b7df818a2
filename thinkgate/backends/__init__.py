"""Backends: who writes tokens. A registry maps a name to the module that defines it, imported lazily so
that nothing heavy happens at import time."""

from __future__ import annotations

from .base import LOGPROBS, RAW_PREFIX, Backend, GenParams, MissingCapability, ModelLoadError

__all__ = ["LOGPROBS", "RAW_PREFIX", "Backend", "GenParams", "MissingCapability", "ModelLoadError"]
