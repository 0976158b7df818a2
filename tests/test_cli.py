import json

import pytest
from typer.testing import CliRunner

from thinkgate.cli import app

runner = CliRunner()


def test_ask_prints_reasoning_and_answer_with_counts():
    res = runner.invoke(app, ["ask", "What is 5+8?", "--mode", "think"])
    assert res.exit_code == 0, res.output
    assert "reasoning ·" in res.output and "answer ·" in res.output
    assert "13" in res.output.split("answer ·")[1]
    res = runner.invoke(app, ["ask", "What is 5+8?", "--mode", "nothink"])
    assert "reasoning · 0 tokens" in res.output and "13" in res.output.split("answer ·")[1]
    res = runner.invoke(app, ["ask", "What is 3+4?", "--mode", "nothink", "--json"])
    data = json.loads(res.output)
    assert data["usage"]["reasoning_tokens"] == 0 and data["answer"] == "7"


def test_ask_rejects_bad_input():
    res = runner.invoke(app, ["ask", "hi", "--mode", "sometimes"])
    assert res.exit_code == 2 and "--mode" in res.output
    res = runner.invoke(app, ["ask", "hi", "--model", "/no/such/folder"])
    assert res.exit_code == 2 and "/no/such/folder" in res.output
    res = runner.invoke(app, ["ask", "hi", "--strategy", "telepathy"])
    assert res.exit_code == 2 and "unknown strategy" in res.output
    res = runner.invoke(app, ["ask", "hi", "--verify", "(unclosed"])
    assert res.exit_code == 2 and "--verify" in res.output and "(unclosed" in res.output
    res = runner.invoke(app, ["ask", "hi", "--strategy", "parallel:n=2,select=verifier"])
    assert res.exit_code == 2 and "needs a verifier" in res.output


