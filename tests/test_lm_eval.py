"""lm-evaluation-harness (the test extra installs it) run against thinkgate's server (the app `thinkgate serve`
runs, on loopback) through its `local-chat-completions` model, on a task of its own format over a JSONL file
written here: with `--reasoning-format inline` the harness, which reads only `message.content`, sees the
thought between the model's tags; with `separate` (the default) it sees the answer alone."""

import json

import pytest
from _serving import InThread

from thinkgate.server.app import create_app
from thinkgate.tasks import load_split

lm_eval = pytest.importorskip("lm_eval", reason="the test extra installs lm-eval")

TASK = """task: thinkgate_under
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["<|never|>"]
  max_gen_toks: 200
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def run_harness(url: str, tasks, limit: int) -> list[str]:
    """The responses lm-eval logged for each document, as its scorer saw them."""
    from lm_eval import simple_evaluate

    results = simple_evaluate(
        model="local-chat-completions", model_args=f"model=tiny,base_url={url}/v1/chat/completions,num_concurrent=3,"
                                                   "max_retries=1,tokenizer_backend=None",
        tasks=["thinkgate_under"], task_manager=tasks, apply_chat_template=True,
        limit=limit, log_samples=True)
    return [s["filtered_resps"][0] for s in results["samples"]["thinkgate_under"]]


def test_lm_eval_sees_the_thought_in_content_only_with_inline_reasoning(backend, tmp_path):
    items = load_split("under")[:3]
    data = tmp_path / "under.jsonl"
    data.write_text("".join(json.dumps({"question": it.prompt, "answer": it.answer}) + "\n" for it in items))
    (tmp_path / "task.yaml").write_text(TASK.format(data=data))
    from lm_eval.tasks import TaskManager

    tasks = TaskManager(include_path=str(tmp_path), include_defaults=False)  # this task alone: no index of the rest
    servers = {fmt: InThread(create_app(backend, "tiny", reasoning_format=fmt)) for fmt in ("inline", "separate")}
    try:
        seen = {fmt: run_harness(srv.url, tasks, len(items)) for fmt, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()
    assert len(seen["inline"]) == len(seen["separate"]) == len(items)
    for inline, separate, item in zip(seen["inline"], seen["separate"], items):
        assert inline.startswith("<think>") and "</think>" in inline, inline
        thought, answer = inline.split("</think>", 1)
        assert len(thought) > 20 and "<think>" not in separate and "</think>" not in separate
        assert answer.strip() == separate.strip()  # the same answer, with or without the thought before it
        assert item.answer in separate
