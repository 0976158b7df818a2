"""What an OpenAI-compatible engine sends back, read in one place: a JSON body, an error body, an SSE stream.

Every path to an engine (the raw-prefix backend's completions, its capability probe, the server's chat
fallback) reads answers through these three functions, whichever HTTP client carried the bytes.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

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


async def sse_batches(pieces: AsyncIterator[bytes], max_line: int = 1 << 62) -> AsyncIterator[list[dict]]:
    """The chunks of an engine's SSE stream, from its body's pieces as they arrive (split anywhere), in
    batches: the chunks each piece completed, together (never an empty batch), so that what the engine sent
    at once is handed on at once. Each `data:` line is parsed by `sse_chunk`; other lines (comments,
    `event:`, keep-alive blank lines) are skipped. A line that fails comes after the batch of the chunks
    before it. Ends at `[DONE]`, without reading further (what follows is the connection's business, see
    `http1.Http1._drain`); a body that ends before `[DONE]` is complete only when a choice finished in it,
    else `UpstreamError` (an engine that died or was cut off mid-answer). A line longer than `max_line`
    bytes is an `UpstreamError` (its bytes are not held)."""
    buf = b""
    held: list[bytes] = []  # the pieces of a line still open, joined once it ends (not at every piece)
    size = 0
    finished = False
    async for data in pieces:
        if b"\n" not in data:
            held.append(data)
            size += len(data)
            if size + len(buf) > max_line:
                raise _long_line(max_line)
            continue
        if held:
            data, held, size = b"".join([*held, data]), [], 0
        buf += data
        *lines, buf = buf.split(b"\n")
        if len(buf) > max_line or any(len(line) > max_line for line in lines):
            raise _long_line(max_line)
        batch = []
        try:
            for line in lines:
                if not line.startswith(b"data:"):
                    continue
                chunk = sse_chunk(line[5:].strip())
                if chunk is None:
                    if batch:
                        yield batch
                    return
                if not finished:
                    finished = _finishes(chunk)
                batch.append(chunk)
        except UpstreamError:
            if batch:
                yield batch
            raise
        if batch:
            yield batch
    if held:
        buf += b"".join(held)
    if buf.startswith(b"data:"):  # a last line the engine did not end with a newline
        chunk = sse_chunk(buf[5:].strip())
        if chunk is None:
            return
        finished = finished or _finishes(chunk)
        yield [chunk]
    if not finished:
        raise UpstreamError("upstream's stream ended before the answer did (no finish_reason and no [DONE]): "
                            "the engine stopped or was cut off mid-answer")


def _long_line(max_line: int) -> UpstreamError:
    return UpstreamError(f"upstream sent a stream line of more than {max_line} bytes, over this server's limit of "
                         f"{max_line / (1 << 20):g} MiB (--upstream-max-body)")


def _finishes(chunk: dict) -> bool:
    choices = chunk.get("choices")
    return isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices)


# --- what an answer must hold: the fields a proxy reads, with their types ---------------------------------

def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _wrong(where: str, value: Any, expected: str) -> UpstreamError:
    shown = repr(value)
    return UpstreamError(f"upstream sent an answer whose {where} is {_kind(value)} {shown[:40]}, not {expected}")


def _text(c: dict, key: str, where: str) -> None:
    v = c.get(key)
    if v is not None and not isinstance(v, str):
        raise _wrong(f"{where}.{key}", v, "a string")


def _choice_list(obj: dict) -> list:
    choices = obj.get("choices")
    if choices is None:
        return []
    if not isinstance(choices, list):
        raise _wrong("choices", choices, "a list")
    for i, c in enumerate(choices):
        if not isinstance(c, dict):
            raise _wrong(f"choices[{i}]", c, "an object")
        fr = c.get("finish_reason")
        if fr is not None and not isinstance(fr, str):
            raise _wrong(f"choices[{i}].finish_reason", fr, "a string")
    return choices


def completion_choices(obj: dict) -> list[dict]:
    """The choices of a `/v1/completions` answer or streamed chunk, each checked for what is read of it
    (`text`, `finish_reason`, `logprobs`); `UpstreamError` naming the first field of a wrong type."""
    choices = _choice_list(obj)
    for i, c in enumerate(choices):
        _text(c, "text", f"choices[{i}]")
        for key in ("stop_reason", "matched_stop"):  # vLLM's, SGLang's: the stop string, or a stop token's id
            stop = c.get(key)
            if stop is not None and not isinstance(stop, (str, int)):
                raise _wrong(f"choices[{i}].{key}", stop, "a string or a token id")
        lp = c.get("logprobs")
        if lp is None:
            continue
        if not isinstance(lp, dict):
            raise _wrong(f"choices[{i}].logprobs", lp, "an object")
        chosen, tops = lp.get("token_logprobs"), lp.get("top_logprobs")
        if chosen is not None and not (isinstance(chosen, list) and all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in chosen)):
            raise _wrong(f"choices[{i}].logprobs.token_logprobs", chosen, "a list of numbers")
        if tops is not None and not (isinstance(tops, list) and all(
                d is None or (isinstance(d, dict) and all(isinstance(v, (int, float)) for v in d.values()))
                for d in tops)):
            raise _wrong(f"choices[{i}].logprobs.top_logprobs", tops, "a list of objects of numbers")
    return choices


def chat_choices(obj: dict, part: str) -> list[dict]:
    """The choices of a chat answer (`part` "message") or streamed chunk ("delta"), each checked for what is
    read or relayed of it (the text fields, tool calls); `UpstreamError` naming the first field of a wrong
    type."""
    choices = _choice_list(obj)
    for i, c in enumerate(choices):
        msg = c.get(part)
        if msg is None and part == "delta":
            continue
        where = f"choices[{i}].{part}"
        if not isinstance(msg, dict):
            raise _wrong(where, msg, "an object")
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            _text(msg, key, where)
        calls = msg.get("tool_calls")
        if calls is None:
            continue
        if not isinstance(calls, list):
            raise _wrong(f"{where}.tool_calls", calls, "a list")
        for k, call in enumerate(calls):
            if not isinstance(call, dict):
                raise _wrong(f"{where}.tool_calls[{k}]", call, "an object")
            fn = call.get("function")
            if fn is None:
                continue
            if not isinstance(fn, dict):
                raise _wrong(f"{where}.tool_calls[{k}].function", fn, "an object")
            _text(fn, "name", f"{where}.tool_calls[{k}].function")
            _text(fn, "arguments", f"{where}.tool_calls[{k}].function")
    return choices


def usage_problem(usage: Any) -> str | None:
    """What is wrong with an engine's `usage` (None when it is sound, or absent): not an object, a count that
    is not a whole number from 0, reasoning tokens past the completion tokens. Such usage is not passed on;
    whoever reads it counts the tokens itself."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return f"usage is {_kind(usage)} {repr(usage)[:40]}, not an object"
    counts = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage}
    details = usage.get("completion_tokens_details")
    if details is not None:
        if not isinstance(details, dict):
            return f"usage.completion_tokens_details is {_kind(details)}, not an object"
        if "reasoning_tokens" in details:
            counts["reasoning_tokens"] = details["reasoning_tokens"]
    for k, v in counts.items():
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            return f"usage's {k} is {repr(v)[:40]}, not a count"
    done, thought = counts.get("completion_tokens"), counts.get("reasoning_tokens")
    if isinstance(done, int) and isinstance(thought, int) and thought > done:
        return f"usage's reasoning_tokens ({thought}) are more than its completion_tokens ({done})"
    return None


