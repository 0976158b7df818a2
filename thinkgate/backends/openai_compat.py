"""OpenAI-compatible engines upstream (vLLM, SGLang, llama.cpp server, Ollama, another thinkgate serve).

Raw-prefix mode (the default) uses the engine's `/v1/completions`: the chat template is rendered here
from the model's own tokenizer folder (`--tokenizer`), and the engine continues the raw text, so every
strategy works — budget forcing, early exit and parallel sampling pause, inject and continue exactly as
on a local model. Log probabilities come from the completions `logprobs` field; whether the engine
returns them is asked once (a one-token request) the first time a strategy checks the capability.
Streaming uses the engine's SSE stream, one piece per chunk; a cancelled sink closes the connection,
which makes the engine abort the request. In `thinkgate serve` the engine's HTTP runs on the server's own
event loop (`attach`) and so do the strategies (inline greenlets, see streaming.py): a streamed request is
written to a kept-alive connection from the request handler itself, and the sink hears `opened()` when
the engine answers, so the server's response starts before the first token.

Chat fallback (`UpstreamChat`) is for engines that only serve `/v1/chat/completions`: the request is
passed through (messages, tools, tool_calls and every other field intact, streaming chunk by chunk) with
the engine's own thinking switch set from the decision — `chat_template_kwargs.enable_thinking`
(vLLM, SGLang, llama.cpp), `reasoning_effort` (OpenAI, Ollama's OpenAI API) or `think` (Ollama). Its
limits: no strategy can inject text, so only the modes think / nothink / auto are served; budgets and
strategies need raw prefixes and are refused with an error that says so.

Forced thinking: a model that decides for itself whether to think may close its thought right after the
thinking prefill; a local backend bans that first token (`GenParams.ban_first`), but the completions API
has no per-position ban (`logit_bias` holds for every token), so upstream the thinking prefill alone asks
for thinking and such a model may still answer without it. Reasoning models that always think are
unaffected.

Errors: the engine unreachable -> `UpstreamUnreachable`; no answer within the timeout ->
`UpstreamTimeout`; an HTTP error -> `UpstreamError` with the engine's status and message.

Two limits hold for every request to the engine: `timeout`, the whole request's (headers and body: an
engine that trickles a token every few seconds cannot hold a caller past it), and `idle_timeout` (default:
`timeout`), the longest the engine may stay silent.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import orjson

from ..errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from ..types import Generation
from .base import LOGPROBS, RAW_PREFIX, STREAM, Backend, GenParams, ModelLoadError, tokenizer_counts
from .sinks import inline_greenlet, run_inline, sinks_for


def _failure(base_url: str, e: Exception) -> UpstreamError:
    import httpx

    if isinstance(e, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream {base_url} did not answer in time ({type(e).__name__})")
    return UpstreamUnreachable(f"upstream {base_url} is unreachable ({type(e).__name__}: {e})")


def _sse_data(data: str | bytes) -> dict | None:
    """One SSE `data:` payload of an engine's stream: the chunk, or None at `[DONE]`; an error chunk raises."""
    if data in ("[DONE]", b"[DONE]"):
        return None
    try:
        chunk = orjson.loads(data)  # once per streamed token: the stdlib parser is several times slower
    except orjson.JSONDecodeError:
        raise UpstreamError(f"upstream sent a stream chunk that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise UpstreamError("upstream sent a stream chunk that is not a JSON object")
    if "error" in chunk:
        raise UpstreamError(f"upstream stream error: {chunk['error'].get('message', chunk['error'])}")
    return chunk


def _client(base_url: str, api_key: str | None, idle: float, connections: int):
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                        timeout=httpx.Timeout(idle, connect=min(idle, 10.0)),
                        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


class _Calls:
    """HTTP to the engine with its failures turned into Upstream* errors."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, connections: int = 256,
                 idle_timeout: float | None = None):
        self.base_url = base_url.rstrip("/")
        self.total = timeout
        self.http = _client(self.base_url, api_key, idle_timeout or timeout, connections)

    def _overdue(self, started: float) -> None:
        if time.monotonic() - started > self.total:
            raise UpstreamTimeout(f"upstream {self.base_url} did not finish within {self.total:g} s")

    def _fail(self, e: Exception) -> UpstreamError:
        return _failure(self.base_url, e)

    def post(self, path: str, body: dict) -> dict:
        import httpx

        started = time.monotonic()
        try:
            with self.http.stream("POST", path, json=body) as resp:
                data = bytearray()
                for piece in resp.iter_bytes():  # read as it comes, so the whole request's limit holds
                    data += piece
                    self._overdue(started)
        except httpx.HTTPError as e:
            raise self._fail(e) from None
        if resp.status_code >= 400:
            raise _http_error(self.base_url, resp.status_code, bytes(data))
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream {self.base_url} answered with a body that is not JSON") from None

    def stream(self, path: str, body: dict) -> Iterator[dict]:
        """The engine's SSE chunks as dicts (ends at [DONE] or when the stream closes)."""
        import httpx

        started = time.monotonic()
        try:
            with self.http.stream("POST", path, json=body) as resp:
                if resp.status_code >= 400:
                    raise _http_error(self.base_url, resp.status_code, resp.read())
                done = False
                for line in resp.iter_lines():  # read to the end, so the connection is reused
                    self._overdue(started)
                    if done or not line.startswith("data:"):
                        continue
                    chunk = _sse_data(line[5:].strip())
                    if chunk is None:
                        done = True
                        continue
                    yield chunk
        except httpx.HTTPError as e:
            raise self._fail(e) from None


class _Response:
    """An HTTP/1.1 response on an asyncio stream: status, headers, and its body read as it comes."""

    def __init__(self, status: int, headers: dict[str, str], reader, writer):
        self.status, self.headers, self.reader, self.writer = status, headers, reader, writer
        self.complete = False
        self.timed_out: str | None = None  # why the watchdog aborted it: "idle" or "total"
        self.keep_alive = headers.get("connection", "").lower() != "close"
        self.last = time.monotonic()  # last byte seen: `_Http`'s watchdog aborts a body silent too long
        self.deadline = float("inf")  # when the whole request's time is up (set by `_Http.post`)

    async def chunks(self):
        """The body's pieces: chunked transfer encoding, a Content-Length, or up to the close."""
        r = self.reader
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
                data = await r.readexactly(size + 2)
                self.last = time.monotonic()
                if not size:
                    break
                yield data[:-2]
        elif "content-length" in self.headers:
            left = int(self.headers["content-length"])
            while left:
                data = await r.read(min(left, 65536))
                self.last = time.monotonic()
                if not data:
                    raise ConnectionResetError("the engine closed the connection mid-body")
                left -= len(data)
                yield data
        else:
            self.keep_alive = False
            while True:
                data = await r.read(65536)
                self.last = time.monotonic()
                if not data:
                    break
                yield data
        self.complete = True

    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])


