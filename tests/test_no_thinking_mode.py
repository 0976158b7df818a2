"""A model without a thinking mode (family "none"): the embedded model's weights under a plain ChatML
template with no thinking markup. Every face says no thinking happened, a thinking request is answered
plainly, what needs a thought is refused naming the missing capability, and nothing arrives twice."""

import json
import shutil

import httpx
import pytest
from _serving import InThread
from typer.testing import CliRunner

from thinkgate.backends.hf import HFBackend
from thinkgate.cli import app as cli
from thinkgate.roster import resolve_model
from thinkgate.server.app import create_app

PLAIN = ("{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plain")
    for f in resolve_model("tiny").iterdir():
        if f.is_file() and f.name != "chat_template.jinja":
            shutil.copy(f, folder / f.name)
    (folder / "chat_template.jinja").write_text(PLAIN)
    return folder


def test_the_server_says_no_thinking_happened_and_refuses_what_needs_a_thought(plain_model):
    srv = InThread(create_app(HFBackend(plain_model), "plain", freeze_gc=False))
    try:
        body = {"model": "plain", "messages": [{"role": "user", "content": "What is 5+8?"}], "max_tokens": 24}
        for thinking in ({"mode": "on"}, {"mode": "off"}, {"mode": "auto"}):
            r = httpx.post(srv.url + "/v1/chat/completions", json={**body, "thinking": thinking}, timeout=60)
            assert r.status_code == 200, r.text
            data = r.json()
            assert data["thinkgate"]["thinking_mode"] is False
            assert data["choices"][0]["message"]["reasoning_content"] == ""
            assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
            answer = data["choices"][0]["message"]["content"]
            with httpx.stream("POST", srv.url + "/v1/chat/completions", json={**body, "thinking": thinking,
                                                                              "stream": True}, timeout=60) as s:
                events = [json.loads(line[5:]) for line in s.iter_lines() if line.startswith("data: {")]
            deltas = [e["choices"][0]["delta"] for e in events if e.get("choices")]
            assert not any(d.get("reasoning_content") for d in deltas)
            assert "".join(d.get("content") or "" for d in deltas) == answer  # once, as content
        for thinking in ({"budget": 8}, {"min_budget": 8}, {"strategy": "early_exit"}, {"strategy": "thinkless"}):
            r = httpx.post(srv.url + "/v1/chat/completions", json={**body, "thinking": thinking}, timeout=60)
            assert r.status_code == 400 and r.json()["error"]["code"] == "missing_capability", r.text
            assert "no thinking mode" in r.json()["error"]["message"]
    finally:
        srv.stop()


def test_the_cli_says_so_too(plain_model, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["ask", "What is 5+8?", "--model", str(plain_model), "--max-tokens", "24"])
    assert res.exit_code == 0 and "no thinking mode" in res.output, res.output
    res = runner.invoke(cli, ["ask", "What is 5+8?", "--model", str(plain_model), "--budget", "8"])
    assert res.exit_code == 2 and "no thinking mode" in res.output, res.output
    res = runner.invoke(cli, ["render", "hi", "--model", str(plain_model)])
    assert res.exit_code == 0 and "family none (detected)" in res.output, res.output
    out = tmp_path / "b.json"
    res = runner.invoke(cli, ["bench", "--model", str(plain_model), "--suites", "over", "--limit", "4",
                              "--strategies", "think,nothink", "--max-tokens", "24", "--fresh", "--json", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out.read_text())["results"]
    assert all(r["think_tokens_mean"] == 0 and r["think_rate"] == 0 for r in rows)
