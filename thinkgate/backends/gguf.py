"""GGUF model files as model folders: a `.gguf` file (llama.cpp's format, how most quantized models are
shared) is converted once into a transformers folder — its config, its weights dequantized to bfloat16 in
safetensors, its tokenizer and chat template — by transformers' own GGUF reader, and cached, so `--model
file.gguf` works in every face and loads in seconds after the first time.

Converting takes transformers' GGUF loader, which needs the `gguf` package: 17 s for the tokenizer and 5 s
to dequantize the weights of SmolLM2-135M here, and about 50 s in all on this project's 2-core machine,
every time; the cached folder loads in about a second. transformers will not save a model it loaded from
GGUF (`save_pretrained` refuses quantized weights it cannot serialize), so the dequantized tensors are
written with safetensors directly. bfloat16 halves the folder against float32 and loses nothing a 4- to
8-bit quantized weight carries.

The cache is `$XDG_CACHE_HOME/thinkgate/gguf` (default `~/.cache/thinkgate/gguf`), one folder per file,
named by the file's name, size and modification time, so a changed file is converted again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .base import ModelLoadError

GGUF_MAGIC = b"GGUF"


def is_gguf(path: str | Path) -> bool:
    """A file (not a folder) whose name ends in .gguf."""
    p = Path(path)
    return p.suffix.lower() == ".gguf" and not p.is_dir()


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thinkgate" / "gguf"


def check_gguf(path: Path) -> None:
    """Fail early, naming the file and what is wrong with it."""
    if not path.exists():
        raise ModelLoadError(f"GGUF file {path} does not exist")
    if not path.is_file():
        raise ModelLoadError(f"GGUF path {path} is not a file")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelLoadError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")


def folder_for(path: str | Path, progress=None, weights: bool = True) -> Path:
    """The converted, cached model folder of a GGUF file (converted now if it is not cached yet); without
    `weights`, a folder of its tokenizer and chat template only (what the llama.cpp backend needs beside the
    file itself). `progress`: called with a line of text before a conversion starts."""
    path = Path(path).expanduser().resolve()
    check_gguf(path)
    st = path.stat()
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    full = cache_root() / f"{path.stem}-{key}"
    if (full / "model.safetensors").exists():
        return full  # (it holds the tokenizer too)
    out = full if weights else full.with_name(full.name + "-tokenizer")
    if not weights and (out / "tokenizer_config.json").exists():
        return out
    if progress is not None:
        progress(f"converting {path.name} to a {'model' if weights else 'tokenizer'} folder (once; cached in {out})")
    convert(path, out, weights)
    return out


def convert(path: Path, out: Path, weights: bool = True) -> None:
    """Write the model folder of a GGUF file at `out` (atomically: a half-written folder is never used);
    without `weights`, its tokenizer and chat template only."""
    import importlib.util

    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:  # transformers' GGUF reader needs both
        raise ModelLoadError(f"reading the GGUF file {path} needs the {' and '.join(missing)} package"
                             f"{'s' if len(missing) > 1 else ''}: pip install 'thinkgate[gguf]'")
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    tmp = out.with_name(out.name + f".part{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its progress bars and notices are not the user's business here
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        tokenizer.save_pretrained(tmp)
        if weights:
            _write_weights(path, tmp)
    except Exception as e:  # noqa: BLE001 - transformers raises many types; name the file and the cause
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelLoadError(f"GGUF file {path} could not be converted: {type(e).__name__}: {e}") from e
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    _publish(tmp, out)


def _write_weights(path: Path, tmp: Path) -> None:
    """The model's config and its weights, dequantized to bfloat16, into `tmp`."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.bfloat16)
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights written below are plain tensors
    config.dtype = torch.bfloat16
    config.save_pretrained(tmp)
    model.generation_config.save_pretrained(tmp)
    # tied weights are one tensor under two names: safetensors keeps the first of each storage
    state, seen = {}, set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        state[name] = tensor.detach().to(torch.bfloat16).contiguous()
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt", "source": path.name})


def _publish(tmp: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
