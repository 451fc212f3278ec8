"""A language model on Amazon Bedrock, called through the Converse API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import ModelInvocationError, UnsupportedParameters
from llmops.domain.models import Usage
from llmops.ports import Generation, GenerationRequest

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient


# Bedrock's text models take a temperature from 0 to 1; Converse passes a higher one on and the model refuses it.
MAX_TEMPERATURE = 1.0
# Bedrock's cross-region inference profiles prefix a model id with where they route it: us.anthropic.claude-...
_ROUTING_PREFIXES = ("us", "eu", "apac", "us-gov", "ca", "jp", "au", "global")


def model_family(model_id: str) -> tuple[str, str]:
    """(provider, model name) of a Bedrock model id, an inference profile id or a foundation-model ARN:
    `us.anthropic.claude-3-5-haiku-20241022-v1:0` gives ("anthropic", "claude-3-5-haiku-20241022-v1:0"). An id
    that names no provider (a provisioned model or application inference profile ARN) gives ("", id)."""
    name = model_id.rsplit("/", 1)[-1]
    parts = name.split(".")
    if len(parts) > 2 and parts[0] in _ROUTING_PREFIXES:
        parts = parts[1:]
    if len(parts) < 2:
        return "", model_id
    return parts[0], ".".join(parts[1:])


def _additional_fields(model_id: str, request: GenerationRequest) -> dict[str, Any]:
    """Parameters outside Converse's common set, each under the name its model family reads."""
    if request.top_k is None:
        return {}
    provider, name = model_family(model_id)
    if provider == "anthropic":
        return {"top_k": request.top_k}
    if provider == "amazon" and name.startswith("nova"):
        return {"inferenceConfig": {"topK": request.top_k}}
    if provider == "cohere" and name.startswith("command-r"):
        return {"k": request.top_k}
    # Mistral's text-completion models read top_k; its chat models (Large, Small) document none.
    if provider == "mistral" and name.startswith(("mistral-7b", "mixtral-8x7b")):
        return {"top_k": request.top_k}
    raise UnsupportedParameters(
        f"top_k {request.top_k} cannot be sent to Bedrock model {model_id}: the platform passes top_k to Anthropic "
        "Claude, Amazon Nova, Cohere Command R, Mistral 7B and Mixtral 8x7B models; leave top_k out of the prompt's "
        "parameters for this model"
    )


def converse_arguments(model_id: str, request: GenerationRequest) -> dict[str, Any]:
    """Converse's request for `request`; UnsupportedParameters for a parameter the model would refuse, so that the
    prompt's author reads what to change instead of a model error."""
    if request.temperature > MAX_TEMPERATURE:
        raise UnsupportedParameters(
            f"temperature {request.temperature} is above {MAX_TEMPERATURE:g}, the most Bedrock models take"
        )
    if model_family(model_id)[0] == "anthropic" and any(not stop.strip() for stop in request.stop):
        raise UnsupportedParameters(f"Claude models refuse stop sequences of only whitespace ({model_id})")
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
    additional = _additional_fields(model_id, request)
    if additional:
        arguments["additionalModelRequestFields"] = additional
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
