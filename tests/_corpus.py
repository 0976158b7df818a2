"""The conformance corpus: the real chat templates llama.cpp collects (`models/templates/*.jinja`) and its
tokenizer vocabularies, taken from llama-cpp-python's pinned source distribution through pip (downloaded
once into ~/.cache/thinkgate, never copied into this repository), and the checks each template must pass
for its family. Used by tests/test_formats_corpus.py and benchmarks/formats_conformance.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"

# What each template is, by reading it: the family thinkgate must detect, "none" for a template without a
# thinking mode, or "unsupported:" for reasoning markup no family describes (refused with an error naming
# what was found; such a template counts as reasoning-capable and not passed). Today every template has
# a family.
EXPECTED: dict[str, str] = {
    **dict.fromkeys([
        "Bielik-11B-v3.0-Instruct", "GLM-4.6", "GLM-4.7-Flash", "HuggingFaceTB-SmolLM3-3B",
        "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "Qwen-QwQ-32B", "Qwen-Qwen3-0.6B", "Qwen3.5-4B", "Reka-Edge",
        "Spark2.5", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai-DeepSeek-V3.1",
        "deepseek-ai-DeepSeek-V3.2", "deepseek-ai-DeepSeek-V4-Flash-0731", "deepseek-ai-DeepSeek-V4",
        "inclusionai-ling-3.0-flash", "llama-cpp-rwkv-world", "openbmb-MiniCPM5-1B", "poolside-Laguna-S-2.1",
        "poolside-Laguna-XS-2.1", "poolside-Laguna-XS.2"], "qwen3"),
    **dict.fromkeys([
        "Kimi-K2-Thinking", "LFM2.5-8B-A1B", "MiniMax-M2", "NVIDIA-Nemotron-Nano-v2", "StepFun3.5-Flash",
        "deepseek-ai-DeepSeek-R1-Distill-Llama-8B", "llama-cpp-deepseek-r1"], "deepseek_r1"),
    "openai-gpt-oss-120b": "gpt_oss", "ByteDance-Seed-OSS": "seed_oss",
    "mistralai-Ministral-3-14B-Reasoning-2512": "magistral", "Cohere2MoE": "cohere",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": "cohere", "tencent-Hy3": "hunyuan",
    "Apertus-8B-Instruct": "apertus", "Apriel-1.6-15b-Thinker-fixed": "apriel", "unsloth-Apriel-1.5": "apriel",
    "Kimi-K3": "kimi_k3", "MiniMax-M3": "minimax_m3", "google-gemma-4-31B-it-interleaved": "gemma4",
    "google-gemma-4-31B-it": "gemma4", "ibm-granite-granite-3.3-2B-Instruct": "granite",
    "upstage-Solar-Open-100B": "solar_open",
    **dict.fromkeys([
        "CohereForAI-c4ai-command-r-plus-tool_use", "GigaChat3-10B-A1.8B", "GigaChat3.1-10B-A1.8B",
        "Kimi-K2-Instruct", "LFM2-8B-A1B", "LFM2.5-Instruct", "MiMo-VL", "MiniMax-M1",
        "Mistral-Small-3.2-24B-Instruct-2506", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
        "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "Qwen-Qwen2.5-7B-Instruct", "Qwen3-Coder",
        "fireworks-ai-llama-3-firefunction-v2", "google-gemma-2-2b-it", "ibm-granite-granite-4.0",
        "ibm-granite-granite-4.1", "meetkai-functionary-medium-v3.1", "meetkai-functionary-medium-v3.2",
        "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct", "meta-llama-Llama-3.3-70B-Instruct",
        "microsoft-Phi-3.5-mini-instruct", "mistralai-Mistral-Nemo-Instruct-2407", "moonshotai-Kimi-K2",
        "unsloth-mistral-Devstral-Small-2507"], "none"),
    "muse-glimmer": "muse",
}


def corpus_dir() -> Path:
    """The folder holding `templates/*.jinja` and `vocab/ggml-vocab-*.gguf` of the pinned release; fetched
    through pip the first time (a minute or two: pip prepares the source distribution's metadata)."""
    root = Path(os.environ.get("THINKGATE_CACHE", Path.home() / ".cache" / "thinkgate")) / f"llama-cpp-python-{VERSION}"
    if (root / "templates").is_dir() and any((root / "templates").glob("*.jinja")):
        return root
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={VERSION}", "-d", tmp], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        part = root.with_name(root.name + ".part")
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                path = Path(member.name)
                if "/models/templates/" in member.name and path.suffix == ".jinja":
                    where = part / "templates" / path.name
                elif "/models/" in member.name and path.name.startswith("ggml-vocab-") and path.suffix == ".gguf":
                    where = part / "vocab" / path.name
                else:
                    continue
                where.parent.mkdir(parents=True, exist_ok=True)
                where.write_bytes(tar.extractfile(member).read())
        part.rename(root)
    return root


def templates() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted((corpus_dir() / "templates").glob("*.jinja"))}


