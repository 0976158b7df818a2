"""A stand-in OpenAI-compatible engine that streams canned tokens at a fixed rate per stream.

It plays a reasoning model served by an engine with a reasoning parser: `/v1/completions` continues any
prompt with `TOKENS` tokens — a thought of `TOKENS - ANSWER` words, `</think>`, then the answer words —
and `/v1/chat/completions` streams the same tokens as `reasoning_content` deltas, then `content` deltas.
Every stream writes its first token after one token interval and then one token per interval
(`--rate` tokens/s per stream), so many concurrent streams each keep the rate. A chat request with
`tools` gets a tool call (streamed as `tool_calls` deltas), to check that a proxy passes them intact; a
`/v1/completions` prompt whose template listed tools (`<tools>`) gets a Hermes `<tool_call>` block for the
first tool, to check that a proxy rendering the prompt reads the call back.

    python benchmarks/fake_engine.py --port 9000 --rate 100 --tokens 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


def build(rate: float, tokens: int, answer: int = 10, model: str = "fake") -> Starlette:
    step = 1.0 / rate

    def words(n_max: int) -> list[str]:
        n = min(n_max, tokens)
        think = tokens - answer
        out = []
        for i in range(n):
            if i < think - 1:
                out.append(f" w{i}")
            elif i == think - 1:
                out.append("\n</think>\n\n")
            else:
                out.append(f" a{i - think}")
        return out

    async def paced(items):
        start = time.perf_counter()
        for i, item in enumerate(items):
            delay = start + (i + 1) * step - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield item

    def sse(obj) -> str:
        return f"data: {json.dumps(obj, separators=(',', ':'))}\n\n"

    def tool_words(prompt: str, n_max: int) -> list[str] | None:
        """A prompt whose template listed tools (Hermes-style `<tools>` JSON): a short thought, then a call
        of the first tool in `<tool_call>` markup, written over several tokens."""
        if "<tools>" not in prompt or '"name": "' not in prompt.split("<tools>", 1)[1]:
            return None
        name = prompt.split("<tools>", 1)[1].split('"name": "', 1)[1].split('"', 1)[0]
        out = [" w0", " w1", "\n</think>\n\n", "Let me check.", "\n<tool", "_call>\n", '{"name": "', name,
               '", "arguments": {"city": ', '"Paris"}}', "\n</tool_call>"]
        if not prompt.rstrip().endswith("<think>"):  # a template that leaves the opening to the model
            out.insert(0, "<think>\n")
        return out[:n_max]

    async def completions(request: Request):
        body = await request.json()
        calls = tool_words(str(body.get("prompt")), int(body.get("max_tokens") or 16))
        toks = calls or words(int(body.get("max_tokens") or 16))
        finish = "stop" if calls or len(toks) >= tokens else "length"
        base = {"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            await asyncio.sleep(step * len(toks))
            return JSONResponse({**base, "choices": [{"index": 0, "text": "".join(toks), "finish_reason": finish,
                                                      "logprobs": None}],
                                 "usage": {"prompt_tokens": 1, "completion_tokens": len(toks),
                                           "total_tokens": 1 + len(toks)}})

        async def gen():
            async for t in paced(toks):
                yield sse({**base, "choices": [{"index": 0, "text": t, "finish_reason": None, "logprobs": None}]})
            yield sse({**base, "choices": [{"index": 0, "text": "", "finish_reason": finish, "logprobs": None}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                yield sse({**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": len(toks),
                                                            "total_tokens": 1 + len(toks)}})
            yield "data: [DONE]\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def chat(request: Request):
        body = await request.json()
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"city": "Paris"}'}}
            if not body.get("stream"):
                return JSONResponse({**base, "object": "chat.completion", "choices": [{
                    "index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 1, "completion_tokens": 5,
                                                               "total_tokens": 6}})

            async def tool_gen():
                yield sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": ""}}]},
                    "finish_reason": None}]})
                for part in ('{"city": ', '"Paris"}'):
                    yield sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "function": {"arguments": part}}]}, "finish_reason": None}]})
                yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
                yield "data: [DONE]\n\n"

            return StreamingResponse(tool_gen(), media_type="text/event-stream")
        toks = words(int(body.get("max_tokens") or body.get("max_completion_tokens") or tokens))
        think_on = (body.get("chat_template_kwargs") or {}).get("enable_thinking", True)
        if not think_on:
            toks = [t for t in toks if t.startswith(" a")]
        split = next((i for i, t in enumerate(toks) if "</think>" in t), len(toks))
        if not body.get("stream"):
            await asyncio.sleep(step * len(toks))
            return JSONResponse({**base, "object": "chat.completion", "choices": [{
                "index": 0, "message": {"role": "assistant", "content": "".join(toks[split + 1:]).strip(),
                                        "reasoning_content": "".join(toks[:split]).strip() or None},
                "finish_reason": "stop"}]})

        async def gen():
            yield sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "finish_reason": None}]})
            i = 0
            async for t in paced(toks):
                if i < split:
                    delta = {"reasoning_content": t}
                elif i == split:
                    delta = None
                else:
                    delta = {"content": t}
                i += 1
                if delta:
                    yield sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            yield sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            yield "data: [DONE]\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": model, "object": "model"}]})

    return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]),
                             Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/models", models, methods=["GET"])])


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--rate", type=float, default=100.0, help="tokens per second per stream")
    ap.add_argument("--tokens", type=int, default=200, help="tokens per response")
    ap.add_argument("--model", default="fake")
    a = ap.parse_args()
    uvicorn.run(build(a.rate, a.tokens, model=a.model), host=a.host, port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