class _Http:
    """A small HTTP/1.1 client on asyncio streams with keep-alive connections: the per-request and
    per-chunk cost of a general client is most of what a proxy adds in front of an engine on loopback."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, idle_timeout: float | None = None):
        from urllib.parse import urlsplit

        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"upstream URL {base_url!r} is not http(s)://host[:port][/path]")
        self.base_url = base_url
        self.host, self.ssl = u.hostname, u.scheme == "https"
        self.port = u.port or (443 if self.ssl else 80)
        self.prefix = u.path.rstrip("/")
        self.total = timeout  # the whole request (connect, headers, body)
        self.silence = idle_timeout or timeout  # the longest silence
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self.head = (f"Host: {u.netloc}\r\nContent-Type: application/json\r\nAccept: */*\r\n{auth}")
        self.idle: list = []
        self.open: set[_Response] = set()  # bodies being read, watched for silence
        self._watchdog = None

    async def _watch(self) -> None:
        """Abort bodies that sent nothing for `silence` seconds or ran past their request's deadline (one
        timer for all, not one per read)."""
        import asyncio

        while True:
            await asyncio.sleep(min(1.0, self.silence / 4, self.total / 4))
            now = time.monotonic()
            for resp in list(self.open):
                why = "total" if now > resp.deadline else "idle" if now - resp.last > self.silence else None
                if why:
                    resp.timed_out = why
                    try:
                        resp.writer.transport.abort()
                    except Exception:  # noqa: BLE001 - already closed: the watchdog goes on for the others
                        self.open.discard(resp)

    async def _connect(self):
        import asyncio

        try:
            async with asyncio.timeout(min(self.silence, 10.0)):
                return await asyncio.open_connection(self.host, self.port, ssl=self.ssl or None, limit=1 << 22)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {self.base_url} did not accept a connection in time") from None
        except OSError as e:
            raise UpstreamUnreachable(f"upstream {self.base_url} is unreachable ({type(e).__name__}: {e})") from None

    def close(self) -> None:
        """Close the kept-alive connections and stop the watchdog (bodies being read are left to finish)."""
        while self.idle:
            self.idle.pop()[1].close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _request(self, path: str, body: dict) -> bytes:
        payload = orjson.dumps(body)
        return (f"POST {self.prefix}{path} HTTP/1.1\r\n{self.head}Content-Length: {len(payload)}\r\n\r\n"
                ).encode() + payload

    def send_now(self, path: str, body: dict) -> tuple | None:
        """Write a request on a kept-alive connection at once, from the loop's thread but outside any task
        (an inline strategy, streaming.py): the engine starts while the caller goes on. Returns the
        connection to hand to `post(..., sent=)`, or None when none is idle."""
        while self.idle:
            reader, writer = self.idle.pop()
            if writer.is_closing():  # the engine closed it meanwhile
                writer.close()
                continue
            writer.write(self._request(path, body))
            return reader, writer
        return None

    @contextlib.asynccontextmanager
    async def post(self, path: str, body: dict, sent: tuple | None = None):
        import asyncio

        deadline = time.monotonic() + self.total
        for attempt in (0, 1):
            written = attempt == 0 and sent is not None  # by send_now, on a kept-alive connection
            reused = written or (attempt == 0 and bool(self.idle))
            if written:
                reader, writer = sent
            else:
                reader, writer = self.idle.pop() if reused else await self._connect()
            try:
                if not written:
                    writer.write(self._request(path, body))
                async with asyncio.timeout(max(0.0, min(self.silence, deadline - time.monotonic()))):
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                break
            except TimeoutError:
                writer.close()
                raise UpstreamTimeout(f"upstream {self.base_url} did not answer in time "
                                      f"({min(self.silence, self.total):g} s)") from None
            except (OSError, asyncio.IncompleteReadError) as e:
                writer.close()
                if reused:  # a kept-alive connection the engine had closed: try a new one
                    continue
                raise UpstreamUnreachable(f"upstream {self.base_url} closed the connection ({type(e).__name__})") from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        resp = _Response(status, headers, reader, writer)
        resp.deadline = deadline
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        self.open.add(resp)
        try:
            yield resp
        except (OSError, asyncio.IncompleteReadError) as e:
            if resp.timed_out == "total":
                raise UpstreamTimeout(f"upstream {self.base_url} did not finish within {self.total:g} s") from None
            if resp.timed_out:
                raise UpstreamTimeout(f"upstream {self.base_url} stopped answering ({self.silence:g} s)") from None
            raise UpstreamUnreachable(f"upstream {self.base_url} broke the connection ({type(e).__name__})") from None
        finally:
            self.open.discard(resp)
            if resp.complete and resp.keep_alive:
                self.idle.append((reader, writer))
            else:
                writer.close()


def _http_error(base_url: str, status: int, body: bytes) -> UpstreamError:
    try:
        data = json.loads(body)
        msg = (data.get("error") or {}).get("message") if isinstance(data.get("error"), dict) else None
        msg = msg or json.dumps(data)[:500]
    except (ValueError, AttributeError):
        msg = body[:500].decode("utf-8", "replace")
    return UpstreamError(f"upstream answered {status}: {msg}", status)


class _AsyncCalls:
    """The engine's HTTP on an asyncio loop — the server's own (`attach`), or a private loop thread for the
    CLI and the bench. Strategy threads hand it requests and wait; every stream's chunks are read (and
    written to their sinks) on that one loop, so many concurrent streams do not fight over the
    interpreter lock."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, connections: int, concurrency: int,
                 idle_timeout: float | None = None):
        self.base_url = base_url.rstrip("/")
        self._http_args = (self.base_url, api_key, timeout, idle_timeout)
        self.http = _Http(*self._http_args)
        self.concurrency = concurrency
        self._loop = None
        self._lock = threading.Lock()

    def attach(self, loop) -> None:
        """Do the HTTP on `loop` (a server's own event loop, called from it), so that streamed chunks are
        read and relayed on one thread; without it a private loop thread is started on first use. A
        private loop started before (a blocking call while the server was being built: the capability
        probe, a router's preparation) is stopped, and its connections with it."""
        with self._lock:
            old = self._loop
            if old is loop:
                return
            if old is not None:
                old.call_soon_threadsafe(old.stop)
                self.http = _Http(*self._http_args)  # its kept-alive connections belong to the old loop
            self._setup()
            self._loop = loop

    def _setup(self) -> None:
        import asyncio

        self.slots = asyncio.Semaphore(self.concurrency)

    @property
    def loop(self):
        """The loop the engine's HTTP runs on (None until the first call or `attach`)."""
        return self._loop

    def run(self, coro):
        import asyncio

        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, daemon=True, name="thinkgate-upstream-io").start()

                async def setup():
                    self._setup()

                asyncio.run_coroutine_threadsafe(setup(), loop).result()
                self._loop = loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop and inline_greenlet() is not None:
            return run_inline(self._loop, coro)  # a strategy running on the loop itself (streaming.py)
        if running is self._loop:
            coro.close()
            raise RuntimeError("the upstream backend's blocking calls must come from a worker thread, "
                               "not from the event loop that does its I/O")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def post(self, path: str, body: dict) -> dict:
        async with self.slots, self.http.post(path, body) as resp:
            data = await resp.read()
        if resp.status >= 400:
            raise _http_error(self.base_url, resp.status, data)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"upstream {self.base_url} answered with a body that is not JSON") from None

    def begin(self, path: str, body: dict) -> tuple | None:
        """From an inline strategy on the loop's thread: write the request now when a slot and a kept-alive
        connection are free (hand the result to `events(..., sent=)`), else None. Its slot is taken when
        the reading task starts, a moment later."""
        return None if self.slots.locked() else self.http.send_now(path, body)

    async def events(self, path: str, body: dict, sent: tuple | None = None, on_open=None):
        """The engine's SSE chunks as dicts, parsed from the raw bytes (ends at [DONE] or at the close);
        `on_open()` is called once the engine has answered with a success status."""
        async with self.slots, self.http.post(path, body, sent) as resp:
            if resp.status >= 400:
                raise _http_error(self.base_url, resp.status, await resp.read())
            if on_open is not None:
                on_open()
            buf = b""
            done = False
            async for data in resp.chunks():  # read to the end, so the connection is kept
                if done:
                    continue
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if not line.startswith(b"data:"):
                        continue
                    chunk = _sse_data(line[5:].strip())
                    if chunk is None:
                        done = True
                        break
                    yield chunk