class _WithTemplate:
    """`base` (a tokenizer) rendering with another chat template, as a model folder carrying that template
    would; the special tokens templates expect stand in where the vocabulary has none."""

    def __init__(self, base, template: str):
        self._base, self.chat_template = base, template
        self._specials = {"bos_token": base.bos_token or "<s>", "eos_token": base.eos_token or "</s>"}

    def apply_chat_template(self, conversation, **kw):
        return self._base.apply_chat_template(conversation, chat_template=self.chat_template, **{**self._specials, **kw})

    def __getattr__(self, name):
        return getattr(self._base, name)


def tokenizer_with(template: str, base):
    """`base` carrying `template` (without copying the tokenizer, which takes a second for a large vocabulary)."""
    return _WithTemplate(base, template)


def check(name: str, template: str, base_tokenizer) -> dict[str, bool | str]:
    """Every check that applies to the template's family: detection; render think / nothink / auto; split a
    complete, a truncated and a streamed output written in the family's markup; a multi-turn render with
    an earlier turn's reasoning. Returns {check: passed} plus "family" (what was detected)."""
    from thinkgate.formats import FormatError, detect_format, get_format
    from thinkgate.streaming import Splitter
    from thinkgate.types import Message

    expected = EXPECTED.get(name, "?")
    tok = tokenizer_with(template, base_tokenizer)
    out: dict[str, bool | str] = {}
    try:
        family = detect_format(tok)
    except FormatError as e:
        out["family"] = "unsupported"
        out["detected"] = expected == "unsupported:" and "no family describes" in str(e)
        return out
    out["family"] = family
    out["detected"] = family == expected
    fmt = get_format(family, tok)
    q = [Message(role="user", content="What is 2+2?")]
    if not fmt.has_thinking:
        try:
            prompts = {m: fmt.render(q, m) for m in ("think", "nothink", "auto")}
        except Exception:  # noqa: BLE001 - some templates cannot render a plain chat (tools required)
            prompts = None
        out["render"] = prompts is None or len(set(prompts.values())) == 1
        out["split"] = fmt.split("<think>x</think> 42") == ("", "<think>x</think> 42", True)
        return out
    think_part = fmt.assistant_part(fmt.render(q, "think"))
    nothink_part = fmt.assistant_part(fmt.render(q, "nothink"))
    if think_part is None:  # the assistant header was not found in the prompt: nothing else can be checked
        return {**out, **dict.fromkeys(["render_think", "render_nothink", "render_auto", "split_complete",
                                        "split_truncated", "split_streamed", "multi_turn"], False)}
    out["render_think"] = think_part == fmt.prefills[0] and (fmt.open_tag in think_part) == fmt.opens_thought
    # no thought of the model's own: any reasoning is what the template wrote (Seed-OSS's budget reflection)
    out["render_nothink"] = nothink_part is not None and fmt.split(nothink_part + "42") == (
        fmt.split(nothink_part)[0] if fmt.close_tag in nothink_part else "", "42", True)
    if fmt.supports_auto:
        auto_part = fmt.assistant_part(fmt.render(q, "auto"))
        out["render_auto"] = auto_part is not None and fmt.open_tag not in auto_part
    else:
        try:
            fmt.check_mode("auto", "auto")
            out["render_auto"] = False
        except FormatError:
            out["render_auto"] = True
    opening = "" if fmt.opens_thought else fmt.open_tag + "\n"
    complete = think_part + opening + "step one\n" + fmt.close_tag + "\n\nthe answer"
    out["split_complete"] = fmt.split(complete) == ("step one", "the answer", True)
    out["split_truncated"] = fmt.split(think_part + opening + "step one") == ("step one", "", False)
    splitter, got = Splitter(fmt), {"reasoning": "", "content": ""}
    for k in range(0, len(complete), 3):
        for kind, text in splitter.feed(complete[k:k + 3]):
            got[kind] += text
    out["split_streamed"] = got == {"reasoning": "step one", "content": "the answer"}  # before any reconciling
    turns = [Message(role="user", content="What is 2+2?"),
             Message(role="assistant", content="4", reasoning_content="two and two"),
             Message(role="user", content="And 3+3?")]
    try:
        multi = fmt.render(turns, "think")
        out["multi_turn"] = "And 3+3?" in multi and fmt.assistant_part(multi) == fmt.prefills[0]
    except Exception:  # noqa: BLE001 - a template that fails on the family's own history format
        out["multi_turn"] = False
    return out


# ---- end to end: a random-init two-layer model with the template and a matching vocabulary ------------------

