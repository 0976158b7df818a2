import pytest

from thinkgate.gate import resolve_model


@pytest.fixture(scope="session")
def model_dir():
    return resolve_model("tiny")


@pytest.fixture(scope="session")
def backend(model_dir):
    from thinkgate.backends.hf import HFBackend

    return HFBackend(model_dir)


@pytest.fixture(scope="session")
def tokenizer(backend):
    return backend.tokenizer
