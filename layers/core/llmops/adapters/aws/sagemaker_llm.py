"""A language model served by a SageMaker endpoint with the Hugging Face TGI container."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import ModelInvocationError, UnsupportedParameters
from llmops.domain.models import Usage
from llmops.ports import Generation, GenerationRequest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient


# The container's status for a request it will not run as it is (a SageMaker ModelError carries it).
_REFUSED_REQUEST = (400, 422)


def tgi_payload(request: GenerationRequest) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "max_new_tokens": request.max_new_tokens,
        "return_full_text": False,
        "details": True,
        "decoder_input_details": True,  # details.prefill lists the prompt's tokens only when asked: the input count
    }
    if request.temperature > 0:
        parameters.update(do_sample=True, temperature=request.temperature)
        if request.top_p is not None and request.top_p < 1:  # TGI refuses 1.0, which means no nucleus cut anyway
            parameters["top_p"] = request.top_p
        if request.top_k is not None:
            parameters["top_k"] = request.top_k
    else:
        # Greedy. TGI samples whenever top_p < 1 or top_k is given, whatever do_sample says, so neither is sent.
        parameters["do_sample"] = False
    if request.stop:
        parameters["stop"] = list(request.stop)
    # TGI takes one string; the system text goes first, as plain instructions.
    inputs = f"{request.system}\n\n{request.user}" if request.system.strip() else request.user
    return {"inputs": inputs, "parameters": parameters}


class SageMakerTgiLanguageModel:
    def __init__(self, client: SageMakerRuntimeClient, endpoint_name: str) -> None:
        if not endpoint_name:
            raise ValueError("LLM_ENDPOINT_NAME is required when LLM_PROVIDER=sagemaker")
        self._client = client
        self._endpoint = endpoint_name

    @property
    def model_id(self) -> str:
        return f"sagemaker:{self._endpoint}"

    def generate(self, request: GenerationRequest) -> Generation:
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint,
                ContentType="application/json",
                Accept="application/json",
                Body=json.dumps(tgi_payload(request)).encode(),
            )
        except ClientError as error:
            if error.response.get("OriginalStatusCode") in _REFUSED_REQUEST:
                # TGI validates the request (at most 4 stop sequences by default, prompt and max_new_tokens within
                # its token limits): the request has to change, retrying will not help.
                message = error.response.get("OriginalMessage") or str(error)
                raise UnsupportedParameters(
                    f"SageMaker endpoint {self._endpoint} refused the request: {message}"
                ) from error
            raise ModelInvocationError(f"SageMaker endpoint {self._endpoint} failed: {error}") from error
        body = json.loads(response["Body"].read())
        first = body[0] if isinstance(body, list) else body
        details = first.get("details") or {}
        return Generation(
            text=first.get("generated_text", ""),
            usage=Usage(
                input_tokens=len(details.get("prefill") or []),
                output_tokens=int(details.get("generated_tokens") or 0),
            ),
        )
