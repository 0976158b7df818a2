"""A real GGUF model from PyPI (SmolLM2-135M-Instruct, a model without a thinking mode, Q4_1): `--model
file.gguf` is converted once into a cached model folder and then serves every face; the model is said to
have no thinking mode, answers every mode plainly, never twice, and refuses what needs a thought."""

import json
import time

import httpx
import pytest
from _models import smollm2
from _serving import InThread
from typer.testing import CliRunner

from thinkgate.backends.base import ModelLoadError
from thinkgate.backends.gguf import folder_for
from thinkgate.cli import app as cli

runner = CliRunner()


@pytest.fixture(scope="module")
def gguf():
    path = smollm2()
    folder_for(path)  # the first conversion (about a minute here), outside the timed checks below
    return path


def test_a_gguf_file_is_converted_once_and_a_bad_one_named(gguf, tmp_path):
    started = time.perf_counter()
    folder = folder_for(gguf)
    assert time.perf_counter() - started < 1.0, "the converted folder is cached"
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {p.name for p in folder.iterdir()}
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="does not exist"):
        folder_for(tmp_path / "absent.gguf")
    text = tmp_path / "text.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        folder_for(text)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(gguf.read_bytes()[:4096])  # the magic bytes, then nothing whole
    with pytest.raises(ModelLoadError, match="cut.gguf could not be converted"):
        folder_for(cut)
    assert not list((folder.parent).glob("cut-*"))  # nothing half-written is left to be used
    res = runner.invoke(cli, ["ask", "hi", "--model", str(text)])
    assert res.exit_code == 2 and "not a GGUF file" in res.output


@pytest.mark.parametrize("kind", ["hf", "llamacpp"])
def test_every_mode_is_answered_plainly_and_what_needs_a_thought_refused(gguf, kind):
    """Both backends: transformers on the converted folder, llama.cpp on the quantized file (whose greedy
    answer differs: Q4_1 weights tip the first token from "The" to "L")."""
    answers = set()
    for mode in ("think", "nothink", "auto"):
        res = runner.invoke(cli, ["ask", "What is the capital of France?", "--model", str(gguf), "--mode", mode,
                                  "--max-tokens", "16", "--json", "--backend", kind])
        assert res.exit_code == 0, res.output
        data = json.loads(res.output)
        assert data["thinking_mode"] is False and data["reasoning"] == "" and data["usage"]["reasoning_tokens"] == 0
        assert data["answer"] and data["usage"]["completion_tokens"] > 0
        answers.add(data["answer"])
    assert len(answers) == 1  # every mode renders the same prompt: the same greedy answer
    if kind == "hf":
        assert "Paris" in answers.pop()
    res = runner.invoke(cli, ["ask", "What is the capital of France?", "--model", str(gguf), "--max-tokens", "16",
                              "--backend", kind])
    assert "no thinking mode" in res.output
    if kind == "hf":
        return  # what a model without a thought refuses is the family's, whatever the backend: once is enough
    for extra in (["--budget", "32"], ["--min-budget", "8"], ["--strategy", "early_exit"]):
        res = runner.invoke(cli, ["ask", "hi", "--model", str(gguf), "--backend", kind, *extra])
        assert res.exit_code == 2 and "no thinking mode" in res.output, (extra, res.output)
    res = runner.invoke(cli, ["render", "hi", "--model", str(gguf), "--mode", "think"])
    assert res.exit_code == 0 and "family none" in res.output and "no thinking mode" in res.output


@pytest.mark.parametrize("kind", ["hf", "llamacpp"])
def test_the_server_streams_its_answer_once_as_content(gguf, kind):
    from thinkgate.roster import load_backend
    from thinkgate.server.app import create_app

    srv = InThread(create_app(load_backend(str(gguf), kind=kind), "smollm2", freeze_gc=False))
    try:
        body = {"model": "smollm2", "messages": [{"role": "user", "content": "What is the capital of France?"}],
                "max_tokens": 16}
        for thinking in ({"mode": "on"}, {"mode": "off"}, {"mode": "auto"}):
            r = httpx.post(srv.url + "/v1/chat/completions", json={**body, "thinking": thinking}, timeout=120)
            assert r.status_code == 200, r.text
            data = r.json()
            assert data["thinkgate"]["thinking_mode"] is False and data["choices"][0]["message"]["reasoning_content"] == ""
            answer = data["choices"][0]["message"]["content"]
            assert answer
            with httpx.stream("POST", srv.url + "/v1/chat/completions",
                              json={**body, "thinking": thinking, "stream": True}, timeout=120) as s:
                events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data: {")]
            deltas = [e["choices"][0]["delta"] for e in events if e.get("choices")]
            assert not any(d.get("reasoning_content") for d in deltas)
            assert "".join(d.get("content") or "" for d in deltas) == answer
        r = httpx.post(srv.url + "/v1/chat/completions", json={**body, "reasoning_effort": "low"}, timeout=120)
        assert r.status_code == 200 and r.json()["thinkgate"]["thinking_mode"] is False  # an effort: plainly
        r = httpx.post(srv.url + "/v1/chat/completions", json={**body, "thinking": {"budget": 16}}, timeout=120)
        assert r.status_code == 400 and r.json()["error"]["code"] == "missing_capability"
    finally:
        srv.stop()


def test_bench_runs_and_says_there_is_no_thinking_mode(gguf, tmp_path):
    out = tmp_path / "bench.json"
    res = runner.invoke(cli, ["bench", "--model", str(gguf), "--suites", "over", "--limit", "6", "--max-tokens", "16",
                              "--fresh", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "no thinking mode" in res.output
    data = json.loads(out.read_text())
    assert data["thinking_mode"] is False
    rows = {r["strategy"]: r for r in data["results"]}
    assert set(rows) == {"think", "nothink"} and all(r["n"] == 6 and r["think_tokens_mean"] == 0 for r in rows.values())
