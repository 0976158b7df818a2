"""A small HTTP/1.1 client on asyncio streams, with kept-alive connections, for the engine upstream.

Why not httpx: on loopback, in front of an engine that streams a token per chunk, the per-request and
per-chunk cost of a general-purpose client is most of what a proxy adds. Measured with
`benchmarks/serve_overhead.py` (fake engine; 64 streams of 200 tokens at 100 tokens/s), two runs each, on
2 cores on 2026-12-01, with this client: added TTFT p50 +1.76 / +1.76 ms, throughput ratio 0.926 / 0.910;
with `httpx.AsyncClient` in its place (streamed `send`, `aiter_raw`, the same parsing): +5.20 / +5.82 ms
and 0.835 / 0.836, against the bars of 2 ms and 0.95.

It does only what the upstream needs: POST with a JSON body; a status line and headers; a body by chunked
transfer encoding, Content-Length or the close; kept-alive connections reused, and one the engine closed
meanwhile replaced once. `send_now` writes a request at once from an inline strategy (the engine starts
before the reading task does). Timeouts: `timeout` bounds the whole request, `idle_timeout` the longest
silence, one watchdog task for every open body. What is not HTTP/1.1 as read here is an `UpstreamError`
naming what was wrong. Its parsing is tested on its own (`tests/test_http1.py`); what the bodies mean is
read by `wire.py`.
"""

from __future__ import annotations

import contextlib
import time

import orjson

from ..errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable


MAX_BODY = 32 << 20  # an engine's body read whole, by default (a long answer with log probabilities: a few MiB)


class Malformed(ValueError):
    """The engine's bytes are not HTTP/1.1 as this client reads it."""


class TooLarge(Exception):
    """A body (or a stream's line) past the client's size limit."""


class Response:
    """An HTTP/1.1 response on an asyncio stream: status, headers, and its body read as it comes."""

    def __init__(self, status: int, headers: dict[str, str], reader, writer, version: str = "1.1",
                 limit: int = 1 << 62):
        self.status, self.headers, self.reader, self.writer = status, headers, reader, writer
        self.complete = False
        self.timed_out: str | None = None  # why the watchdog aborted it: "idle" or "total"
        connection = headers.get("connection", "").lower()
        # HTTP/1.0 closes after each response unless it says otherwise; 1.1 keeps the connection unless it says so
        self.keep_alive = connection == "keep-alive" if version == "1.0" else connection != "close"
        self.chunked = version != "1.0" and headers.get("transfer-encoding", "").lower() == "chunked"
        if (status < 200 or status in (204, 304)) and (self.chunked or headers.get("content-length", "0") != "0"):
            self.keep_alive = False  # a status without a body that says it has one: what follows is not read
        self.last = time.monotonic()  # last byte seen: `Http1`'s watchdog aborts a body silent too long
        self.deadline = float("inf")  # when the whole request's time is up (set by `Http1.post`)
        self.limit = limit  # the most bytes `read` takes, and the longest line a stream's reader may hold
        self._pieces = None

    @property
    def pieces(self):
        """The body's one reader (`chunks()`, made once): what was not read when the caller stopped early can
        still be drained from it."""
        if self._pieces is None:
            self._pieces = self.chunks()
        return self._pieces

    def _eof(self) -> None:
        """The engine's side ended before the body did: a watchdog's abort reads as a clean end of stream."""
        if self.timed_out:
            raise ConnectionAbortedError(f"the body timed out ({self.timed_out})")
        raise ConnectionResetError("the engine closed the connection mid-body")

    async def chunks(self):
        """The body's pieces as they arrive: chunked transfer encoding, a Content-Length, or up to the close.
        A piece is what one read of the socket brought, so chunks the engine wrote together (a burst of
        tokens) come out together, as one piece."""
        r = self.reader
        if self.status in (204, 304) or self.status < 200:  # answers that have no body, whatever their headers say
            pass
        elif self.chunked:
            # bytes read and not yet decoded start at `at`; a bytearray, so a chunk longer than one read grows in
            # place instead of being copied again at every read
            buf, at = bytearray(), 0
            while True:
                out, at, ended = _dechunk(buf, at)
                if out:
                    yield out
                if ended:
                    if at < len(buf):  # bytes past the body's end: the connection cannot be reused
                        self.keep_alive = False
                    break
                data = await r.read(65536)
                self.last = time.monotonic()
                if not data:
                    self._eof()
                if at:
                    del buf[:at]
                    at = 0
                buf += data
                if len(buf) > self.limit + MAX_SIZE_LINE:  # one chunk past the limit: not held whole
                    raise TooLarge(f"sent a chunk of more than {self.limit} bytes")
        elif "content-length" in self.headers:
            left = self.length()
            while left:
                data = await r.read(min(left, 65536))
                self.last = time.monotonic()
                if not data:
                    self._eof()
                left -= len(data)
                yield data
        else:  # up to the close: an abort by the watchdog is no end of the body
            self.keep_alive = False
            while True:
                data = await r.read(65536)
                self.last = time.monotonic()
                if not data:
                    if self.timed_out:
                        self._eof()
                    break
                yield data
        self.complete = True

    def length(self) -> int | None:
        """The Content-Length the engine declared (None when it declared none); `Malformed` when it is not a
        number of digits (a negative length is no length)."""
        value = self.headers.get("content-length")
        if value is None:
            return None
        if not value.isdigit() or not value.isascii():
            raise Malformed(f"Content-Length {value[:40]!r}")
        return int(value)

    async def read(self) -> bytes:
        """The whole body; `TooLarge` past `limit` bytes (a declared length past it is refused before any of
        the body is read)."""
        declared = self.length() if not self.chunked else None
        if declared is not None and declared > self.limit:
            raise TooLarge(f"declared a body of {declared} bytes")
        out, size = [], 0
        async for c in self.pieces:
            size += len(c)
            if size > self.limit:
                raise TooLarge(f"sent a body of more than {self.limit} bytes")
            out.append(c)
        return b"".join(out)