# the vocabulary each template's model family uses, where llama.cpp ships one (its GGUF vocabularies, converted
# by transformers' GGUF reader once and cached); templates of families whose vocabulary is not shipped use
# GPT-2's, which writes their markup as ordinary text
VOCAB_OF: dict[str, str] = {
    **dict.fromkeys(["Qwen-QwQ-32B", "Qwen-Qwen3-0.6B", "Qwen3.5-4B", "Qwen-Qwen2.5-7B-Instruct", "Qwen3-Coder",
                     "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "MiMo-VL"], "qwen2"),
    **dict.fromkeys(["meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct",
                     "meta-llama-Llama-3.3-70B-Instruct", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B",
                     "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
                     "fireworks-ai-llama-3-firefunction-v2", "meetkai-functionary-medium-v3.1",
                     "meetkai-functionary-medium-v3.2"], "llama-bpe"),
    **dict.fromkeys(["mistralai-Mistral-Nemo-Instruct-2407", "Mistral-Small-3.2-24B-Instruct-2506",
                     "unsloth-mistral-Devstral-Small-2507", "mistralai-Ministral-3-14B-Reasoning-2512",
                     "Bielik-11B-v3.0-Instruct"], "llama-spm"),
    "microsoft-Phi-3.5-mini-instruct": "phi-3",
    **dict.fromkeys(["deepseek-ai-DeepSeek-V3.1", "deepseek-ai-DeepSeek-V3.2", "deepseek-ai-DeepSeek-V4",
                     "deepseek-ai-DeepSeek-V4-Flash-0731", "llama-cpp-deepseek-r1"], "deepseek-llm"),
}


def vocab_for(name: str) -> str:
    return VOCAB_OF.get(name, "gpt-2")


def model_folder(vocab: str) -> Path:
    """A random-init two-layer Qwen3-architecture model with `vocab`'s tokenizer, built once and cached."""
    root = corpus_dir()
    folder = root / f"model-{vocab}"
    if (folder / "model.safetensors").exists():
        return folder
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(str(root / "vocab"), gguf_file=f"ggml-vocab-{vocab}.gguf")
    tok.chat_template = None
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    part = folder.with_name(folder.name + ".part")
    Qwen3ForCausalLM(config).save_pretrained(str(part))
    tok.save_pretrained(str(part))
    part.rename(folder)
    return folder


_BACKENDS: dict = {}


def backend_for(vocab: str):
    """The vocabulary's random-init model, loaded once per process (templates that share a vocabulary share
    the model; each gets its own family from its own template)."""
    from thinkgate.backends.hf import HFBackend

    if vocab not in _BACKENDS:
        _BACKENDS[vocab] = HFBackend(model_folder(vocab), batch_size=1)
    return _BACKENDS[vocab]


def end_to_end(name: str, template: str) -> dict[str, bool]:
    """`ask` in each mode and `budget:max=8` on the vocabulary's model with the template, through the library
    call every face
    makes, streamed and not: each runs (or is refused with a clear error where the family cannot serve it),
    the stream adds up to the result, and a budget closes the thought with the family's own markup."""
    from thinkgate.backends.base import MissingCapability
    from thinkgate.formats import FormatError, get_format
    from thinkgate.gate import Gate
    from thinkgate.types import Request, Sampling

    backend = backend_for(vocab_for(name))
    family = get_format(None, tokenizer_with(template, backend.tokenizer))  # the template on the model's vocabulary
    out: dict[str, bool] = {}
    request = lambda mode, n=8: Request.of("What is 2+2?", mode=mode, sampling=Sampling(max_tokens=n))  # noqa: E731
    for mode in ("think", "nothink", "auto"):
        gate = Gate(backend, "think", family)
        streamed = {"reasoning": "", "content": ""}
        for kind, payload in gate.stream(request(mode)):  # the deltas, then the result `run` gives
            if kind in streamed:
                streamed[kind] += payload
        if kind == "error":
            e = payload  # refused clearly: a mode the family cannot serve, or a template that needs more
            out[f"e2e_{mode}"] = isinstance(e, FormatError) and (
                (mode == "auto" and not gate.format.supports_auto) or "could not render" in str(e))
            continue
        result = payload
        out[f"e2e_{mode}"] = (kind == "done" and streamed == {"reasoning": result.reasoning, "content": result.answer}
                              and result.thinking_mode == gate.format.has_thinking
                              and (mode != "nothink" or result.usage.reasoning_tokens == 0))
    gate = Gate(backend, "budget:max=8", family)
    try:
        result = gate.run(request("think", 16))  # room past the budget, for its stop to be written
        stops = [e.detail["inject"] for e in result.trace if e.kind == "budget_stop"]
        out["e2e_budget"] = result.usage.reasoning_tokens <= 8 and all(s.endswith(gate.format.close_tag) for s in stops)
    except MissingCapability:
        out["e2e_budget"] = not gate.format.has_thinking
    except FormatError as e:
        out["e2e_budget"] = "could not render" in str(e)
    return out
