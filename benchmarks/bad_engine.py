"""A stand-in OpenAI-compatible engine that misbehaves on request, for hardening what faces an engine.

Standard library only (asyncio streams), so that it can send what no web framework would: wrong framing,
wrong status lines, bodies of any size, silence. It serves `/v1/completions` and `/v1/chat/completions`,
streamed (chunked SSE) or not, and answers well by default: a short thought, `</think>`, "The answer is
13" (completions continue the raw prompt; chat splits the thought into `reasoning_content`).

A request picks its fault by naming it anywhere in its text (prompt or messages) as `fault:NAME`; `--fault`
sets one for requests that name none. `GET /stats` says how many requests came, how many are open, and
how many connections the client closed before the answer was written (an engine request cancelled), in
all and by fault.

    python benchmarks/bad_engine.py --port 9100 [--fault NAME] [--slow 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

# every fault, and what the engine does (streamed / not)
FAULTS = {
    "ok": "a good answer",
    "ignore_max": "8 MB of text whatever max_tokens says (8,000 chunks of 1,000 characters streamed)",
    "huge_body": "a 60 MB JSON body (streamed: one 60 MB event line)",
    "json_to_stream": "a whole JSON answer (application/json) to a stream request",
    "not_json": "a 200 whose body (or event) is not JSON",
    "redirect302": "a 302 redirect", "redirect307": "a 307 redirect", "no_content": "a 204",
    "http10": "a good answer in HTTP/1.0 framing (no length, ended by the close)",
    "silent": "the headers and part of the body, then silence with the connection open",
    "endless": "a body that never ends: keep-alive comments (streamed) or JSON whitespace, 5 a second",
    "trickle": "a stream of one token every 0.3 s, never finishing",
    "done_open": "a good stream with [DONE], then the connection held open without the last chunk",
    "early_close": "part of the answer, then the connection closed (no finish, no [DONE], short of its length)",
    "choices_str": 'choices: "abc"', "choices_item": "choices: [1]", "text_type": "text (content): 5",
    "usage_str": 'usage: "x"', "logprobs_junk": 'logprobs: {"token_logprobs": "junk"}',
    "tool_calls_str": 'tool_calls: "x" in the message (delta)', "message_str": 'message (delta): "x"',
    "negative_usage": "usage with negative counts", "reasoning_over": "reasoning_tokens 78 > completion_tokens 40",
    "negative_length": "Content-Length: -5", "negative_chunk": "a chunk size of -5",
    "slow": "the answer only after --slow seconds", "stream_error": "a token, then an error event and [DONE]",
    "empty200": "a 200 with an empty body", "error500": "a 500 with an OpenAI-style error",
    "not_http": "bytes that are not an HTTP response",
}
WORDS = [" w0", " w1", " w2", "\n</think>\n\n", "The", " answer", " is", " 13"]
FAULT_RE = re.compile(r"fault:([a-z0-9_]+)")


class Engine:
    def __init__(self, default_fault: str = "ok", slow: float = 30.0, model: str = "bad"):
        self.default_fault, self.slow, self.model = default_fault, slow, model
        self.stats = {"requests": 0, "open": 0, "client_closed": 0, "closed_by_fault": {}}

    # --- the HTTP side ----------------------------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *rest = head.decode("latin-1").split("\r\n")
                method, path = (line.split(" ") + ["", ""])[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in rest if x)}
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                keep = await self.answer(method, path, body, reader, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: bytes, reader, writer) -> bool:
        """Answer one request; False when the connection must close after it."""
        if method == "GET" and path in ("/v1/models", "/health", "/stats"):
            data = self.stats if path == "/stats" else {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            self.whole(writer, 200, json.dumps(data).encode())
            await writer.drain()
            return True
        if method != "POST" or path not in ("/v1/completions", "/v1/chat/completions"):
            self.whole(writer, 404, b'{"error": {"message": "not found"}}')
            await writer.drain()
            return True
        try:
            req = json.loads(body)
        except ValueError:
            self.whole(writer, 400, b'{"error": {"message": "the body is not JSON"}}')
            await writer.drain()
            return True
        text = req.get("prompt") if path == "/v1/completions" else json.dumps(req.get("messages"))
        found = FAULT_RE.search(str(text))
        fault = found.group(1) if found else self.default_fault
        if fault not in FAULTS:
            fault = "ok"
        chat = path == "/v1/chat/completions"
        self.stats["requests"] += 1
        self.stats["open"] += 1
        try:
            return await self.misbehave(fault, chat, req, reader, writer)
        except ConnectionError:
            self.stats["client_closed"] += 1
            by = self.stats["closed_by_fault"]
            by[fault] = by.get(fault, 0) + 1
            return False
        finally:
            self.stats["open"] -= 1

    def whole(self, writer, status: int, body: bytes, ctype: str = "application/json", extra: str = "") -> None:
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
                     .encode() + body)

    def start_chunked(self, writer, ctype: str = "text/event-stream") -> None:
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())

    @staticmethod
    def chunk(writer, data: bytes) -> None:
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def hold(self, reader) -> None:
        """Keep the connection open, saying nothing, until the client closes it."""
        while await reader.read(65536):
            pass
        raise ConnectionResetError("the client closed the connection")

    # --- the answers ------------------------------------------------------------------------------------

    def pieces(self, req: dict) -> list[str]:
        n = int(req.get("max_tokens") or req.get("max_completion_tokens") or 16)
        return WORDS[:max(1, n)]

    def answer_body(self, chat: bool, req: dict, pieces: list[str], fault: str = "ok") -> dict:
        base = {"id": "bad-1", "created": 0, "model": self.model}
        usage = {"prompt_tokens": 3, "completion_tokens": len(pieces), "total_tokens": 3 + len(pieces)}
        text = "".join(pieces)
        if chat:
            thought, _, ans = text.partition("\n</think>\n\n")
            choice = {"index": 0, "message": {"role": "assistant", "content": ans, "reasoning_content": thought.strip()},
                      "finish_reason": "stop"}
            out = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            out = {**base, "object": "text_completion", "choices": [choice], "usage": usage}
        return self.spoil(fault, chat, out)

    def spoil(self, fault: str, chat: bool, out: dict) -> dict:
        """The wrong types and values, in an answer or a chunk."""
        part = "delta" if out.get("object") == "chat.completion.chunk" else "message"
        choice = out["choices"][0] if out.get("choices") else None
        if fault == "choices_str":
            out["choices"] = "abc"
        elif fault == "choices_item":
            out["choices"] = [1]
        elif fault == "text_type" and choice is not None:
            if chat:
                choice[part]["content"] = 5
            else:
                choice["text"] = 5
        elif fault == "usage_str":
            out["usage"] = "x"
        elif fault == "logprobs_junk" and choice is not None:
            choice["logprobs"] = {"token_logprobs": "junk"}
        elif fault == "tool_calls_str" and choice is not None and chat:
            choice[part]["tool_calls"] = "x"
        elif fault == "message_str" and choice is not None and chat:
            choice[part] = "x"
        elif fault == "negative_usage" and "usage" in out:
            out["usage"] = {"prompt_tokens": -1, "completion_tokens": -5, "total_tokens": -6}
        elif fault == "reasoning_over" and "usage" in out:
            out["usage"] = {"prompt_tokens": 3, "completion_tokens": 40, "total_tokens": 43,
                            "completion_tokens_details": {"reasoning_tokens": 78}}
        return out

    def events(self, chat: bool, req: dict, pieces: list[str], fault: str = "ok") -> list[bytes]:
        """A good stream's SSE events (each one `data:` line), the wrong types put in the chunks that carry
        text, and the usage chunk when asked."""
        base = {"id": "bad-1", "created": 0, "model": self.model}
        out, thinking = [], True
        for p in pieces:
            if chat:
                if "</think>" in p:
                    thinking = False
                    continue
                delta = {"reasoning_content": p} if thinking else {"content": p}
                obj = {**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            else:
                obj = {**base, "object": "text_completion",
                       "choices": [{"index": 0, "text": p, "finish_reason": None, "logprobs": None}]}
            out.append(self.spoil(fault, chat, obj))
        end = {"index": 0, "finish_reason": "stop", **({"delta": {}} if chat else {"text": "", "logprobs": None})}
        out.append({**base, "object": "chat.completion.chunk" if chat else "text_completion", "choices": [end]})
        if (req.get("stream_options") or {}).get("include_usage"):
            usage = {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(pieces),
                                                       "total_tokens": 3 + len(pieces)}}
            out.append(self.spoil(fault, chat, usage))
        return [b"data: " + json.dumps(o).encode() + b"\n\n" for o in out] + [b"data: [DONE]\n\n"]

    async def misbehave(self, fault: str, chat: bool, req: dict, reader, writer) -> bool:
        stream = bool(req.get("stream"))
        pieces = self.pieces(req)
        if fault == "slow":
            try:
                await asyncio.wait_for(self.hold(reader), self.slow)
            except asyncio.TimeoutError:
                pass
            fault = "ok"
        if fault in ("ok", "choices_str", "choices_item", "text_type", "usage_str", "logprobs_junk",
                     "tool_calls_str", "message_str", "negative_usage", "reasoning_over"):
            if not stream:
                self.whole(writer, 200, json.dumps(self.answer_body(chat, req, pieces, fault)).encode())
            else:
                self.start_chunked(writer)
                for ev in self.events(chat, req, pieces, fault):
                    self.chunk(writer, ev)
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if fault == "ignore_max":
            if not stream:
                text = "x " * 4_000_000
                body = self.answer_body(chat, req, [text])
                body["usage"] = {"prompt_tokens": 3, "completion_tokens": 4_000_001, "total_tokens": 4_000_004}
                self.whole(writer, 200, json.dumps(body).encode())
            else:
                self.start_chunked(writer)
                for ev in self.events(chat, req, ["x" * 999 + " "] * 8000):
                    self.chunk(writer, ev)
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if fault == "huge_body":
            big = "x" * (60 << 20)
            if not stream:
                self.whole(writer, 200, json.dumps(self.answer_body(chat, req, [big])).encode())
            else:
                self.start_chunked(writer)
                self.chunk(writer, self.events(chat, req, [big])[0])
            await writer.drain()
            return not stream
        if fault == "json_to_stream":
            self.whole(writer, 200, json.dumps(self.answer_body(chat, req, pieces)).encode())
        elif fault == "not_json":
            if stream:
                self.start_chunked(writer)
                self.chunk(writer, b"data: this is not json\n\n")
                self.chunk(writer, b"data: [DONE]\n\n")
                writer.write(b"0\r\n\r\n")
            else:
                self.whole(writer, 200, b"this is not json")
        elif fault in ("redirect302", "redirect307"):
            self.whole(writer, int(fault[-3:]), b"", extra="Location: http://127.0.0.1:9/v1/elsewhere\r\n")
        elif fault == "no_content":
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif fault == "empty200":
            self.whole(writer, 200, b"")
        elif fault == "error500":
            self.whole(writer, 500, b'{"error": {"message": "the engine ran out of KV cache"}}')
        elif fault == "negative_length":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}")
        elif fault == "negative_chunk":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + (b"text/event-stream" if stream else b"application/json")
                         + b"\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n")
            await writer.drain()
            return False
        elif fault == "not_http":
            writer.write(b"hello, this is not HTTP\r\n\r\n")
            await writer.drain()
            return False
        elif fault == "http10":
            ctype = b"text/event-stream" if stream else b"application/json"
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: " + ctype + b"\r\n\r\n")
            writer.write(b"".join(self.events(chat, req, pieces)) if stream
                         else json.dumps(self.answer_body(chat, req, pieces)).encode())
            await writer.drain()
            return False
        elif fault == "early_close":
            if stream:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
                writer.write(b"".join(self.events(chat, req, pieces)[:2]))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                             + json.dumps(self.answer_body(chat, req, pieces)).encode()[:40])
            await writer.drain()
            return False
        elif fault == "stream_error":
            self.start_chunked(writer)
            self.chunk(writer, self.events(chat, req, pieces)[0])
            self.chunk(writer, b'data: {"error": {"message": "the engine failed mid-stream", "code": 500}}\n\n')
            self.chunk(writer, b"data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
        elif fault in ("silent", "done_open"):
            if fault == "silent" and not stream:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            elif fault == "silent":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
                writer.write(self.events(chat, req, pieces)[0])
            else:
                self.start_chunked(writer)
                for ev in self.events(chat, req, pieces):
                    self.chunk(writer, ev)
            await writer.drain()
            await self.hold(reader)
        elif fault in ("endless", "trickle"):
            if stream:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            else:
                self.start_chunked(writer, "application/json")
            word = self.events(chat, req, ["x "])[0]
            while True:
                if stream:
                    writer.write(word if fault == "trickle" else b": ping\n\n")
                else:
                    self.chunk(writer, b" ")
                await writer.drain()
                await asyncio.sleep(0.3 if fault == "trickle" else 0.2)
        await writer.drain()
        return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9100)
    ap.add_argument("--fault", default="ok", choices=sorted(FAULTS), help="for requests that name none")
    ap.add_argument("--slow", type=float, default=30.0, help="seconds the `slow` fault waits")
    ap.add_argument("--model", default="bad")
    a = ap.parse_args()
    engine = Engine(a.fault, a.slow, a.model)

    async def run():
        server = await asyncio.start_server(engine.serve, a.host, a.port, limit=1 << 20)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
