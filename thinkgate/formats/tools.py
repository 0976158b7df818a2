"""Tool calls in the model's own text, for raw-prefix rendering: the chat template is given the request's
`tools` (its own way of listing them), and the calls the model writes are read back into OpenAI's
`tool_calls`.

The one call format read today is Hermes' — `<tool_call>` then a JSON object with `name` and `arguments`,
then `</tool_call>` — which Qwen2.5, Qwen3, QwQ, SmolLM3, Hermes 2/3 and many fine-tunes write, and which
their templates describe to the model. A template is taken to use it when it writes `<tool_call>` itself.
Requests with tools for any other template are refused (`ToolsUnsupported`), never served with the tools
dropped.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

OPEN, CLOSE = "<tool_call>", "</tool_call>"


def reads_tool_calls(template: str) -> bool:
    """The template writes (and so teaches) Hermes-style `<tool_call>` blocks."""
    return OPEN in template and CLOSE in template


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(the text without its complete tool-call blocks, the calls in OpenAI's shape). A block whose JSON
    cannot be read, or that is not closed (cut by max_tokens), stays in the text as the model wrote it."""
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    rest = text
    while (at := rest.find(OPEN)) >= 0:
        end = rest.find(CLOSE, at + len(OPEN))
        if end < 0:
            break
        body = rest[at + len(OPEN):end].strip()
        call = _call(body)
        if call is None:
            kept.append(rest[:end + len(CLOSE)])
        else:
            kept.append(rest[:at])
            calls.append(call)
        rest = rest[end + len(CLOSE):]
    kept.append(rest)
    return "".join(kept).strip(), calls


def _call(body: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": obj["name"], "arguments": args if isinstance(args, str) else json.dumps(args)}}
