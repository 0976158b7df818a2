"""Tools in raw-prefix mode: the request's tools are given to the model's own chat template (Qwen3's, from
llama.cpp's collection), and the Hermes `<tool_call>` blocks the model writes come back as OpenAI
`tool_calls`, streamed and not. The engine is the stand-in of benchmarks/fake_engine.py, which answers a
prompt listing tools with a thought, a sentence and a call of the first tool, written over several tokens;
no small model that installs here writes tool calls reliably."""

import json
import shutil

import openai
import pytest
from _serving import InThread, fake_engine
from typer.testing import CliRunner

from thinkgate.cli import app as cli
from thinkgate.formats import get_format
from thinkgate.formats.tools import parse_tool_calls
from thinkgate.roster import resolve_model
from thinkgate.types import Message

WEATHER = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture(scope="module")
def qwen_tokenizer(tmp_path_factory):
    """The embedded tokenizer with Qwen3's real chat template (which lists tools and teaches <tool_call>)."""
    from _corpus import templates

    folder = tmp_path_factory.mktemp("qwen3-template")
    for f in resolve_model("tiny").iterdir():
        if f.name.startswith(("tokenizer", "special_tokens")):
            shutil.copy(f, folder / f.name)
    (folder / "chat_template.jinja").write_text(templates()["Qwen-Qwen3-0.6B"])
    return folder


@pytest.fixture(scope="module")
def servers(qwen_tokenizer):
    """thinkgate in front of the engine in raw-prefix mode, served in this process (the command line's
    `serve --upstream` has its own subprocess tests in test_server_upstream.py): with Qwen3's template, and
    with the embedded template, which has no tool calls."""
    from thinkgate.backends.openai_compat import OpenAICompatBackend
    from thinkgate.server.app import create_app

    engine = fake_engine("--rate", "2000", "--tokens", "30").wait()
    raw = InThread(create_app(OpenAICompatBackend(engine.url, "fake", qwen_tokenizer), "fake"))
    plain = InThread(create_app(OpenAICompatBackend(engine.url, "fake", resolve_model("tiny")), "fake"))
    yield {"engine": engine, "raw": raw, "plain": plain}
    for p in (raw, plain, engine):
        p.stop()


def test_calls_are_read_out_of_the_text():
    text, calls = parse_tool_calls('Let me check.\n<tool_call>\n{"name": "f", "arguments": {"x": 1}}\n</tool_call>'
                                   '<tool_call>{"name": "g", "arguments": "{}"}</tool_call>')
    assert text == "Let me check." and [c["function"]["name"] for c in calls] == ["f", "g"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"x": 1} and calls[1]["function"]["arguments"] == "{}"
    assert calls[0]["id"] != calls[1]["id"] and calls[0]["type"] == "function"
    kept, none = parse_tool_calls("<tool_call>not json</tool_call> and <tool_call>{\"name\": \"cut")
    assert none == [] and kept.startswith("<tool_call>not json</tool_call>")  # unreadable or cut: left as text


def test_the_template_lists_the_tools(qwen_tokenizer):
    from transformers import AutoTokenizer

    fmt = get_format(None, AutoTokenizer.from_pretrained(str(qwen_tokenizer)))
    assert fmt.reads_tools
    prompt = fmt.render([Message(role="user", content="Weather in Paris?")], "think", tools=WEATHER)
    assert '"name": "get_weather"' in prompt and "<tool_call>" in prompt
    history = [Message(role="user", content="Weather in Paris?"),
               Message(role="assistant", content="", tool_calls=[{"type": "function", "function": {
                   "name": "get_weather", "arguments": {"city": "Paris"}}}]),
               Message(role="tool", content="sunny", tool_call_id="call_1")]
    again = fmt.render(history, "think", tools=WEATHER)
    assert "<tool_response>\nsunny\n</tool_response>" in again and '"city": "Paris"' in again