class OpenAICompatBackend(Backend):
    name = "openai_compat"

    def __init__(self, base_url: str, model: str, tokenizer: str | Path, api_key: str | None = None,
                 timeout: float = 600.0, concurrency: int = 64, idle_timeout: float | None = None):
        from transformers import AutoTokenizer

        path = Path(tokenizer).expanduser()
        if not path.is_dir():
            raise ModelLoadError(f"--tokenizer {path} is not a folder (the model's tokenizer and chat template)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        except Exception as e:  # transformers raises many types; name the folder and the cause
            raise ModelLoadError(f"tokenizer folder {path} could not be loaded: {type(e).__name__}: {e}") from e
        self.model = model
        self.model_id = f"{base_url.rstrip('/')}#{model}"
        self.calls = _AsyncCalls(base_url, api_key, timeout, connections=max(256, concurrency * 4),
                                 concurrency=concurrency, idle_timeout=idle_timeout)
        self._caps: frozenset[str] | None = None
        self._caps_lock = threading.Lock()

    @property
    def capabilities(self) -> frozenset[str]:  # type: ignore[override]
        with self._caps_lock:
            if self._caps is None:
                caps = {RAW_PREFIX, STREAM}
                out = self.calls.run(self.calls.post("/v1/completions", {
                    "model": self.model, "prompt": "Hi", "max_tokens": 1, "temperature": 0, "logprobs": 1}))
                lp = (out.get("choices") or [{}])[0].get("logprobs")
                if lp and lp.get("token_logprobs"):
                    caps.add(LOGPROBS)
                self._caps = frozenset(caps)
            return self._caps

    def count_tokens(self, text: str) -> int:
        return tokenizer_counts(self.tokenizer, [text])[0] if text else 0  # the Rust tokenizer, no Python wrapper

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """As the base class; from a strategy running on the server's loop (inline), in a worker thread, so
        the loop relays other requests' tokens while a finished request's text is tokenized."""
        if inline_greenlet() is not None:
            import asyncio

            return run_inline(self.calls.loop, asyncio.to_thread(Backend.count_tokens_many, self, texts))
        return super().count_tokens_many(texts)

    def _body(self, prompt: str | list[str], params: GenParams, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "max_tokens": params.max_tokens,
                                "temperature": params.temperature, "top_p": params.top_p, "n": params.n,
                                "stream": stream}
        if params.top_k:
            body["top_k"] = params.top_k
        if params.stop:
            body["stop"] = params.stop
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs:
            body["logprobs"] = 1
        if stream:  # engines that count tokens say so in a last chunk
            body["stream_options"] = {"include_usage": True}
        return body

    def generate(self, prompts: list[str], params: GenParams, sinks: list | None = None) -> list[list[Generation]]:
        import asyncio

        if sinks is None:
            sinks = sinks_for(prompts, params.n, params.logprobs)
        sinks = sinks or [None] * len(prompts)
        # one request per prompt, at most `concurrency` in flight: engines batch concurrent requests
        # themselves, and not every engine takes a list of prompts
        if params.n == 1 and any(s is not None for s in sinks):
            bodies = [self._body(p, params, stream=True) for p in prompts]
            # from a strategy running on the loop itself the requests leave now, not when the task starts
            sent = [self.calls.begin("/v1/completions", b) for b in bodies] if inline_greenlet() is not None \
                else [None] * len(bodies)

            async def work():
                if len(bodies) == 1:
                    return [[await self._stream_one(bodies[0], params, sinks[0], sent[0])]]
                return [[g] for g in await asyncio.gather(*[self._stream_one(b, params, s, x)
                                                              for b, s, x in zip(bodies, sinks, sent)])]
        else:
            async def work():
                return await asyncio.gather(*[self._complete(p, params) for p in prompts])
        rows = self.calls.run(work())
        if not (params.n == 1 and any(s is not None for s in sinks)):
            for row, s in zip(rows, sinks):  # not streamed: count the tokens now
                if s is not None:
                    for _ in range(sum(g.tokens for g in row)):
                        s.write("")
        return rows

    async def _complete(self, prompt: str, params: GenParams) -> list[Generation]:
        """`params.n` continuations of one prompt. An engine that returns fewer choices than `n` (llama.cpp's
        server ignores `n` on /v1/completions) gets the rest asked for as separate requests, concurrently,
        each with its own seed (`seed + k`, when a seed is set) so that sampled ones differ."""
        import asyncio

        out = await self.calls.post("/v1/completions", self._body(prompt, params, stream=False))
        choices = sorted(out.get("choices") or [], key=lambda c: c.get("index", 0))
        if not choices or len(choices) > params.n:
            raise UpstreamError(f"upstream returned {len(choices)} choices for n={params.n}")
        gens = [self._generation(c, params) for c in choices]
        if len(gens) < params.n:
            rest = [params.model_copy(update={"n": 1, "seed": None if params.seed is None else params.seed + k})
                    for k in range(len(gens), params.n)]
            more = await asyncio.gather(*[self.calls.post("/v1/completions", self._body(prompt, p, stream=False))
                                          for p in rest])
            for o, p in zip(more, rest):
                got = o.get("choices") or []
                if len(got) != 1:
                    raise UpstreamError(f"upstream returned {len(got)} choices for n=1")
                gens.append(self._generation(got[0], p))
        return gens

    async def _stream_one(self, body: dict, params: GenParams, sink, sent: tuple | None = None) -> Generation:
        text, finish, stop_reason, lps, tops = [], None, None, [], []
        usage = None
        events = self.calls.events("/v1/completions", body, sent, on_open=sink.opened if sink is not None else None)
        async with contextlib.aclosing(events):  # leaving early closes the connection: the engine stops
            async for chunk in events:
                usage = chunk.get("usage") or usage
                for c in chunk.get("choices", []):
                    piece = c.get("text") or ""
                    if piece:
                        text.append(piece)
                        if sink is not None:
                            sink.write(piece)
                    lp = c.get("logprobs")
                    if lp and lp.get("token_logprobs"):
                        lps.extend(lp["token_logprobs"])
                        tops.extend(lp.get("top_logprobs") or [None] * len(lp["token_logprobs"]))
                    if c.get("finish_reason"):
                        finish, stop_reason = c["finish_reason"], c.get("stop_reason")
                if sink is not None and sink.cancelled:
                    break
        return self._generation({"text": "".join(text), "finish_reason": finish or "length", "stop_reason": stop_reason,
                                 "logprobs": {"token_logprobs": lps, "top_logprobs": tops} if lps else None}, params,
                                tokens=(usage or {}).get("completion_tokens"))

    def _generation(self, choice: dict, params: GenParams, tokens: int | None = None) -> Generation:
        """`tokens`: the engine's own count of what it wrote, when it gave one (else counted here)."""
        text = choice.get("text") or ""
        finish = "stop" if choice.get("finish_reason") == "stop" else "length"
        stop = choice.get("stop_reason")
        stop = stop if isinstance(stop, str) and stop in params.stop else None
        if tokens is None:
            tokens = self.count_tokens(text) + (self.count_tokens(stop) if stop else 0)
        gen = Generation(text=text, tokens=tokens, finish_reason=finish, stop=stop)
        lp = choice.get("logprobs")
        if lp and lp.get("token_logprobs"):
            chosen = [x for x in lp["token_logprobs"] if x is not None]
            gen.token_logprobs = chosen
            tops = [max(d.values()) if isinstance(d, dict) and d else c
                    for d, c in zip(lp.get("top_logprobs") or [None] * len(chosen), chosen)]
            gen.top_logprobs = tops
            # engines return no full distribution; an engine that reports it (thinkgate serve) gives the
            # self-certainty, else the mean top log probability ranks samples in its place
            sc = (choice.get("thinkgate") or {}).get("self_certainty")
            gen.self_certainty = sc if sc is not None else (sum(tops) / len(tops) if tops else None)
            gen.tokens = max(gen.tokens, len(chosen)) if not stop else gen.tokens
        return gen


REASONING_FIELDS = ("reasoning_content", "reasoning")  # older engines and DeepSeek's API; vLLM 0.10+


def both_reasoning_fields(chunk: dict[str, Any]) -> dict[str, Any]:
    """A chat completion or streamed chunk from an engine with the reasoning it split out in both fields
    clients read (`reasoning_content` and `reasoning`), whichever of the two the engine wrote."""
    for choice in chunk.get("choices") or []:
        for part in ("message", "delta"):
            msg = choice.get(part)
            if isinstance(msg, dict):
                text = next((msg[f] for f in REASONING_FIELDS if msg.get(f) is not None), None)
                if text is not None:
                    msg.update(dict.fromkeys(REASONING_FIELDS, text))
    return chunk


class UpstreamChat:
    """Chat fallback: pass chat requests through to the engine, with the thinking decision in the engine's
    own fields (`backends.engines`)."""

    capabilities = frozenset({STREAM})

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 600.0,
                 engine: str = "auto", idle_timeout: float | None = None, tokenizer: str | Path | None = None):
        """`tokenizer`: the model's tokenizer folder, optional: with it, usage an engine does not send is
        counted in tokens (without it, a streamed answer's chunks are counted, one token each)."""
        from .engines import ENGINES, detect

        if engine == "auto":
            engine = detect(base_url, api_key)
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: auto, {', '.join(ENGINES)}")
        self.engine = ENGINES[engine]
        self.tokenizer = None
        if tokenizer is not None:
            from transformers import AutoTokenizer

            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(Path(tokenizer).expanduser()))
            except Exception as e:  # noqa: BLE001 - transformers raises many types; name the folder and the cause
                raise ModelLoadError(f"tokenizer folder {tokenizer} could not be loaded: {type(e).__name__}: {e}") from e
        self.model = model
        self.model_id = f"{base_url.rstrip('/')}#{model}"
        self.calls = _Calls(base_url, api_key, timeout, idle_timeout=idle_timeout)

    def body(self, body: dict[str, Any], mode: str, budget: int | None = None, min_budget: int | None = None,
             effort: str | None = None, strategy: str | None = None, asked: bool = True) -> dict[str, Any]:
        """The request as the engine gets it: thinkgate's own fields removed; the mode, budget and effort in
        the engine's own fields (`EngineFieldError` where it has none; `asked`: the request chose the mode, not
        the server's default); greedy decoding sent explicitly when
        the request names no temperature (as documented; an engine's own default would sample)."""
        from .engines import EngineFieldError

        if strategy not in (None, "think", "nothink"):
            raise EngineFieldError(f"strategy {strategy!r} needs the raw-prefix upstream (capability 'raw_prefix'); "
                                   "--upstream-chat serves only think and nothink", "thinking.strategy")
        out = {k: v for k, v in body.items() if k != "thinking"}
        out["model"] = self.model
        if out.get("temperature") is None:
            out["temperature"] = 0.0
        return self.engine.apply(out, mode, budget, min_budget, effort, asked)

    def usage(self, body: dict[str, Any], text: str, chunks: int) -> dict[str, Any]:
        """Usage for an answer the engine sent none for: counted with the tokenizer when there is one (the
        prompt as the chat template renders its text messages), else the streamed chunks that carried text,
        one token each (as llama.cpp, vLLM and SGLang stream), and no prompt count."""
        prompt = completion = 0
        if self.tokenizer is not None:
            messages = [{"role": m.get("role"), "content": m.get("content") if isinstance(m.get("content"), str) else ""}
                        for m in body.get("messages", []) if isinstance(m, dict)]
            try:
                rendered = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - a template that refuses this conversation: no prompt count
                rendered = ""
            prompt, completion = tokenizer_counts(self.tokenizer, [rendered, text])
        else:
            completion = chunks
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "counted_by": "thinkgate (tokenizer)" if self.tokenizer is not None else "thinkgate (streamed chunks)"}

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.calls.post("/v1/chat/completions", body)

    def stream(self, body: dict[str, Any]) -> Iterator[dict]:
        return self.calls.stream("/v1/chat/completions", body)
