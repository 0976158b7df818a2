"""Every error thinkgate raises on purpose, in one place at the bottom of the layers, so that a driver (the
CLI, the server, the bench) can tell them apart without importing the module that raises them. Each
message names what is wrong; the server maps them to OpenAI-style error bodies."""

from __future__ import annotations


class InvalidText(ValueError):
    """A string that is not valid Unicode text; `where` is its path in the value checked."""

    def __init__(self, what: str, where: str):
        inner = "" if where == "value" else f" (at {where})"
        super().__init__(f"{what} is not valid Unicode text{inner}: it holds a lone surrogate")
        self.where = where


class ModelLoadError(RuntimeError):
    """A model folder is missing, incomplete or corrupt; the message names the folder and the problem."""


class MissingCapability(RuntimeError):
    """A strategy or request needs something the backend or the model does not have; the message says what."""


class ContextOverflow(ValueError):
    """A prompt is longer than the model's context; the message gives both lengths."""

    def __init__(self, prompt_tokens: int, context: int):
        super().__init__(f"the prompt is {prompt_tokens} tokens, longer than the model's context of {context} "
                         "tokens; shorten it")
        self.prompt_tokens, self.context = prompt_tokens, context


class FormatError(ValueError):
    """A template that no family describes, or a mode a family cannot serve; the message says which."""


class ToolsUnsupported(ValueError):
    """Tools were given for a model whose tool-call format thinkgate cannot read; the message says so."""


class EngineFieldError(ValueError):
    """A request asks for something the engine has no field for; the message names the engine and the field."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


class UpstreamError(RuntimeError):
    """An engine upstream failed a request; `status` is what thinkgate's server answers (502), and
    `upstream_status` the engine's own status where it sent one."""

    status = 502

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        if status is not None:
            self.upstream_status = status


class UpstreamUnreachable(UpstreamError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class RouterError(RuntimeError):
    """A router is missing, corrupt, or was calibrated on another model."""


class Cancelled(RuntimeError):
    """The request's consumer went away; its generation was stopped."""


class PolicyConflict(ValueError):
    """A request's thinking controls contradict the strategy it names (thinking off for a strategy that
    thinks, a cap for one that has none); `param` is the request's field (`thinking.budget`, ...)."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param