def test_the_server_returns_tool_calls_streamed_and_not(servers):
    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.chat.completions.create(model="fake", messages=msgs, tools=WEATHER, max_tokens=64)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Let me check."
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert "w0 w1" in choice.message.model_extra["reasoning_content"]
    parts = list(client.chat.completions.create(model="fake", messages=msgs, tools=WEATHER, max_tokens=64, stream=True))
    content = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert content == "Let me check."  # the call's markup never arrives as text
    calls = [tc for p in parts if p.choices for tc in (p.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].function.name == "get_weather" and calls[0].index == 0
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert [p.choices[0].finish_reason for p in parts if p.choices and p.choices[0].finish_reason] == ["tool_calls"]
    # the tool's answer goes back in the next turn
    follow = msgs + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    assert client.chat.completions.create(model="fake", messages=follow, tools=WEATHER, max_tokens=64).choices


def test_the_other_apis_return_tool_calls_in_their_own_shapes_streamed_and_not(servers):
    """The Responses API's function_call items, Anthropic's tool_use blocks and Ollama's tool_calls, each with
    the call's arguments, streamed and not, and the tool's answer taken back in the next turn."""
    import anthropic
    import ollama

    url, question = servers["raw"].url, "What is the weather in Paris?"
    oa = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
    fn = [{"type": "function", "name": "get_weather", "description": "Weather of a city",
           "parameters": WEATHER[0]["function"]["parameters"]}]
    r = oa.responses.create(model="fake", input=question, tools=fn, max_output_tokens=64)
    assert [o.type for o in r.output] == ["reasoning", "message", "function_call"] and r.output_text == "Let me check."
    call = r.output[2]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"} and call.call_id
    with oa.responses.stream(model="fake", input=question, tools=fn, max_output_tokens=64) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [o.type for o in final.output] == ["reasoning", "message", "function_call"]
    assert "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta") == call.arguments
    follow = [{"role": "user", "content": question}, {"type": "function_call", "call_id": call.call_id,
                                                      "name": call.name, "arguments": call.arguments},
              {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}]
    assert oa.responses.create(model="fake", input=follow, tools=fn, max_output_tokens=64).status == "completed"

    an = anthropic.Anthropic(base_url=url, api_key="none", max_retries=0)
    tools = [{"name": "get_weather", "description": "Weather of a city",
              "input_schema": WEATHER[0]["function"]["parameters"]}]
    m = an.messages.create(model="fake", max_tokens=64, messages=[{"role": "user", "content": question}], tools=tools)
    assert [b.type for b in m.content] == ["thinking", "text", "tool_use"] and m.stop_reason == "tool_use"
    use = m.content[2]
    assert use.name == "get_weather" and use.input == {"city": "Paris"} and use.id.startswith("toolu_")
    with an.messages.stream(model="fake", max_tokens=64, messages=[{"role": "user", "content": question}],
                            tools=tools) as stream:
        streamed = stream.get_final_message()
    assert [b.type for b in streamed.content] == ["thinking", "text", "tool_use"]
    assert streamed.content[2].input == {"city": "Paris"} and streamed.stop_reason == "tool_use"
    answered = [{"role": "user", "content": question}, {"role": "assistant", "content": [b.model_dump() for b in m.content]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 21 C"}]}]
    assert an.messages.create(model="fake", max_tokens=64, messages=answered, tools=tools).content
    with pytest.raises(anthropic.BadRequestError) as e:
        an.messages.create(model="fake", max_tokens=64, messages=[{"role": "user", "content": question}], tools=tools,
                           tool_choice={"type": "any"})
    assert e.value.body["error"]["param"] == "tool_choice"

    ol = ollama.Client(host=url)
    o = ol.chat(model="fake", messages=[{"role": "user", "content": question}], tools=WEATHER, options={"num_predict": 64})
    assert o.message.content == "Let me check." and o.message.tool_calls[0].function.name == "get_weather"
    assert o.message.tool_calls[0].function.arguments == {"city": "Paris"}
    parts = list(ol.chat(model="fake", messages=[{"role": "user", "content": question}], tools=WEATHER, stream=True,
                         options={"num_predict": 64}))
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert len(calls) == 1 and calls[0].function.arguments == {"city": "Paris"}
    assert "".join(p.message.content or "" for p in parts) == "Let me check."
    back = [{"role": "user", "content": question}, {"role": "assistant", "content": "", "tool_calls": [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "sunny, 21 C", "tool_name": "get_weather"}]
    assert ol.chat(model="fake", messages=back, tools=WEATHER, options={"num_predict": 64}).done


def test_what_cannot_be_served_is_refused_naming_why(servers):
    client = openai.OpenAI(base_url=servers["raw"].url + "/v1", api_key="none", max_retries=0)
    msgs = [{"role": "user", "content": "Weather?"}]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="fake", messages=msgs, tools=WEATHER, tool_choice="required")
    assert e.value.body["param"] == "tool_choice"
    with pytest.raises(openai.BadRequestError, match="not a function tool"):
        client.chat.completions.create(model="fake", messages=msgs, tools=[{"type": "function", "function": {}}])
    plain = openai.OpenAI(base_url=servers["plain"].url + "/v1", api_key="none", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="no tool-call format") as e:
        plain.chat.completions.create(model="fake", messages=msgs, tools=WEATHER)
    assert e.value.body["param"] == "tools"


def test_the_cli_takes_tools_too(servers, qwen_tokenizer, tmp_path):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(WEATHER))
    args = ["ask", "Weather in Paris?", "--upstream", servers["engine"].url, "--upstream-model", "fake",
            "--tokenizer", str(qwen_tokenizer), "--tools", str(tools)]
    res = CliRunner().invoke(cli, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["tool_calls"][0]["function"]["name"] == "get_weather"
    res = CliRunner().invoke(cli, args)
    assert 'tool call get_weather({"city": "Paris"})' in res.output
    tools.write_text("{not json")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "--tools" in res.output
