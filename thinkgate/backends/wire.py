"""What an OpenAI-compatible engine sends back, read in one place: a JSON body, an error body, an SSE stream.

Every path to an engine (the raw-prefix backend's completions, its capability probe, the server's chat
fallback) reads answers through these three functions, whichever HTTP client carried the bytes.
"""

from __future__ import annotations

import json
from typing import AsyncIterator

import orjson

from ..errors import UpstreamError


def http_error(base_url: str, status: int, body: bytes) -> UpstreamError:
    """An engine's error answer as an `UpstreamError` carrying its status and its own message: OpenAI's
    `{"error": {"message": ...}}`, else the JSON it sent (cut to 500 characters), else the body as text."""
    try:
        data = json.loads(body)
        err = data.get("error") if isinstance(data, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
        msg = msg or json.dumps(data)[:500]
    except ValueError:
        msg = body[:500].decode("utf-8", "replace")
    return UpstreamError(f"upstream answered {status}: {msg}", status)


def json_body(base_url: str, data: bytes) -> dict:
    """A success answer's body: a JSON object, else an `UpstreamError` saying what came instead."""
    try:
        out = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"upstream {base_url} answered with a body that is not JSON") from None
    if not isinstance(out, dict):
        raise UpstreamError(f"upstream {base_url} answered with JSON that is not an object")
    return out


def sse_chunk(data: bytes) -> dict | None:
    """One SSE `data:` payload: the chunk, or None at `[DONE]`; an error chunk (an engine that fails after
    its 200) and a payload that is not a JSON object raise `UpstreamError`."""
    if data == b"[DONE]":
        return None
    try:
        chunk = orjson.loads(data)  # once per streamed token: the stdlib parser is several times slower
    except orjson.JSONDecodeError:
        raise UpstreamError(f"upstream sent a stream chunk that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise UpstreamError("upstream sent a stream chunk that is not a JSON object")
    if "error" in chunk:
        err = chunk["error"]
        raise UpstreamError(f"upstream stream error: {err.get('message', err) if isinstance(err, dict) else err}")
    return chunk


async def sse_chunks(pieces: AsyncIterator[bytes]) -> AsyncIterator[dict]:
    """The chunks of an engine's SSE stream, one at a time (`sse_batches`, flattened)."""
    async for batch in sse_batches(pieces):
        for chunk in batch:
            yield chunk


async def sse_batches(pieces: AsyncIterator[bytes]) -> AsyncIterator[list[dict]]:
    """The chunks of an engine's SSE stream, from its body's pieces as they arrive (split anywhere), in
    batches: the chunks each piece completed, together (never an empty batch), so that what the engine sent
    at once is handed on at once. Each `data:` line is parsed by `sse_chunk`; other lines (comments,
    `event:`, keep-alive blank lines) are skipped. A line that fails comes after the batch of the chunks
    before it. Ends at `[DONE]` or where the body ends; the body is read to its end either way, so that
    the client can keep the connection."""
    buf = b""
    done = False
    async for data in pieces:
        if done:
            continue
        buf += data
        *lines, buf = buf.split(b"\n")
        batch = []
        try:
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                chunk = sse_chunk(line[5:].strip())
                if chunk is None:
                    done = True
                    break
                batch.append(chunk)
        except UpstreamError:
            if batch:
                yield batch
            raise
        if batch:
            yield batch
    if not done and buf.startswith(b"data:"):  # a last line the engine did not end with a newline
        chunk = sse_chunk(buf[5:].strip())
        if chunk is not None:
            yield [chunk]