def test_ask_selects_a_verified_sample():
    res = runner.invoke(app, ["ask", "What is 3+4?", "--strategy", "parallel:n=4,select=verifier", "--verify", "7",
                              "--temperature", "0.7", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    verify = data["trace"][-1]
    assert verify["kind"] == "verify" and len(verify["detail"]["accepted"]) == 4
    chosen = verify["detail"]["chosen"]
    assert verify["detail"]["accepted"][chosen] and data["answer"].strip() == "7"


def test_bench_writes_the_documented_schema(tmp_path):
    out = tmp_path / "b.json"
    csv_path = tmp_path / "rows.csv"
    res = runner.invoke(app, ["bench", "--strategies", "think,nothink", "--suites", "over,mip", "--limit", "6",
                              "--json", str(out), "--csv", str(csv_path), "--cache", str(tmp_path / "c.jsonl")])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert isinstance(data["model"], str)
    # per-item rows for every strategy, in the JSON and as CSV, agreeing with the table
    items = data["rows"]
    assert len(items) == 2 * 2 * 6 and {r["strategy"] for r in items} == {"think", "nothink"}
    import csv

    with csv_path.open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(items) and lines[0]["item"] == items[0]["item"]
    for (strategy, suite), r in {(r["strategy"], r["suite"]): r for r in data["results"]}.items():
        mine = [i for i in items if i["strategy"] == strategy and i["suite"] == suite]
        assert abs(sum(i["correct"] for i in mine) / len(mine) - r["accuracy"]) < 1e-9
        assert sum(i["think_tokens"] > 0 for i in mine) / len(mine) == r["think_rate"]
    rows = {(r["strategy"], r["suite"]): r for r in data["results"]}
    assert set(rows) == {("think", "over"), ("think", "mip"), ("nothink", "over"), ("nothink", "mip")}
    for r in rows.values():
        assert r["n"] == 6
        assert set(r) >= {"strategy", "suite", "n", "accuracy", "think_tokens_mean", "answer_tokens_mean", "think_rate"}
    assert rows[("nothink", "over")]["think_rate"] == 0.0
    assert rows[("think", "over")]["think_rate"] == 1.0


def test_bench_rejects_unknown_suite():
    res = runner.invoke(app, ["bench", "--suites", "over,hard"])
    assert res.exit_code == 2 and "hard" in res.output


def test_bench_oracle_summary_and_report(tmp_path):
    out = tmp_path / "b.json"
    res = runner.invoke(app, ["bench", "--strategies", "think,nothink,budget:max=16,budget:max=48,oracle",
                              "--suites", "over,under", "--limit", "4", "--json", str(out), "--report",
                              str(tmp_path / "rep"), "--cache", str(tmp_path / "c.jsonl")])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    summary = {r["strategy"]: r for r in data["summary"]}
    assert set(summary) == {"think", "nothink", "budget:max=16", "budget:max=48", "oracle"}
    for r in summary.values():
        assert set(r) == {"strategy", "auc_oaa", "acc_ut", "f1_otb", "think_tokens_mean", "accuracy"}
    assert summary["oracle"]["f1_otb"] >= max(summary["think"]["f1_otb"], summary["nothink"]["f1_otb"])
    assert any(p["pareto"] for p in data["frontier"])
    page = (tmp_path / "rep" / "index.html").read_text()
    for png in ("frontier.png", "difficulty.png", "thinking_hist.png", "budget.png"):
        assert png in page
        assert (tmp_path / "rep" / png).read_bytes()[:4] == b"\x89PNG"


def test_bench_on_external_data(tmp_path):
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "otb_style.jsonl"
    out = tmp_path / "b.json"
    res = runner.invoke(app, ["bench", "--strategies", "think,nothink", "--data", str(fixture), "--json", str(out),
                              "--fresh"])
    assert res.exit_code == 0, res.output
    rows = {(r["strategy"], r["suite"]): r for r in json.loads(out.read_text())["results"]}
    assert rows[("think", "over")]["n"] == 3 and rows[("think", "under")]["n"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    res = runner.invoke(app, ["bench", "--data", str(bad)])
    assert res.exit_code == 2 and "bad.jsonl:1" in res.output


def test_train_sft_rejects_bad_thinking_shares(tmp_path):
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--family-think", "lists=0.3"])
    assert res.exit_code != 0 and "'lists=0.3' is not family=share" in res.output
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--family-think", "listsum=most"])
    assert res.exit_code != 0 and "share 'most' for listsum is not a number" in res.output
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--family-think", "listsum=2"])
    assert res.exit_code != 0 and "for listsum is not between 0 and 1" in res.output
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--think-prob", "1.5"])
    assert res.exit_code != 0 and "--think-prob" in res.output
    assert not out.exists()


def test_train_sft_says_when_its_minutes_cut_the_schedule_short(tmp_path):
    import json

    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--steps", "100000", "--minutes", "0.1",
                              "--no-deterministic"])
    assert res.exit_code == 0, res.output
    record = json.loads((out / "training.json").read_text())
    assert record["stopped_by"] == "clock" and not record["config"]["deterministic"]
    assert f"cap stopped training after {record['steps_done']} steps" in " ".join(res.output.split())


def test_train_sft_rejects_a_step_cap_without_the_clock(tmp_path):
    out = tmp_path / "m"
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--clock-steps", "100"])
    assert res.exit_code != 0 and "--clock-steps caps a schedule by the clock" in res.output
    res = runner.invoke(app, ["train", "sft", "--out", str(out), "--clock", "--clock-steps", "0"])
    assert res.exit_code != 0 and "--clock-steps" in res.output
    assert not out.exists()


def _clean_error(res, *words):
    """A bad-input exit: status 2, a message naming what is wrong, and no traceback."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    for w in words:
        assert w in res.output, (w, res.output)


def test_an_error_prints_a_long_path_whole(tmp_path):
    """An error is one line however long: a path in it is not broken where the terminal's width ends."""
    missing = tmp_path / ("d" * 70) / ("e" * 70) / "items.jsonl"
    res = runner.invoke(app, ["bench", "--data", str(missing), "--fresh"])
    _clean_error(res, f"--data: {missing} does not exist")


def test_bad_input_never_gives_a_traceback(tmp_path):
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"question": "1+1?", "answer": "2"}\n[1, 2]\n')
    _clean_error(runner.invoke(app, ["bench", "--data", str(lines), "--fresh"]), "lines.jsonl:2", "JSON object")
    nulls = tmp_path / "nulls.jsonl"
    nulls.write_text("null\n")
    _clean_error(runner.invoke(app, ["bench", "--data", str(nulls), "--fresh"]), "nulls.jsonl:1")
    _clean_error(runner.invoke(app, ["bench", "--data", str(tmp_path), "--fresh"]), str(tmp_path), "not a file")
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    _clean_error(runner.invoke(app, ["bench", "--data", str(binary), "--fresh"]), "weights.bin", "UTF-8")
    _clean_error(runner.invoke(app, ["ask", "hi", "--verify", "(" * 3000 + ")" * 3000]), "--verify")
    _clean_error(runner.invoke(app, ["ask", "hi", "--verify", "a{4294967296}"]), "--verify")
    _clean_error(runner.invoke(app, ["ask", "caf\udcc3\udca9 \udced\udca0\udc80"]), "not valid text")
    _clean_error(runner.invoke(app, ["ask", "seven " * 2000]), "1024", "context")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _clean_error(runner.invoke(app, ["tasks", "export", "over", "--out", str(blocker / "over.jsonl")]), "--out",
                 "a-file")


