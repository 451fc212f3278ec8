"""A language model on Amazon Bedrock, called through the Converse API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import ModelInvocationError
from llmops.domain.models import Usage
from llmops.ports import Generation, GenerationRequest

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient


def converse_arguments(model_id: str, request: GenerationRequest) -> dict[str, Any]:
    inference: dict[str, Any] = {"maxTokens": request.max_new_tokens, "temperature": request.temperature}
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    arguments: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": "user", "content": [{"text": request.user}]}],
        "inferenceConfig": inference,
    }
    if request.system.strip():  # Converse refuses an empty system text block; a prompt may have no system part
        arguments["system"] = [{"text": request.system}]
    return arguments


class BedrockConverseLanguageModel:
    def __init__(self, client: BedrockRuntimeClient, model_id: str) -> None:
        self._client = client
        self._model_id = model_id

    @property
    def model_id(self) -> str:
        return f"bedrock:{self._model_id}"

    def generate(self, request: GenerationRequest) -> Generation:
        try:
            response = self._client.converse(**converse_arguments(self._model_id, request))
        except ClientError as error:
            raise ModelInvocationError(f"Bedrock model {self._model_id} failed: {error}") from error
        content = response["output"]["message"]["content"]
        usage = response.get("usage", {})
        return Generation(
            text="".join(block.get("text", "") for block in content),
            usage=Usage(input_tokens=usage.get("inputTokens", 0), output_tokens=usage.get("outputTokens", 0)),
        )
