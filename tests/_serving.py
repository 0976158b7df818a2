"""Real servers on loopback for the server tests: `thinkgate serve` subprocesses, and uvicorn in a thread."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A subprocess serving HTTP on a free port; `wait()` blocks until /health (or `probe`) answers."""

    def __init__(self, argv: list[str], probe: str = "/health"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.probe = probe
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([a.replace("{port}", str(self.port)) for a in argv], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 90) -> "Process":
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.ended()}: {self.log_tail()}")
            try:
                httpx.get(self.url + self.probe, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start: {Path(self.log.name).read_text()[-3000:]}")

    def ended(self) -> str | None:
        """None while the process runs; else how it ended, in words: the signal that killed it (a crash: an
        illegal instruction, a segmentation fault) or its exit status."""
        code = self.proc.poll()
        return None if code is None else exit_words(code)

    def log_tail(self, chars: int = 3000) -> str:
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def exit_words(code: int) -> str:
    """A process's return code in words: `killed by SIGILL (Illegal instruction)` or `exited with status 1`."""
    from thinkgate.backends.llamacpp_check import signal_words

    return f"killed by {signal_words(-code)}" if code < 0 else f"exited with status {code}"


def serve(*args: str) -> Process:
    return Process([sys.executable, "-m", "thinkgate", "serve", "--port", "{port}", "--log-level", "warning", *args])


def fake_engine(*args: str) -> Process:
    return Process([sys.executable, str(ROOT / "benchmarks" / "fake_engine.py"), "--port", "{port}", *args],
                   probe="/v1/models")


class InThread:
    """An ASGI app served by uvicorn in a thread of the test process."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def metric(url: str, name: str) -> float:
    """The sum of a Prometheus metric's samples named exactly `name` (any labels)."""
    total = 0.0
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def check_inline(url: str, question: str, answer: str, max_tokens: int) -> str:
    """A server started with --reasoning-format inline: the thought arrives in `content` between <think>
    tags, streamed and not, and no reasoning field is set. Returns the content."""
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    msgs = [{"role": "user", "content": question}]
    r = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=max_tokens)
    text = r.choices[0].message.content
    assert text.startswith("<think>\n") and text.endswith(f"</think>\n\n{answer}"), text
    assert not (r.choices[0].message.model_extra or {}).get("reasoning_content")
    parts = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=max_tokens, stream=True))
    streamed = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert streamed.startswith("<think>\n") and streamed.endswith(f"</think>\n\n{answer}"), streamed
    assert not any((p.choices[0].delta.model_extra or {}).get("reasoning_content") for p in parts if p.choices)
    return streamed
