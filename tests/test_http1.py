"""The upstream's own HTTP/1.1 client (`backends/http1.py`) and the one reader of engines' answers
(`backends/wire.py`), each against a real socket on loopback that sends exactly the bytes a case needs:
the framings a server may choose, kept-alive connections, timeouts, and what is not HTTP."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from thinkgate.backends.http1 import Http1
from thinkgate.backends.wire import http_error, sse_chunks
from thinkgate.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable


class Canned:
    """A loopback server that answers each request on a connection with the next of `replies` (bytes, or a
    list of (delay, bytes) written in turn); it counts connections and reads each request whole."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/base"
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _serve(self, reader, writer):
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(x.split(b":")[1] for x in head.split(b"\r\n") if x.lower().startswith(b"content-length")))
                self.requests.append(head + await reader.readexactly(length))
                reply = self.replies.pop(0)
                for delay, data in (reply if isinstance(reply, list) else [(0, reply)]):
                    await asyncio.sleep(delay)
                    writer.write(data)
                    await writer.drain()
                if reply is CLOSE or (isinstance(reply, bytes) and b"content-length" not in reply.lower()
                                      and b"chunked" not in reply.lower()):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"by\": \"close\"}"


async def _post(http: Http1, path: str = "/v1/x", body: dict | None = None) -> tuple[int, bytes]:
    async with http.post(path, body or {"a": 1}) as resp:
        return resp.status, await resp.read()


def run(coro):
    return asyncio.run(coro)


def test_each_framing_is_read_and_a_kept_alive_connection_reused():
    async def case():
        length = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"n": "cl"}'
        chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"4;ext=1\r\n{\"n\"\r\n9\r\n: \"chunk\"\r\n1\r\n}\r\n0\r\n\r\n")
        async with Canned([length, chunked, CLOSE]) as srv:
            http = Http1(srv.url, "k3y", 5.0)
            assert await _post(http) == (200, b'{"n": "cl"}')
            assert await _post(http) == (200, b'{"n": "chunk"}')
            assert srv.connections == 1  # both on the kept-alive connection
            assert await _post(http) == (200, b'{"by": "close"}')  # up to the close: not kept
            assert http.idle == []
            first = srv.requests[0]
            assert first.startswith(b"POST /base/v1/x HTTP/1.1\r\n") and b"Authorization: Bearer k3y\r\n" in first
            assert first.endswith(b'{"a":1}')
            await asyncio.sleep(1.1)
            assert http._watchdog is None  # no body open: the watchdog has ended, no task is left pending
            http.close()

    run(case())


def test_chunks_that_arrive_together_come_out_as_one_piece():
    """A chunked body is handed on a socket read at a time: the chunks an engine wrote at once are one piece
    (a stream's burst is relayed in one write), chunks written apart are separate pieces, a chunk split
    across writes comes out with what completed it, and trailer fields are read past."""
    async def case():
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        burst = head + b"3\r\nabc\r\n2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
        apart = [(0, head + b"3\r\nabc\r\n"), (0.05, b"2\r\nd"), (0.05, b"e\r\n1\r\nf\r\n"),
                 (0.05, b"0\r\nX-Trailer: 1\r\n\r\n")]
        async with Canned([burst, apart]) as srv:
            http = Http1(srv.url, None, 5.0)
            for expected in ([b"abcdef"], [b"abc", b"def"]):
                async with http.post("/v1/x", {}) as resp:
                    assert [p async for p in resp.chunks()] == expected
            assert srv.connections == 1  # the trailer was read to its end: the connection is kept
            http.close()

    run(case())


@pytest.mark.parametrize("body, says", [
    (b"3\r\nabcXY0\r\n\r\n", "does not end where its size says"),
    (b"-3\r\nabc\r\n", "chunk size"),
    (b"0x3\r\nabc\r\n", "chunk size"),
    (b"1" * 5000, "size line over"),
])
def test_a_chunked_body_out_of_frame_is_a_clear_upstream_error(body, says):
    async def case():
        async with Canned([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body]) as srv:
            with pytest.raises(UpstreamError, match=f"malformed HTTP response.*{says}"):
                await _post(Http1(srv.url, None, 5.0))

    run(case())