def test_unwritable_outputs_are_refused_before_the_bench_runs(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = tmp_path / "c.jsonl"
    for option, path in (("--json", blocker / "b.json"), ("--json", tmp_path), ("--report", blocker)):
        res = runner.invoke(app, ["bench", "--strategies", "think", "--suites", "over", "--limit", "2",
                                  option, str(path), "--cache", str(cache)])
        _clean_error(res, option, str(path))
        assert not cache.exists()  # refused before anything ran


@pytest.mark.parametrize("args,module,extra", [(["serve"], "fastapi", "serve"),
                                               (["bench", "--report", "r", "--limit", "1"], "matplotlib", "report"),
                                               (["train", "bpo", "--steps", "1"], "matplotlib", "train")])
def test_a_missing_extra_is_named_before_anything_runs(monkeypatch, args, module, extra):
    """Without a package of an extra, the command says which extra to install (nothing is loaded first)."""
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and f"pip install 'thinkgate[{extra}]'" in " ".join(res.output.split()), res.output


def test_the_chat_fallback_refuses_an_engine_that_is_not_there():
    """`serve --upstream-chat` with no engine listening: a one-line error that says the engine cannot be
    detected and how to go on, not a server that silently took it for a generic OpenAI endpoint."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from _serving import free_port

    res = runner.invoke(app, ["serve", "--upstream", f"http://127.0.0.1:{free_port()}", "--upstream-model", "m",
                              "--upstream-chat"])
    assert res.exit_code == 2 and "cannot be detected" in res.output and "--engine" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("url, says", [("ftp://x", "is not http"), ("http://127.0.0.1:99999", "out of range"),
                                       ("http://h:1:2", "could not be cast"), ("http://127.0.0.1:0", "from 1 to 65535")])
def test_a_bad_upstream_url_is_a_one_line_error_in_every_command(url, says):
    """--upstream is checked where it is read (a port of 0 used to connect to port 80; the others were
    tracebacks), the same in ask, bench, calibrate and serve, the chat fallback included."""
    for args in (["ask", "hi"], ["bench", "--limit", "1"], ["calibrate"], ["serve"], ["serve", "--upstream-chat"]):
        res = runner.invoke(app, [*args, "--upstream", url, "--upstream-model", "m"])
        flat = " ".join(res.output.replace("│", " ").split())  # the error box wraps its lines
        assert res.exit_code == 2 and says in flat and "Invalid value for '--upstream'" in flat, (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)


def test_bench_refuses_a_strategy_named_twice():
    res = runner.invoke(app, ["bench", "--strategies", "think,nothink,think", "--limit", "1"])
    assert res.exit_code == 2 and "names 'think' twice" in res.output
    res = runner.invoke(app, ["bench", "--strategies", "budget:max=8,min=2,budget:min=2,max=8", "--limit", "1"])
    assert res.exit_code == 2 and "twice" in res.output


@pytest.mark.parametrize("cache, says", [("folder", "it is a folder"), ("file/x", "is a file, not a folder"),
                                         ("/dev/full", "not a regular file")])
def test_a_bench_cache_that_cannot_be_one_is_refused_before_the_run(tmp_path, cache, says):
    """--cache a folder, a path under a file, a device (which reads without end): one line naming it."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("")
    path = cache if cache.startswith("/") else str(tmp_path / cache)
    res = runner.invoke(app, ["bench", "--cache", path, "--strategies", "nothink", "--suites", "over", "--limit", "1"])
    flat = " ".join(res.output.replace("│", " ").split())
    assert res.exit_code == 2 and "--cache" in flat and says in flat, res.output


def test_a_data_item_longer_than_the_context_is_one_line(tmp_path):
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps({"question": "What is 2+3?", "answer": "5"}) + "\n"
                    + json.dumps({"question": "word " * 2000, "answer": "1"}) + "\n")
    res = runner.invoke(app, ["bench", "--data", str(data), "--strategies", "nothink", "--fresh"])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2 and "too long for the model" in flat and "context of 1024 tokens" in flat, res.output


def test_a_judge_that_does_not_answer_is_found_before_the_model_runs(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from _serving import free_port

    from thinkgate.roster import resolve_model

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "Name a colour.", "answer": "red"}) + "\n")
    res = runner.invoke(app, ["bench", "--data", str(data), "--judge", f"http://127.0.0.1:{free_port()}", "--judge-model",
                              "m", "--judge-tokenizer", str(resolve_model("tiny")), "--fresh"])
    assert res.exit_code == 2 and "--judge" in res.output and "does not answer" in res.output, res.output
    assert "nothink" not in res.output  # no strategy ran first
