"""The other APIs clients of reasoning models speak — OpenAI's Responses, Anthropic's Messages, Ollama's chat —
each through its official Python client against `thinkgate serve` on loopback (the embedded model): the thought
and the answer in each API's own fields, thinking on, off and with a budget, streamed and not, errors in each
API's shape. Tool calls are in test_tools.py (the engine stand-in writes them), the engine in
test_engine_llamacpp.py."""

import anthropic
import httpx
import ollama
import openai
import pytest
from _serving import metric

KEY = "sk-test"
Q = "What is 12+30?"
ADD = "What is 48213+3977?"


@pytest.fixture(scope="module")
def an(server):
    return anthropic.Anthropic(base_url=server.url, api_key=KEY, max_retries=0)  # sends x-api-key


@pytest.fixture(scope="module")
def ol(server):
    return ollama.Client(host=server.url, headers={"Authorization": f"Bearer {KEY}"})


# ---- OpenAI Responses ---------------------------------------------------------------------------------------

def test_responses_carry_the_thought_as_a_reasoning_item_and_the_answer_as_a_message(client):
    r = client.responses.create(model="tiny", input=Q)
    assert [o.type for o in r.output] == ["reasoning", "message"] and r.status == "completed"
    thought = r.output[0].content[0]
    assert thought.type == "reasoning_text" and "12+30" in thought.text and r.output[0].summary == []
    assert r.output_text == "42"
    assert 0 < r.usage.output_tokens_details.reasoning_tokens < r.usage.output_tokens
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.model_extra["thinkgate"]["mode"] == "think"


def test_responses_effort_none_turns_thinking_off_and_a_budget_holds(client):
    off = client.responses.create(model="tiny", input=Q, reasoning={"effort": "none", "summary": "auto"})
    assert [o.type for o in off.output] == ["message"] and off.usage.output_tokens_details.reasoning_tokens == 0
    assert off.model_extra["thinkgate"]["decided_by"] == "reasoning_effort"
    capped = client.responses.create(model="tiny", input=ADD, extra_body={"thinkgate": {"budget": 16}})
    assert 0 < capped.usage.output_tokens_details.reasoning_tokens <= 16
    assert capped.model_extra["thinkgate"]["budget"] == 16
    high = client.responses.create(model="tiny", input=ADD, reasoning={"effort": "xhigh"})
    assert high.model_extra["thinkgate"]["effort"] == "high"
    low = client.responses.create(model="tiny", input=ADD, reasoning={"effort": "low"})  # the family has no levels:
    cap = low.model_extra["thinkgate"]["budget"]  # the effort's cap (types.EFFORT_BUDGETS) holds
    assert cap == 128 and 0 < low.usage.output_tokens_details.reasoning_tokens <= cap


def test_responses_stream_typed_events_the_sdk_accumulates_into_the_whole_response(client):
    whole = client.responses.create(model="tiny", input=ADD)
    with client.responses.stream(model="tiny", input=ADD) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-1] == "response.completed" and [e.sequence_number for e in events] == list(range(len(events)))
    thought = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    answer = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert kinds.count("response.reasoning_text.delta") > 10  # the thought streams live, piece by piece
    assert kinds.index("response.output_text.delta") > kinds.index("response.output_item.done")
    assert thought == whole.output[0].content[0].text and answer == whole.output_text == final.output_text
    assert [o.type for o in final.output] == ["reasoning", "message"]
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_responses_cut_by_max_output_tokens_are_incomplete_and_logprobs_come_when_included(client):
    cut = client.responses.create(model="tiny", input=ADD, max_output_tokens=12)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    events = list(client.responses.create(model="tiny", input=Q, stream=True, max_output_tokens=12))
    assert events[-1].type == "response.incomplete"
    r = client.responses.create(model="tiny", input=Q, include=["message.output_text.logprobs"], top_logprobs=2,
                            reasoning={"effort": "none"})
    lps = r.output[0].content[0].logprobs
    assert "".join(t.token for t in lps).strip() == "42" and all(len(t.top_logprobs) == 2 for t in lps)
    assert all(t.logprob <= 0 for t in lps)


