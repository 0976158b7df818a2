"""What each engine calls its thinking fields on its OpenAI-compatible chat endpoint, for the chat fallback
(`serve --upstream-chat`), where thinkgate cannot steer the model's text and says what it wants in the
engine's own words. One entry per engine; `detect` tells which engine answers at a URL.

Checked against (see docs/engines/ for each engine's page):
- vLLM (docs `features/reasoning_outputs.md` and `entrypoints/openai/chat_completion/protocol.py`, main branch
  of late 2026): `chat_template_kwargs.enable_thinking`; `thinking_token_budget` (top-level integer; the
  server needs `--reasoning-parser`); `reasoning_effort`; reasoning returned in `reasoning`.
- SGLang (`srt/entrypoints/openai/protocol.py`, late 2026; strict thinking since 0.5.11):
  `chat_template_kwargs.enable_thinking`; `custom_params.thinking_budget` (the server needs
  `--enable-strict-thinking` and `--reasoning-parser`); `reasoning_effort`; reasoning in `reasoning_content`.
- llama.cpp's llama-server (`tools/server/server-task.cpp`, late 2026): `chat_template_kwargs.enable_thinking`;
  `thinking_budget_tokens` (an alias of `reasoning_budget_tokens`); `reasoning_effort` (given to the
  template); reasoning in `reasoning_content`.
- llama-cpp-python's server (0.3.36): no thinking field of any kind.
- Ollama's OpenAI-compatible API (`openai/openai.go`, late 2026): `reasoning_effort` none | low | medium |
  high (none is thinking off); no budget; reasoning in `reasoning`.
- OpenAI: `reasoning_effort`; no budget on chat completions.
- thinkgate itself: its `thinking` object (mode, budget, min_budget).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EngineFieldError  # noqa: F401 - raised here
from ..types import EFFORT_BUDGETS


@dataclass(frozen=True)
class Engine:
    name: str
    switch: str | None  # chat_template_kwargs | reasoning_effort | thinking | None (no way to switch)
    budget: tuple[str, ...] | None  # where a thinking budget goes in the body (a path), if anywhere
    effort: dict[str, str] | None  # thinkgate's effort level -> the engine's `reasoning_effort` value
    min_budget: tuple[str, ...] | None = None
    note: str = ""  # what the engine needs for its budget to work

    def apply(self, out: dict[str, Any], mode: str, budget: int | None, min_budget: int | None,
              effort: str | None, asked: bool = True) -> dict[str, Any]:
        """`out` (the request as the engine gets it) with the mode, the budget and the effort in the engine's
        own fields; EngineFieldError where it has none (never a silent drop). `asked`: the request itself
        chose the mode (not the server's default); an engine without a switch serves a default as it is."""
        out.pop("reasoning_effort", None)  # the effort is the decision's, set below in the engine's words
        if mode != "auto" and (self.switch is not None or asked):
            self._switch(out, mode == "think")
        if mode == "nothink":
            return out
        if min_budget is not None:
            if self.min_budget is None:
                raise EngineFieldError(f"engine {self.name!r} has no field for a minimum thinking budget "
                                       "(thinking.min_budget needs the raw-prefix upstream)", "thinking.min_budget")
            _put(out, self.min_budget, min_budget)
        cap = budget if budget is not None else (EFFORT_BUDGETS.get(effort) if effort else None)
        if cap is not None and self.budget is not None:
            _put(out, self.budget, cap)
        if effort is not None and self.effort is not None:
            out["reasoning_effort"] = self.effort[effort]
        elif cap is not None and self.budget is None:
            what = (f"thinking.budget {budget}" if budget is not None else
                    f"reasoning effort {effort!r} (a thinking budget of {cap} tokens)")
            raise EngineFieldError(f"engine {self.name!r} has no thinking-budget field, so {what} cannot reach it; "
                                   "use the raw-prefix upstream (--tokenizer, without --upstream-chat), where "
                                   "thinkgate enforces budgets itself", "thinking.budget" if budget is not None
                                   else "reasoning_effort")
        return out

    def _switch(self, out: dict[str, Any], on: bool) -> None:
        if self.switch == "chat_template_kwargs":
            out["chat_template_kwargs"] = {**(out.get("chat_template_kwargs") or {}), "enable_thinking": on}
        elif self.switch == "reasoning_effort":
            if not on:
                out["reasoning_effort"] = "none"
        elif self.switch == "thinking":
            out["thinking"] = {**(out.get("thinking") or {}), "mode": "on" if on else "off"}
        else:
            raise EngineFieldError(f"engine {self.name!r} has no thinking switch, so thinking cannot be turned "
                                   f"{'on' if on else 'off'} through it", "thinking")


def _put(out: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        out = out.setdefault(key, {})
    out[path[-1]] = value


_LEVELS = {e: e for e in ("minimal", "low", "medium", "high")}
ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("vllm", "chat_template_kwargs", ("thinking_token_budget",), _LEVELS,
           note="start vLLM with --reasoning-parser for thinking_token_budget"),
    Engine("sglang", "chat_template_kwargs", ("custom_params", "thinking_budget"), _LEVELS,
           note="start SGLang with --enable-strict-thinking --reasoning-parser for custom_params.thinking_budget"),
    Engine("llamacpp", "chat_template_kwargs", ("thinking_budget_tokens",), _LEVELS,
           note="llama-server applies thinking_budget_tokens only to templates with thinking tags"),
    Engine("llama-cpp-python", None, None, None),
    Engine("ollama", "reasoning_effort", None, {"minimal": "low", "low": "low", "medium": "medium", "high": "high"}),
    Engine("openai", "reasoning_effort", None, _LEVELS),
    Engine("thinkgate", "thinking", ("thinking", "budget"), _LEVELS, min_budget=("thinking", "min_budget")),
)}