def test_a_kept_alive_connection_the_engine_closed_is_replaced():
    async def case():
        ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
        async with Canned([ok]) as srv:  # one reply per connection, then it closes
            http = Http1(srv.url, None, 5.0)
            assert await _post(http) == (200, b"{}")
            srv.replies.append(ok)
            await asyncio.sleep(0.05)
            assert await _post(http) == (200, b"{}")
            assert srv.connections == 2
            http.close()

    run(case())


@pytest.mark.parametrize("reply, says", [
    (b"SPDY/9 200 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
])
def test_what_is_not_http_is_a_clear_upstream_error(reply, says):
    async def case():
        async with Canned([reply]) as srv:
            with pytest.raises(UpstreamError, match=f"malformed HTTP response.*{says}"):
                await _post(Http1(srv.url, None, 5.0))

    run(case())


def test_a_body_cut_short_an_engine_silent_too_long_and_one_past_the_deadline():
    async def case():
        cut = [(0, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\""), (0.1, CLOSE)]
        async with Canned([cut]) as srv:
            with pytest.raises(UpstreamUnreachable, match="broke the connection"):
                await _post(Http1(srv.url, None, 5.0))
        silent = [(0, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"), (3, b"}")]
        async with Canned([silent]) as srv:
            with pytest.raises(UpstreamTimeout, match="stopped answering"):
                await _post(Http1(srv.url, None, 30.0, idle_timeout=0.4))
        trickle = [(0, b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")] + [(0.1, b"x")] * 40
        async with Canned([trickle]) as srv:
            with pytest.raises(UpstreamTimeout, match="did not finish within 1 s"):
                await _post(Http1(srv.url, None, 1.0, idle_timeout=0.5))
        async with Canned([[(3, b"HTTP/1.1 200 OK\r\n\r\n")]]) as srv:
            with pytest.raises(UpstreamTimeout, match="did not answer in time"):
                await _post(Http1(srv.url, None, 0.5))

    run(case())


def test_an_engine_that_is_not_there_is_unreachable_and_a_bad_url_is_named():
    async def case():
        with pytest.raises(UpstreamUnreachable, match="unreachable"):
            await _post(Http1("http://127.0.0.1:1", None, 2.0))

    run(case())
    with pytest.raises(ValueError, match="'ftp://x' is not http"):
        Http1("ftp://x", None, 1.0)


def _pieces(*parts: bytes):
    async def gen():
        for p in parts:
            yield p
    return gen()


async def _all(agen) -> list:
    return [x async for x in agen]


def test_the_sse_reader_takes_lines_split_anywhere_and_stops_at_done():
    body = b': keep-alive\n\nevent: x\ndata: {"i": 1}\n\ndata:{"i": 2}\r\n\r\ndata: [DONE]\n\ndata: {"i": 3}\n\n'
    for cut in range(1, len(body)):
        got = run(_all(sse_chunks(_pieces(body[:cut], body[cut:]))))
        assert got == [{"i": 1}, {"i": 2}], cut
    # a body that ends without [DONE] is whole when a choice finished in it (its last line may lack a newline)
    done = b'data: {"i": 2, "choices": [{"finish_reason": "stop"}]}'
    assert run(_all(sse_chunks(_pieces(b'data: {"i": 1}\n\n' + done)))) == [{"i": 1}, orjson.loads(done[6:])]
    with pytest.raises(UpstreamError, match="ended before the answer did"):  # else it was cut off
        run(_all(sse_chunks(_pieces(b'data: {"i": 1}\n\ndata: {"i": 2}'))))


@pytest.mark.parametrize("line, says", [
    (b'data: {"error": {"message": "out of memory"}}\n', "upstream stream error: out of memory"),
    (b'data: {"error": "boom"}\n', "upstream stream error: boom"),
    (b"data: {not json\n", "not JSON"),
    (b"data: [1, 2]\n", "not a JSON object"),
])
def test_a_stream_that_fails_after_its_200_raises_what_the_engine_said(line, says):
    with pytest.raises(UpstreamError, match=says):
        run(_all(sse_chunks(_pieces(b'data: {"i": 1}\n', line))))


def test_an_error_answer_carries_the_engines_status_and_message():
    e = http_error("u", 400, b'{"error": {"message": "prompt too long", "type": "invalid_request_error"}}')
    assert e.upstream_status == 400 and str(e) == "upstream answered 400: prompt too long"
    assert str(http_error("u", 500, b'{"error": "boom"}')) == "upstream answered 500: boom"
    assert str(http_error("u", 404, b'{"detail": "Not Found"}')) == 'upstream answered 404: {"detail": "Not Found"}'
    assert str(http_error("u", 502, b"<html>bad gateway</html>")) == "upstream answered 502: <html>bad gateway</html>"


# an engine that dies mid-answer the way a native build on the wrong CPU does: an illegal instruction
_DYING_ENGINE = """
import os, signal, socket, sys
srv = socket.create_server(("127.0.0.1", 0))
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.recv(65536)
conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n{")
os.kill(os.getpid(), signal.SIGILL)
"""


def test_an_engine_that_dies_mid_answer_is_named_as_stopped_not_as_a_closed_connection():
    """The connection breaks and the client looks once more: nothing listens there now, so the error says
    the engine's process stopped; the process was killed by SIGILL, which the tests' process helper names."""
    import subprocess
    import sys

    from _serving import exit_words

    proc = subprocess.Popen([sys.executable, "-c", _DYING_ENGINE], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    with pytest.raises(UpstreamUnreachable, match="now refuses connections.*process has stopped"):
        run(_post(Http1(f"http://127.0.0.1:{port}", None, 10.0)))
    assert exit_words(proc.wait(20)) == "killed by SIGILL (Illegal instruction)"


def test_an_engine_that_drops_connections_is_told_from_one_that_dropped_one_request():
    async def case():
        seen = []

        async def drop(reader, writer):  # every connection closed at once, unanswered
            writer.close()

        async def drop_first(reader, writer):  # the first request cut mid-body; later ones answered
            seen.append(1)
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{" if len(seen) == 1
                         else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()

        for handler, says in ((drop, "drops every new connection without answering"),
                              (drop_first, "but answers new requests: it dropped this one")):
            server = await asyncio.start_server(handler, "127.0.0.1", 0)
            url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            with pytest.raises(UpstreamUnreachable, match=says):
                await _post(Http1(url, None, 5.0))
            server.close()

    run(case())


def test_room_cuts_an_engine_at_max_tokens_and_never_reads_past_what_fits(tokenizer):
    """`wire.Room`: short pieces are a token each; a long one is counted by the tokenizer, cut at its tokens'
    offsets (the text itself, nothing decoded again); once the room is gone nothing more is tokenized, and of
    a long piece only what can fit is (a 10 MB piece costs what its first few hundred characters do)."""
    import time

    from thinkgate.backends.wire import RECOUNT_SLACK, Room

    room = Room(2, tokenizer)
    assert [room.take(p) for p in ("a", "b", "c")] == [("a", False), ("b", False), ("", True)]
    started = time.perf_counter()
    assert room.take("x" * 10_000_000) == ("", True)  # the room is gone: not tokenized at all
    room = Room(8, tokenizer)
    part, over = room.take("é" * 5000)
    assert over and 0 < len(part) < 5000 and part == "é" * len(part)  # whole characters, a prefix
    assert len(tokenizer(part, add_special_tokens=False)["input_ids"]) <= 8 + RECOUNT_SLACK
    assert room.take("x" * 10_000_000) == ("", True)
    assert time.perf_counter() - started < 1.0
    fits = " the answer is 13 and that is all"  # a long piece within the room is passed whole
    assert Room(100, tokenizer).take(fits) == (fits, False)
    assert Room(3, None).take("y" * 5000) == ("y" * 3072, True)  # without a tokenizer: 1,024 bytes a token