def test_responses_take_a_conversation_of_items_and_refuse_state_naming_the_field(client):
    turns = [{"role": "developer", "content": "Answer with the number."},
             {"role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]},
             {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "2+2=4"}]},
             {"role": "assistant", "content": [{"type": "output_text", "text": "4"}]},
             {"role": "user", "content": Q}]
    from thinkgate.server.responses_api import ResponsesRequest, _messages

    read = _messages(ResponsesRequest(model="tiny", input=turns, instructions="Be brief."))
    assert [(m.role, m.content, m.reasoning_content) for m in read] == [
        ("system", "Be brief.", None), ("system", "Answer with the number.", None), ("user", "What is 2+2?", None),
        ("assistant", "4", "2+2=4"), ("user", Q, None)]
    assert client.responses.create(model="tiny", input=turns).status == "completed"
    for extra, param in (({"store": True}, "store"), ({"previous_response_id": "resp_1"}, "previous_response_id"),
                         ({"text": {"format": {"type": "json_object"}}}, "text.format"),
                         ({"input": [{"type": "input_image"}]}, "input[0].type"),
                         ({"tools": [{"type": "web_search"}]}, "tools[0]")):
        with pytest.raises(openai.BadRequestError) as e:
            client.responses.create(**{"model": "tiny", "input": Q, **extra})
        assert e.value.body["param"] == param, extra
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="other", input=Q)


# ---- Anthropic Messages -------------------------------------------------------------------------------------

def test_messages_give_thinking_and_text_blocks_with_a_budget_through_the_policy(an):
    r = an.messages.create(model="tiny", max_tokens=300, messages=[{"role": "user", "content": ADD}],
                           thinking={"type": "enabled", "budget_tokens": 16})
    assert [b.type for b in r.content] == ["thinking", "text"] and r.stop_reason == "end_turn"
    assert r.content[0].thinking and len(r.content[0].signature) == 64  # a digest, documented as no signature
    assert 0 < r.usage.output_tokens_details.thinking_tokens <= 16
    assert r.model_extra["thinkgate"]["budget"] == 16 and r.model_extra["thinkgate"]["decided_by"] == "thinking"
    off = an.messages.create(model="tiny", max_tokens=300, messages=[{"role": "user", "content": Q}],
                             thinking={"type": "disabled"})
    assert [b.type for b in off.content] == ["text"] and off.content[0].text == "42"
    assert off.usage.output_tokens_details.thinking_tokens == 0
    adaptive = an.messages.create(model="tiny", max_tokens=300, messages=[{"role": "user", "content": Q}],
                                  thinking={"type": "adaptive"})
    assert adaptive.model_extra["thinkgate"]["requested_mode"] == "auto"  # the model decides
    hidden = an.messages.create(model="tiny", max_tokens=300, messages=[{"role": "user", "content": Q}],
                                thinking={"type": "enabled", "budget_tokens": 200, "display": "omitted"})
    assert hidden.content[0].type == "thinking" and hidden.content[0].thinking == ""


def test_messages_stream_the_anthropic_event_sequence(an):
    q = [{"role": "user", "content": ADD}]
    whole = an.messages.create(model="tiny", max_tokens=300, messages=q, thinking={"type": "enabled", "budget_tokens": 200})
    with an.messages.stream(model="tiny", max_tokens=300, messages=q,
                            thinking={"type": "enabled", "budget_tokens": 200}) as stream:
        events = list(stream)
        final = stream.get_final_message()
    raw = [e.type for e in events if e.type not in ("thinking", "text", "signature")]  # the SDK's own helpers
    assert raw[0] == "message_start" and raw[-2:] == ["message_delta", "message_stop"]
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert deltas.count("thinking_delta") > 10 and deltas.index("signature_delta") < deltas.index("text_delta")
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == whole.content[0].thinking and final.content[1].text == whole.content[1].text
    assert final.content[0].signature == whole.content[0].signature
    assert final.usage.output_tokens == whole.usage.output_tokens and final.stop_reason == "end_turn"