def answers(base_url: str, api_key: str | None = None, timeout: float = 5.0) -> None:
    """Raise `UpstreamUnreachable` when nothing accepts a connection at `base_url` (a check before long work
    that needs the engine: a chat fallback's start, a bench's judge); any HTTP answer will do."""
    import httpx

    from ..errors import UpstreamUnreachable

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        httpx.get(base_url.rstrip("/") + "/", headers=headers, timeout=timeout)
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        raise UpstreamUnreachable(f"upstream {base_url} does not answer ({type(e).__name__})") from None
    except httpx.HTTPError:
        pass  # it answers, if oddly


def detect(base_url: str, api_key: str | None = None, timeout: float = 5.0) -> str:
    """Which engine answers at `base_url`, by what only it serves; "openai" (the common fields) when none
    of them tells."""
    import httpx

    from ..errors import UpstreamUnreachable

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout) as client:
        def get(path: str) -> httpx.Response | None:
            try:
                r = client.get(path)
            except httpx.HTTPError:
                return None
            return r if r.status_code == 200 else None

        try:  # an engine that is not there is not "openai": say so rather than guess
            answers(base_url, api_key, timeout)
        except UpstreamUnreachable as e:
            raise UpstreamUnreachable(f"{e}, so its engine cannot be detected; start the engine first, or name it "
                                      "with --engine") from None
        doc = get("/openapi.json")
        title = ""
        if doc is not None:
            try:
                title = str(doc.json().get("info", {}).get("title", ""))
            except ValueError:
                pass
        if title == "thinkgate":
            return "thinkgate"
        if "llama.cpp Python" in title:
            return "llama-cpp-python"
        if get("/api/version") is not None:
            return "ollama"
        if (r := get("/props")) is not None and "default_generation_settings" in r.text:
            return "llamacpp"
        if get("/get_server_info") is not None or get("/server_info") is not None:
            return "sglang"
        if (r := get("/version")) is not None and "version" in r.text:
            return "vllm"
    return "openai"
