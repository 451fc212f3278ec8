"""Settings refused at cold start, with what to set, rather than failing on the first document."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops.settings import Settings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"EMBEDDING_PROVIDER": "onnx", "EMBEDDING_DIMENSION": 1024}, "all-MiniLM-L6-v2 makes 384"),
        ({"EMBEDDING_PROVIDER": "bedrock"}, "amazon.titan-embed-text-v2:0 makes 256, 512 or 1024"),
    ],
)
def test_an_embedding_dimension_the_model_does_not_make_is_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings",
    [
        {"EMBEDDING_PROVIDER": "onnx"},
        {"EMBEDDING_PROVIDER": "bedrock", "EMBEDDING_DIMENSION": 1024},
        {"EMBEDDING_PROVIDER": "sagemaker", "EMBEDDING_DIMENSION": 768},  # whatever the endpoint's model makes
    ],
)
def test_a_dimension_the_model_makes_is_accepted(settings: dict[str, object]) -> None:
    assert Settings(**settings).embedding_dimension == settings.get("EMBEDDING_DIMENSION", 384)  # type: ignore[arg-type]


def test_a_context_budget_smaller_than_one_chunk_is_refused() -> None:
    with pytest.raises(ValidationError, match="MAX_CONTEXT_TOKENS=50 is smaller than one chunk"):
        Settings(MAX_CONTEXT_TOKENS=50)  # type: ignore[call-arg]
