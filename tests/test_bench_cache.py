import json
import os
import signal
import subprocess
import sys
import time

import pytest

from thinkgate.scoring.cache import ResultsCache, line, row_key
from thinkgate.scoring.metrics import Row, f1, oaa_auc, oracle_rows, summary


def row(strategy="think", suite="over", item="a", correct=True, think=10, sample=0):
    return Row(strategy=strategy, suite=suite, family="f", difficulty=1, item=item, sample=sample, correct=correct,
               think_tokens=think, answer_tokens=1, closed=True, finish_reason="stop", wall_s=0.1, answer="x")


def key(item: str, sample: int = 0, suite: str = "over") -> str:
    return row_key("model", "think", suite, item, sample, "{}")


K1, K2, K3 = key("1"), key("2"), key("3")


def test_metrics_are_per_sample_then_averaged():
    # one item, two samples: right with 900 thinking tokens, wrong with 0. Per sample: (0.1 + 0) / 2.
    rows = [row(correct=True, think=900, sample=0), row(correct=False, think=0, sample=1)]
    assert oaa_auc(rows, 1000) == pytest.approx(0.05)
    # averaging first would give 0.5 * (1000 - 450) / 1000 = 0.275: not what we compute
    assert f1(0.5, 0.5) == pytest.approx(0.5) and f1(0, 0) == 0


def test_oracle_picks_the_cheapest_correct_mode():
    rows = [row("think", item="a", correct=True, think=50), row("nothink", item="a", correct=True, think=0),
            row("think", item="b", correct=True, think=80), row("nothink", item="b", correct=False, think=0),
            row("think", item="c", correct=False, think=90), row("nothink", item="c", correct=False, think=0)]
    picked = {r.item: (r.correct, r.think_tokens) for r in oracle_rows(rows)}
    assert picked == {"a": (True, 0), "b": (True, 80), "c": (False, 0)}
    rows += [row("think", suite="under", item="u", think=100), row("nothink", suite="under", item="u", correct=False)]
    s = {r["strategy"]: r for r in summary(rows + oracle_rows(rows), t_max=100)}
    assert s["oracle"]["f1_otb"] >= max(s["think"]["f1_otb"], s["nothink"]["f1_otb"])


def test_cache_drops_a_torn_last_line_and_appends_cleanly(tmp_path):
    path = tmp_path / "c.jsonl"
    cache = ResultsCache(path)
    cache.add([(K1, row(item="1")), (K2, row(item="2"))])
    with open(path, "a") as f:
        f.write('{"key": K3, "row": {"strat')  # killed mid-write
    cache = ResultsCache(path)
    assert set(cache.rows) == {K1, K2}
    cache.add([(K3, row(item="3")), (K1, row(item="1"))])  # k1 again: not duplicated
    lines = path.read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == [K1, K2, K3]


def test_cache_refuses_a_corrupt_middle_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"key": K1, "row": {}}\nnot json\n')
    with pytest.raises(ValueError, match="c.jsonl:1"):
        ResultsCache(path)


@pytest.mark.parametrize("line", ["[1, 2]", "null", "3", '"text"', '{"key": 5, "row": {}}'])
def test_cache_refuses_a_line_that_is_not_a_row_naming_it(tmp_path, line):
    path = tmp_path / "c.jsonl"
    ResultsCache(path).add([(K1, row(item="1"))])
    with open(path, "a") as f:
        f.write(line + "\n")
    with pytest.raises(ValueError, match="c.jsonl:2: corrupt cache line"):
        ResultsCache(path)


def test_cache_refuses_a_changed_duplicate_and_takes_an_equal_one(tmp_path):
    path = tmp_path / "c.jsonl"
    ResultsCache(path).add([(K1, row(item="1", correct=True)), (K2, row(item="2"))])
    first = path.read_text().splitlines()[0]
    with open(path, "a") as f:  # the same row again, as a second run writing the same key would (wall time differs)
        f.write(line(K1, {**json.loads(first)["row"], "wall_s": 9.9}) + "\n")
    assert ResultsCache(path).rows[K1].correct is True
    with open(path, "a") as f:  # the same key with its result flipped, by a run (its check is right)
        f.write(line(K1, {**json.loads(first)["row"], "correct": False}) + "\n")
    with pytest.raises(ValueError, match=r"c.jsonl:4: the row for '.*' differs from the one on line 1 \(correct True vs False\)"):
        ResultsCache(path)


def test_cache_ends_a_whole_last_row_whose_newline_was_cut_and_appends_after_it(tmp_path):
    path = tmp_path / "c.jsonl"
    ResultsCache(path).add([(K1, row(item="1")), (K2, row(item="2"))])
    path.write_bytes(path.read_bytes()[:-1])  # killed just before the last newline
    cache = ResultsCache(path)
    assert set(cache.rows) == {K1, K2}
    cache.add([(K3, row(item="3"))])
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == [K1, K2, K3]
    assert set(ResultsCache(path).rows) == {K1, K2, K3}  # the run after reads it all


def test_cache_refuses_a_row_that_is_not_the_one_its_key_names(tmp_path):
    path = tmp_path / "c.jsonl"
    ResultsCache(path).add([(K1, row(item="1")), (K2, row(item="2"))])
    lines = path.read_text().splitlines()
    swapped = line(K2, json.loads(lines[0])["row"])  # item 1's row under item 2's key, its check right
    path.write_text(lines[0] + "\n" + swapped + "\n")
    with pytest.raises(ValueError, match="c.jsonl:2: corrupt cache line.*not the one its key names"):
        ResultsCache(path)


