"""Embedding models behind an endpoint: a SageMaker endpoint (Hugging Face feature extraction) or Bedrock Titan.

Chunks are still measured with the local MiniLM tokenizer: a conservative count for models with longer windows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from botocore.exceptions import ClientError
from numpy.typing import NDArray

from llmops.domain.errors import ModelInvocationError

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from tokenizers import Tokenizer


def _unit_rows(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


class SageMakerEmbedder:
    def __init__(
        self,
        client: SageMakerRuntimeClient,
        endpoint_name: str,
        dimension: int,
        tokenizer: Tokenizer,
        batch_size: int = 32,
    ) -> None:
        if not endpoint_name:
            raise ValueError("EMBEDDING_ENDPOINT_NAME is required when EMBEDDING_PROVIDER=sagemaker")
        self._client = client
        self._endpoint = endpoint_name
        self._dimension = dimension
        self._tokenizer = tokenizer
        self._batch_size = batch_size

    @property
    def model_id(self) -> str:
        return f"sagemaker:{self._endpoint}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            try:
                response = self._client.invoke_endpoint(
                    EndpointName=self._endpoint,
                    ContentType="application/json",
                    Body=json.dumps({"inputs": batch}).encode(),
                )
            except ClientError as error:
                raise ModelInvocationError(f"embedding endpoint {self._endpoint} failed: {error}") from error
            payload = json.loads(response["Body"].read())
            vectors = payload.get("embeddings", payload) if isinstance(payload, dict) else payload
            rows.extend(_pool(vector) for vector in vectors)
        return _unit_rows(np.asarray(rows, dtype=np.float32).reshape(len(texts), self._dimension))


def _pool(vector: list) -> list[float]:
    """Feature-extraction endpoints may return token vectors; average them into one."""
    array = np.asarray(vector, dtype=np.float32)
    while array.ndim > 1:
        array = array.mean(axis=0)
    return array.tolist()


class BedrockTitanEmbedder:
    def __init__(self, client: BedrockRuntimeClient, model_id: str, dimension: int, tokenizer: Tokenizer) -> None:
        self._client = client
        self._model_id = model_id
        self._dimension = dimension
        self._tokenizer = tokenizer

    @property
    def model_id(self) -> str:
        return f"bedrock:{self._model_id}"

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows = []
        for text in texts:  # Titan embeds one text per call
            try:
                response = self._client.invoke_model(
                    modelId=self._model_id,
                    body=json.dumps({"inputText": text, "dimensions": self._dimension, "normalize": True}),
                )
            except ClientError as error:
                raise ModelInvocationError(f"Bedrock embedding model {self._model_id} failed: {error}") from error
            rows.append(json.loads(response["body"].read())["embedding"])
        return _unit_rows(np.asarray(rows, dtype=np.float32).reshape(len(texts), self._dimension))