class Deadline:
    """A wait's time limit: a timer that cancels the waiting task, as `asyncio.timeout` does with more machinery
    (8.5 us a wait on uvloop against 2.3 us: the server's body read and every engine request pass here).
    Start it before the wait, `cancel()` it after (in a `finally`); in the wait's `except CancelledError`,
    `expired()` says whether this deadline alone cancelled it (else the cancellation came from outside and
    is raised on)."""

    __slots__ = ("task", "before", "late", "timer")

    def __init__(self, seconds: float):
        import asyncio

        self.task = asyncio.current_task()
        self.before = self.task.cancelling()  # cancellations requested before this wait (and not for it)
        self.late = False
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.late = True
        self.task.cancel()

    def expired(self) -> bool:
        return self.late and self.task.uncancel() <= self.before

    def cancel(self) -> None:
        self.timer.cancel()


class Http1:
    """A small HTTP/1.1 client on asyncio streams with keep-alive connections: the per-request and
    per-chunk cost of a general client is most of what a proxy adds in front of an engine on loopback."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, idle_timeout: float | None = None,
                 max_body: int = MAX_BODY):
        u = check_url(base_url)
        self.max_body = max_body  # the most bytes of a body read whole, and of one line of a stream
        self.base_url = base_url
        self.host, self.ssl = u.hostname, u.scheme == "https"
        self.port = u.port or (443 if self.ssl else 80)
        self.prefix = u.path.rstrip("/")
        self.total = timeout  # the whole request (connect, headers, body)
        self.silence = idle_timeout or timeout  # the longest silence
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self.head = (f"Host: {u.netloc}\r\nContent-Type: application/json\r\nAccept: */*\r\n{auth}")
        self.idle: list = []
        self.open: set[Response] = set()  # bodies being read, watched for silence
        self._watchdog = None
        self._draining: set = set()  # tasks reading the rest of bodies their callers left (`_drain`)

    async def _watch(self) -> None:
        """Abort bodies that sent nothing for `silence` seconds or ran past their request's deadline (one
        timer for all, not one per read); it ends when no body is open, and `post` starts it again."""
        import asyncio

        while self.open:
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
        self._watchdog = None

    async def _connect(self):
        import asyncio

        try:
            async with asyncio.timeout(min(self.silence, 10.0)):
                return await asyncio.open_connection(self.host, self.port, ssl=self.ssl or None, limit=1 << 22)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {self.base_url} did not accept a connection in time") from None
        except OSError as e:
            raise UpstreamUnreachable(f"upstream {self.base_url} is unreachable ({type(e).__name__}: {e})") from None

    async def diagnose(self) -> str:
        """What the engine does after it broke a connection, in words for an error: it no longer listens (its
        process died: a crash, an out-of-memory kill), it takes connections and drops them unanswered, or it
        still answers (it dropped this one request). One new connection and one small request, at most 2 s."""
        import asyncio

        try:
            async with asyncio.timeout(2.0):
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl or None)
                except OSError as e:
                    return (f"and now refuses connections ({type(e).__name__}): the engine process has stopped — "
                            "crashed or killed; its own log says why")
                try:
                    writer.write(f"GET {self.prefix}/v1/models HTTP/1.1\r\n{self.head}Connection: close\r\n\r\n"
                                 .encode())
                    first = await reader.read(1)
                except OSError:  # reset or broken: dropped like an empty read
                    first = b""
                finally:
                    writer.close()
                if not first:
                    return "and drops every new connection without answering: the engine is not serving requests"
                return "but answers new requests: it dropped this one (it may have run out of memory or restarted)"
        except TimeoutError:
            return "and does not answer a new request within 2 s"

    def close(self) -> None:
        """Close the kept-alive connections and stop the watchdog (bodies being read are left to finish)."""
        for task in list(self._draining):
            task.cancel()
        while self.idle:
            self.idle.pop()[1].close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _request(self, path: str, body: dict) -> bytes:
        try:
            payload = orjson.dumps(body)
        except orjson.JSONEncodeError as e:  # a client's value passed through (an integer past 64 bits)
            raise ValueError(f"the request holds a value that cannot be sent to the engine as JSON ({e})") from None
        return (f"POST {self.prefix}{path} HTTP/1.1\r\n{self.head}Content-Length: {len(payload)}\r\n\r\n"
                ).encode() + payload

    def send_now(self, path: str, body: dict) -> tuple | None:
        """Write a request on a kept-alive connection at once, from the loop's thread but outside any task
        (an inline strategy, streaming.py): the engine starts while the caller goes on. Returns the
        connection to hand to `post(..., sent=)`, or None when none is idle."""
        request = self._request(path, body) if self.idle else b""
        while self.idle:
            reader, writer = self.idle.pop()
            if writer.is_closing():  # the engine closed it meanwhile
                writer.close()
                continue
            writer.write(request)
            return reader, writer
        return None

    def unsend(self, sent: tuple) -> None:
        """Give up a request `send_now` wrote, its answer unread: its connection is closed (an engine stops a
        request whose connection closed)."""
        sent[1].close()

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
            limit = Deadline(max(0.0, min(self.silence, deadline - time.monotonic())))  # for the head
            try:
                try:  # the timer stops before the handlers below, one of which waits (`diagnose`)
                    if not written:
                        writer.write(self._request(path, body))
                    await writer.drain()
                    head = await reader.readuntil(b"\r\n\r\n")
                finally:
                    limit.cancel()
                break
            except asyncio.CancelledError:
                writer.close()
                if not limit.expired():  # cancelled from outside (the client left): the engine stops
                    raise
                raise UpstreamTimeout(f"upstream {self.base_url} did not answer in time "
                                      f"({min(self.silence, self.total):g} s)") from None
            except (OSError, asyncio.IncompleteReadError) as e:
                writer.close()
                if reused:  # a kept-alive connection the engine had closed: try a new one
                    continue
                raise UpstreamUnreachable(f"upstream {self.base_url} closed the connection ({type(e).__name__}) "
                                          f"{await self.diagnose()}") from None
            except asyncio.LimitOverrunError:
                writer.close()
                raise UpstreamError(f"upstream {self.base_url} sent a malformed HTTP response (headers over 4 MiB)") from None
            except BaseException:
                writer.close()
                raise
        try:
            status, headers, version = parse_head(head)
        except Malformed as e:
            writer.close()
            raise UpstreamError(f"upstream {self.base_url} sent a malformed HTTP response ({e})") from None
        resp = Response(status, headers, reader, writer, version, self.max_body)
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
            raise UpstreamUnreachable(f"upstream {self.base_url} broke the connection ({type(e).__name__}) "
                                      f"{await self.diagnose()}") from None
        except Malformed as e:
            raise UpstreamError(f"upstream {self.base_url} sent a malformed HTTP response ({e})") from None
        except TooLarge as e:
            raise UpstreamError(f"upstream {self.base_url} {e}, over this server's limit of "
                                f"{self.max_body / (1 << 20):g} MiB (--upstream-max-body)") from None
        else:
            if not resp.complete and resp.keep_alive:  # the caller had all it needed ([DONE]): the rest, later
                task = asyncio.get_running_loop().create_task(self._drain(resp))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
                resp = None
        finally:
            if resp is not None:
                self.open.discard(resp)
                if resp.complete and resp.keep_alive:
                    self.idle.append((reader, writer))
                else:
                    writer.close()

    async def _drain(self, resp: Response) -> None:
        """Read what is left of a body its caller did not need (the end of a stream after `[DONE]`), for at
        most a second and 64 KiB, so that the connection can serve the next request; else close it. The
        caller has its answer already: an engine that holds a finished stream open delays no one."""
        import asyncio

        self.open.discard(resp)
        left = 1 << 16
        try:
            async with asyncio.timeout(min(1.0, self.silence)):
                async for piece in resp.pieces:
                    left -= len(piece)
                    if left < 0:
                        break
        except asyncio.CancelledError:  # the client is closing (`close`): so is the connection
            resp.writer.close()
            raise
        except Exception:  # noqa: BLE001 - any failure: the connection is not reused
            pass
        if resp.complete and resp.keep_alive and not resp.writer.is_closing():
            self.idle.append((resp.reader, resp.writer))
        else:
            resp.writer.close()


def check_url(url: str):
    """An engine's base URL, split (`urllib.parse.SplitResult`); ValueError naming what is wrong with it: not
    http(s), no host, a port that is not a number from 1 to 65535 (port 0 is no port to connect to, and a
    URL parser would read it as "none given" and go to 80)."""
    from urllib.parse import urlsplit

    shape = "http(s)://host[:port][/path]"
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as e:  # a port out of range or not a number, a malformed IPv6 host
        raise ValueError(f"upstream URL {url!r} is not {shape}: {e}") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"upstream URL {url!r} is not {shape}")
    if port == 0 or (port is None and u.netloc.endswith(":")):
        raise ValueError(f"upstream URL {url!r} is not {shape}: its port must be a number from 1 to 65535")
    return u


def parse_head(head: bytes) -> tuple[int, dict[str, str], str]:
    """A response's status line and headers (up to the blank line): the status code, the headers with
    lower-case names and the HTTP version ("1.0" or "1.1"); `Malformed` when the status line is not
    `HTTP/1.0 NNN ...` or `HTTP/1.1 NNN ...`."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.0", "HTTP/1.1") or not (parts[1].isdigit() and len(parts[1]) == 3):
        raise Malformed(f"status line {lines[0][:60]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    return int(parts[1]), headers, parts[0][5:]


MAX_SIZE_LINE = 4096  # a chunk's size line (with any extensions), and the trailer section


def _dechunk(buf: bytes | bytearray, at: int) -> tuple[bytes, int, bool]:
    """The data of every whole chunk in `buf` from `at`, joined: (data, where the next chunk starts, whether
    the last chunk and the trailer section were read). `Malformed` when the framing is not HTTP/1.1's."""
    out = []
    while True:
        nl = buf.find(b"\r\n", at)
        if nl < 0:
            if len(buf) - at > MAX_SIZE_LINE:
                raise Malformed(f"a chunk size line over {MAX_SIZE_LINE} bytes: {bytes(buf[at:at + 40])!r}")
            break
        ext = buf.find(b";", at, nl)
        line = buf[at:nl if ext < 0 else ext].strip()
        if not line or line.strip(b"0123456789abcdefABCDEF"):
            raise Malformed(f"a chunk size that is not hexadecimal: {bytes(buf[at:nl][:40])!r}")
        size = int(line, 16)
        if not size:  # the last chunk: then trailer fields, if any, up to an empty line
            end = buf.find(b"\r\n\r\n", nl)
            if end < 0:
                if len(buf) - nl > MAX_SIZE_LINE:
                    raise Malformed(f"a trailer section over {MAX_SIZE_LINE} bytes")
                break
            return b"".join(out), end + 4, True
        end = nl + 2 + size
        if len(buf) < end + 2:
            break
        if buf[end:end + 2] != b"\r\n":
            raise Malformed(f"a chunk that does not end where its size says: {bytes(buf[end:end + 10])!r}")
        out.append(bytes(buf[nl + 2:end]))
        at = end + 2
    return out[0] if len(out) == 1 else b"".join(out), at, False