def test_a_row_edited_by_hand_is_dropped_and_run_again_and_nothing_else_is_lost(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    K4 = key("4")
    ResultsCache(path).add([(K1, row(item="1")), (K2, row(item="2", think=10)), (K3, row(item="3")),
                            (K4, row(item="4", correct=False))])
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["row"]["think_tokens"] = 3  # fewer thinking tokens than it took, the check left as it was
    flipped = json.loads(lines[3])
    flipped["row"]["correct"] = True
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2], json.dumps(flipped)]) + "\n")
    with caplog.at_level("WARNING", logger="thinkgate.cache"):
        cache = ResultsCache(path)
    assert set(cache.rows) == {K1, K3}  # the edited rows are not read as true
    [warning] = caplog.records
    assert "2 cached rows dropped" in warning.getMessage() and "2 whose check does not match" in warning.getMessage()
    assert path.read_text().splitlines() == [lines[0], lines[2]]  # every other line kept as it was
    cache.add([(K2, row(item="2", think=10)), (K4, row(item="4", correct=False))])  # run again
    caplog.clear()
    again = ResultsCache(path)
    assert not caplog.records and set(again.rows) == {K1, K2, K3, K4}
    assert again.rows[K2].think_tokens == 10 and again.rows[K4].correct is False


def test_a_row_without_a_check_is_dropped_with_its_reason_and_a_torn_tail_too(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    ResultsCache(path).add([(K1, row(item="1")), (K2, row(item="2"))])
    lines = path.read_text().splitlines()
    bare = json.loads(lines[1])
    del bare["check"]  # as a cache written before rows carried checks, or a check taken out
    path.write_text(lines[0] + "\n" + json.dumps(bare) + "\n" + '{"key": "v6|m', encoding="utf-8")  # and a torn tail
    with caplog.at_level("WARNING", logger="thinkgate.cache"):
        cache = ResultsCache(path)
    assert set(cache.rows) == {K1}
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "1 cached row dropped, to be run again: 1 without a check (written before rows carried one, or edited)"]
    assert path.read_text() == lines[0] + "\n"
    cache.add([(K3, row(item="3"))])
    assert [json.loads(x)["key"] for x in path.read_text().splitlines()] == [K1, K3]


def test_sigkill_during_bench_loses_and_duplicates_no_row(tmp_path):
    cache = tmp_path / "cache.jsonl"
    cmd = [sys.executable, "-m", "thinkgate.cli", "bench", "--strategies", "think,nothink", "--suites", "over",
           "--limit", "8", "--max-tokens", "200", "--cache", str(cache), "--json", str(tmp_path / "out.json")]
    # small batches, so that it is killed between them; the rerun takes the rest in one
    proc = subprocess.Popen(cmd + ["--batch-size", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if cache.exists() and len(cache.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "bench finished before it could be killed; make the run longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {json.loads(x)["key"]: x for x in cache.read_text().splitlines() if x.endswith("}")}
    assert 3 <= len(before) < 16
    from typer.testing import CliRunner

    from thinkgate.cli import app

    res = CliRunner().invoke(app, cmd[3:])  # the rerun, with the same arguments, in this process
    assert res.exit_code == 0, res.output
    lines = cache.read_text().splitlines()
    keys = [json.loads(x)["key"] for x in lines]
    assert len(keys) == len(set(keys)) == 16  # 2 strategies x 8 items, each once
    after = dict(zip(keys, lines))
    assert all(after[k] == v for k, v in before.items())  # finished rows kept as they were
    out = json.loads((tmp_path / "out.json").read_text())
    assert sum(r["n"] for r in out["results"]) == 16


def test_an_unlimited_budget_is_scored_once_as_think(backend, tmp_path):
    """`budget` without limits generates exactly what `think` does; the bench scores that once (also with
    --fresh) and reports it under both names; a limited budget is scored on its own."""
    from thinkgate.bench.runner import run_suite
    from thinkgate.gate import Gate
    from thinkgate.tasks import load_split
    from thinkgate.types import Request, Sampling

    items = load_split("over")[:6]
    store = ResultsCache(None)  # what --fresh uses: this run's rows only, nothing on disk
    sampling = Sampling(max_tokens=300)
    think = run_suite(Gate(backend, "think"), items, sampling, "m", store)
    unlimited = run_suite(Gate(backend, "budget"), items, sampling, "m", store)
    capped = run_suite(Gate(backend, "budget:max=8"), items, sampling, "m", store)
    assert [r.strategy for r in unlimited] == ["budget"] * 6 and [r.strategy for r in think] == ["think"] * 6
    strip = lambda rs: [r.model_dump(exclude={"strategy"}) for r in rs]  # noqa: E731
    assert strip(unlimited) == strip(think)  # the same rows, wall time included: not generated again
    assert all(r.think_tokens <= 8 for r in capped) and any(t.think_tokens > 8 for t in think)
    assert len(store.rows) == 12 and not list(tmp_path.iterdir())
    direct = Gate(backend, "budget").run_batch([Request.of(it.prompt, sampling=sampling) for it in items[:2]])
    assert [r.answer for r in direct] == [r.answer for r in think[:2]] and direct[0].strategy == "budget"