def test_messages_stop_sequences_history_and_errors_in_anthropics_shape(an, server):
    r = an.messages.create(model="tiny", max_tokens=100, messages=[{"role": "user", "content": Q}],
                           stop_sequences=["2"], thinking={"type": "disabled"})
    assert r.stop_reason == "stop_sequence" and r.stop_sequence == "2" and r.content[0].text == "4"
    cut = an.messages.create(model="tiny", max_tokens=10, messages=[{"role": "user", "content": ADD}])
    assert cut.stop_reason == "max_tokens"
    history = [{"role": "user", "content": "What is 2+2?"},
               {"role": "assistant", "content": [{"type": "thinking", "thinking": "2+2=4", "signature": "x"},
                                                 {"type": "text", "text": "4"}]},
               {"role": "user", "content": [{"type": "text", "text": Q}]}]
    from thinkgate.server.messages_api import MessagesRequest, _messages

    read = _messages(MessagesRequest(model="tiny", max_tokens=300, system="Answer with the number.", messages=history))
    assert [(m.role, m.content, m.reasoning_content) for m in read] == [
        ("system", "Answer with the number.", None), ("user", "What is 2+2?", None), ("assistant", "4", "2+2=4"),
        ("user", Q, None)]
    assert an.messages.create(model="tiny", max_tokens=300, system="Answer with the number.",
                              messages=history).stop_reason == "end_turn"
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model="tiny", max_tokens=100, messages=[{"role": "user", "content": Q}],
                           thinking={"type": "enabled", "budget_tokens": 100})
    assert e.value.body["type"] == "error" and e.value.body["error"]["param"] == "thinking.budget_tokens"
    with pytest.raises(anthropic.BadRequestError, match="image"):
        an.messages.create(model="tiny", max_tokens=100, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": ""}}]}])
    with pytest.raises(anthropic.NotFoundError) as e:
        an.messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": Q}])
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0).messages.create(
            model="tiny", max_tokens=10, messages=[{"role": "user", "content": Q}])
    r = httpx.post(server.url + "/v1/messages", content=b"{", headers={"x-api-key": KEY, "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


# ---- Ollama ------------------------------------------------------------------------------------------------

def test_ollama_chat_thinks_on_off_and_by_level_in_its_own_fields(ol, server):
    r = ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], think=True)
    assert r.message.content == "42" and "12+30" in r.message.thinking and r.done and r.done_reason == "stop"
    assert r.eval_count > 0 and r.prompt_eval_count > 0 and r.total_duration > 0
    off = ol.chat(model="tiny:latest", messages=[{"role": "user", "content": Q}], think=False)
    assert off.message.content == "42" and not off.message.thinking
    low = httpx.post(server.url + "/api/chat", headers={"Authorization": f"Bearer {KEY}"}, timeout=60, json={
        "model": "tiny", "messages": [{"role": "user", "content": ADD}], "think": "low", "stream": False}).json()
    assert low["thinkgate"]["effort"] == "low" and low["thinkgate"]["decided_by"] == "think"  # the client drops it
    assert 0 < len(low["message"]["thinking"]) and low["thinkgate"]["reasoning_tokens"] <= low["thinkgate"]["budget"] == 128
    cut = ol.chat(model="tiny", messages=[{"role": "user", "content": ADD}], options={"num_predict": 8})
    assert cut.done_reason == "length" and cut.eval_count == 8


def test_ollama_streams_ndjson_with_the_thought_first_and_logprobs_when_asked(ol, server):
    whole = ol.chat(model="tiny", messages=[{"role": "user", "content": ADD}], think=True)
    parts = list(ol.chat(model="tiny", messages=[{"role": "user", "content": ADD}], think=True, stream=True))
    thought = "".join(p.message.thinking or "" for p in parts)
    answer = "".join(p.message.content or "" for p in parts)
    assert sum(1 for p in parts if p.message.thinking) > 10 and thought == whole.message.thinking
    assert answer == whole.message.content and parts[-1].done and not any(p.done for p in parts[:-1])
    assert parts[-1].eval_count == whole.eval_count
    r = httpx.post(server.url + "/api/chat", json={"model": "tiny", "messages": [{"role": "user", "content": Q}]},
                   headers={"Authorization": f"Bearer {KEY}"})
    assert r.headers["content-type"].startswith("application/x-ndjson") and len(r.text.splitlines()) > 2  # stream by default
    lp = ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], think=False, logprobs=True, top_logprobs=2)
    assert "".join(t.token for t in lp.logprobs).strip() == "42" and all(len(t.top_logprobs) == 2 for t in lp.logprobs)


def test_ollama_tags_options_and_errors(ol, server):
    tags = ol.list()
    assert [m.model for m in tags.models] == ["tiny"] and tags.models[0].details.family == "qwen3"
    for options, name in (({"repeat_penalty": 1.3}, "repeat_penalty"), ({"max_tokens": 3}, "max_tokens")):
        with pytest.raises(ollama.ResponseError) as e:
            ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], options=options)
        assert e.value.status_code == 400 and name in e.value.error
    assert ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], think=False,
                   options={"num_ctx": 4096, "repeat_penalty": 1.0, "seed": 3}).message.content == "42"
    with pytest.raises(ollama.ResponseError) as e:
        ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], format="json")
    assert e.value.status_code == 400 and "format" in e.value.error
    with pytest.raises(ollama.ResponseError) as e:
        ol.chat(model="llama3", messages=[{"role": "user", "content": Q}])
    assert e.value.status_code == 404
    r = httpx.get(server.url + "/api/tags")
    assert r.status_code == 401 and "error" in r.json()  # behind the key, in Ollama's shape


