"""Whether the installed llama.cpp build runs on this machine, checked once in a child process.

A llama.cpp library built with native flags uses every instruction the building CPU advertises. Run on a
CPU without one of them — a build cached from another machine, or a host that advertises AMX without
granting the process its tile state — the first evaluation dies of an illegal instruction, and in-process
that takes the caller's whole process down with nothing but "Illegal instruction". So before the llama.cpp
backend loads a model it evaluates a few tokens of that model in a child process; a child killed by a
signal is a build that cannot run here, and the backend refuses with a message that names the signal and
says how to rebuild. The verdict is cached per build and machine (the library files' sizes and times, the
package version, the CPU's flags), so the check costs one child process (about a second for a small model)
the first time only; a load error in the child (a bad file) is left to the in-process load to report.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import ModelLoadError

# evaluated by the child: a prompt of several tokens (the batched matrix kernels) and one more token
_CHILD = """
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_batch=32, n_threads=int(sys.argv[2]), verbose=False)
ids = llm.tokenize(b"The quick brown fox jumps over the lazy dog, twice.", add_bos=False)
llm.eval(ids[:24])
llm.eval([ids[0]])
print("evaluated", len(ids[:24]) + 1)
"""


def rebuild_hint(version: str) -> str:
    return (f'rebuild it portably: CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --force-reinstall --no-cache-dir '
            f"--no-deps llama-cpp-python=={version} (docs/engines/llamacpp.md); or use --backend hf")


def build_key(llama_cpp_module) -> str:
    """The installed build and this machine: the package's version, its native libraries' sizes and times,
    and the CPU's flags (a home directory shared between machines keeps one verdict per CPU)."""
    lib = Path(llama_cpp_module.__file__).parent / "lib"
    files = sorted(p for p in lib.glob("*") if p.is_file()) if lib.is_dir() else []
    parts = [getattr(llama_cpp_module, "__version__", "?"), platform.machine()]
    parts += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    parts.append(_cpu_flags())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def cache_file(key: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thinkgate" / "llamacpp-check"
    return root / f"{key}.json"


def check_build(model: Path, llama_cpp_module, timeout: float = 600.0, cache: Path | None = None,
                child_code: str = _CHILD) -> None:
    """Raise `ModelLoadError` when the installed llama.cpp build dies evaluating `model` in a child process;
    return when it evaluated, or when the child failed otherwise (the in-process load reports that).
    `cache`: the verdict's file (default: per build, under ~/.cache/thinkgate); `child_code`: what the
    child runs, with the model's path and a thread count as its arguments."""
    key = build_key(llama_cpp_module)
    cached = cache or cache_file(key)
    version = getattr(llama_cpp_module, "__version__", "?")
    try:
        verdict = json.loads(cached.read_text())
    except (OSError, ValueError):
        verdict = None
    if not isinstance(verdict, dict) or "ok" not in verdict:
        try:
            child = subprocess.run([sys.executable, "-c", child_code, str(model), "1"], capture_output=True, text=True,
                                   timeout=timeout)
        except subprocess.TimeoutExpired:
            return  # slow, not dead: the in-process load goes on
        if child.returncode >= 0:
            if child.returncode != 0:
                return  # a load error (a bad file, too little memory): not the build's verdict
            verdict = {"ok": True}
        else:
            verdict = {"ok": False, "signal": signal_words(-child.returncode),
                       "stderr": child.stderr.strip()[-300:]}
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(verdict))
        except OSError:
            pass  # a read-only home: checked again next time
    if not verdict["ok"]:
        lib = Path(llama_cpp_module.__file__).parent / "lib"
        raise ModelLoadError(f"the installed llama.cpp build ({lib}) cannot run on this machine: evaluating a token "
                             f"killed a test process with {verdict['signal']}, so it was built for instructions this "
                             f"CPU does not run (a native build made on another machine, or AMX that this system "
                             f"does not grant); {rebuild_hint(version)}")


def signal_words(number: int) -> str:
    """A signal's number in words: `SIGILL (Illegal instruction)`."""
    try:
        sig = signal.Signals(number)
        return f"{sig.name} ({signal.strsignal(sig)})"
    except ValueError:
        return f"signal {number}"
