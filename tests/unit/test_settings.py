"""Settings refused at cold start, with what to set, rather than failing on the first document."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmops.domain.errors import InvalidPrompt
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


def test_fusion_weights_that_are_both_zero_are_refused() -> None:
    with pytest.raises(ValidationError, match="SEARCH_VECTOR_WEIGHT and SEARCH_TEXT_WEIGHT are both 0"):
        Settings(SEARCH_VECTOR_WEIGHT=0, SEARCH_TEXT_WEIGHT=0)  # type: ignore[call-arg]
    assert Settings(SEARCH_TEXT_WEIGHT=0).search_text_weight == 0  # type: ignore[call-arg]


def test_a_context_budget_smaller_than_one_chunk_is_refused() -> None:
    with pytest.raises(ValidationError, match="MAX_CONTEXT_TOKENS=50 is smaller than one chunk"):
        Settings(MAX_CONTEXT_TOKENS=50)  # type: ignore[call-arg]


def test_a_temperature_bedrock_models_refuse_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match=r"LLM_TEMPERATURE=1\.5: Bedrock models take a temperature from 0 to 1"):
        Settings(LLM_PROVIDER="bedrock", LLM_TEMPERATURE=1.5)  # type: ignore[call-arg]
    assert Settings(LLM_PROVIDER="sagemaker", LLM_TEMPERATURE=1.5).llm_temperature == 1.5  # type: ignore[call-arg]


def test_a_prompt_names_the_model_that_answers_it_on_aws_and_local_mode_answers_with_its_own() -> None:
    from llmops.composition import _prompt_model_resolver

    bedrock = _prompt_model_resolver(Settings(LLM_PROVIDER="bedrock", AWS_REGION="us-east-1"))  # type: ignore[call-arg]
    sagemaker = _prompt_model_resolver(Settings(LLM_PROVIDER="sagemaker", AWS_REGION="us-east-1"))  # type: ignore[call-arg]

    assert _prompt_model_resolver(Settings(LLM_PROVIDER="local")) is None  # type: ignore[call-arg]
    assert bedrock is not None and sagemaker is not None
    claude = bedrock("bedrock:anthropic.claude-3-haiku-20240307-v1:0")
    assert claude.model_id == "bedrock:anthropic.claude-3-haiku-20240307-v1:0"
    assert bedrock("anthropic.claude-3-haiku-20240307-v1:0") is claude  # one client per model
    assert sagemaker("llm-canary").model_id == "sagemaker:llm-canary"
    with pytest.raises(InvalidPrompt, match="LLM_PROVIDER is sagemaker: name a SageMaker endpoint"):
        sagemaker("bedrock:anthropic.claude-3-haiku-20240307-v1:0")