def test_every_face_is_counted_in_the_metrics(server, client, an, ol):
    before = {p: metric_of(server, p) for p in ("/v1/responses", "/v1/messages", "/api/chat")}
    client.responses.create(model="tiny", input=Q, reasoning={"effort": "none"})
    an.messages.create(model="tiny", max_tokens=50, messages=[{"role": "user", "content": Q}], thinking={"type": "disabled"})
    ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], think=False)
    assert all(metric_of(server, p) == before[p] + 1 for p in before)
    assert metric(server.url, "thinkgate_generated_tokens_total") > 0


def metric_of(server, path: str) -> float:
    total = 0.0
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        if line.startswith("thinkgate_requests_total{") and f'endpoint="{path}"' in line and 'status="200"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_an_effort_beside_a_thinking_switch_still_caps_and_errors_name_each_apis_field(client, an, server):
    r = an.messages.create(model="tiny", max_tokens=400, messages=[{"role": "user", "content": ADD}],
                           thinking={"type": "adaptive"}, output_config={"effort": "low"})
    tg = r.model_extra["thinkgate"]
    assert tg["requested_mode"] == "auto" and tg["effort"] == "low" and tg["budget"] == 128
    assert r.usage.output_tokens_details.thinking_tokens <= 128
    assert an.messages.create(model="tiny", max_tokens=50, messages=[{"role": "user", "content": Q}],
                              output_config={"effort": "xhigh"}).model_extra["thinkgate"]["effort"] == "high"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="tiny", input=Q, extra_body={"thinkgate": {"strategy": "telepathy"}})
    assert e.value.body["param"] == "thinkgate.strategy"
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="tiny", input=[{"type": "reasoning", "content": []}])
    assert e.value.body["param"] == "input"
    both = httpx.post(server.url + "/v1/messages", headers={"x-api-key": KEY, "Authorization": "Bearer other"},
                      json={"model": "tiny", "max_tokens": 8, "messages": [{"role": "user", "content": Q}]}, timeout=60)
    assert both.status_code == 200  # either header may carry the key


def test_a_thought_cut_by_max_tokens_streams_the_blocks_and_items_of_the_whole_reply(client, an):
    q = [{"role": "user", "content": ADD}]
    whole = an.messages.create(model="tiny", max_tokens=12, messages=q)
    with an.messages.stream(model="tiny", max_tokens=12, messages=q) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in whole.content] == [b.type for b in streamed.content] == ["thinking"]
    assert whole.stop_reason == streamed.stop_reason == "max_tokens"
    r = client.responses.create(model="tiny", input=ADD, max_output_tokens=12)
    with client.responses.stream(model="tiny", input=ADD, max_output_tokens=12) as stream:
        events = list(stream)
    final = [e for e in events if e.type == "response.incomplete"][0].response
    assert [o.type for o in r.output] == [o.type for o in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == r.output[0].content[0].text


def test_ollama_takes_its_default_options_and_links_tool_answers_to_their_calls(ol):
    from thinkgate.server.ollama_api import OllamaChatRequest, _messages

    defaults = {"mirostat": 0, "mirostat_tau": 5.0, "mirostat_eta": 0.1, "penalize_newline": True,
                "repeat_penalty": 1.0, "num_ctx": 2048, "num_predict": -1}
    assert ol.chat(model="tiny", messages=[{"role": "user", "content": Q}], think=False, options=defaults).message.content == "42"
    read = _messages(OllamaChatRequest(model="tiny", messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "weather", "arguments": {"city": "Paris"}}},
                                                            {"function": {"name": "time", "arguments": {}}}]},
        {"role": "tool", "content": "12:00", "tool_name": "time"}, {"role": "tool", "content": "sunny"}]))
    ids = [c["id"] for c in read[1].tool_calls]
    assert [m.tool_call_id for m in read[2:]] == [ids[1], ids[0]]


def test_client_values_past_what_orjson_writes_still_make_json():
    import json

    from thinkgate.server.common import json_text

    assert json.loads(json_text({"n": 2**70, "x": float("nan"), "l": [float("inf")]})) == {"n": 2**70, "x": None, "l": [None]}