# the most bytes one token's text can take: the longest tokens of real vocabularies (runs of spaces in
# GPT-NeoX's, MPT's and Command R's) are 1,024 bytes
MAX_TOKEN_BYTES = 1024
# a text encoded again may take a token or two more than the engine generated for it: a whole answer is taken
# to be past `max_tokens` only beyond that
RECOUNT_SLACK = 2


def token_prefix(tokenizer, text: str, n: int) -> tuple[str, int]:
    """The first `n` tokens of `text` as `tokenizer` reads it, and how many tokens `text` holds in all (only
    past `n` when it is longer): the text itself cut where the n-th token ends (by the tokenizer's offsets,
    so nothing is decoded again and no character is split), or the decoded ids for a tokenizer without
    offsets."""
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, TypeError, ValueError):  # a slow tokenizer has no offsets
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return (text, len(ids)) if len(ids) <= n else (tokenizer.decode(ids[:n]), len(ids))
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    if len(ids) <= n:
        return text, len(ids)
    return (text[:offsets[n - 1][1]] if n else ""), len(ids)


class Room:
    """What is left of a request's `max_tokens` as an engine streams, to cut off an engine that writes past
    it. A streamed piece is a token (engines send one a chunk); a piece longer than `LONG` characters may
    hold more and is counted with the model's tokenizer, or without one as `MAX_TOKEN_BYTES` bytes a token
    at most. A count by the tokenizer of a piece on its own may be a token or two over the engine's, so
    pieces it counted get `RECOUNT_SLACK` more room (as whole answers do). The piece that crosses the limit
    is cut to what fits (at its tokens' offsets, or its bytes). Only the long pieces are counted, and of one
    only `TOKEN_CHARS` characters a token of what is left (a longer piece is past the limit: real text runs
    3-5 characters a token): tokenizing every streamed token would cost a proxy in front of many streams
    about 15 us a token, and an engine's 30 MB piece must not stall the loop."""

    LONG = 32
    TOKEN_CHARS = 16

    def __init__(self, limit: int, tokenizer=None):
        self.limit, self.tokenizer = limit, tokenizer
        self.used = 0
        self.slack = 0  # RECOUNT_SLACK once a piece was counted by the tokenizer

    def take(self, piece: str) -> tuple[str, bool]:
        """(the part of `piece` within the limit, whether the limit cut it or was already reached)."""
        left = self.limit + self.slack - self.used
        if left <= 0:
            return "", True
        if len(piece) <= self.LONG:
            self.used += 1
            return piece, False
        if self.tokenizer is None:
            n = -(-len(piece.encode()) // MAX_TOKEN_BYTES)
            if n <= left:
                self.used += n
                return piece, False
            self.used = self.limit + self.slack
            return piece.encode()[:left * MAX_TOKEN_BYTES].decode("utf-8", "ignore"), True
        self.slack = RECOUNT_SLACK
        left = self.limit + self.slack - self.used
        # only `TOKEN_CHARS` characters a token of what is left are tokenized: a piece longer than that is taken
        # as past the limit (real text runs 3-5 characters a token), and what is beyond is never tokenized
        whole = len(piece) <= left * self.TOKEN_CHARS
        part, n = token_prefix(self.tokenizer, piece if whole else piece[:left * self.TOKEN_CHARS], left)
        if n <= left and whole:
            self.used += n
            return piece, False
        self.used = self.limit + self.slack
        return part, True
