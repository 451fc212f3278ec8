"""The embedding cache in DynamoDB: one item per (model, chunk hash), the vector as float32 bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_GET_BATCH = 100  # BatchGetItem's limit
_PUT_BATCH = 25  # BatchWriteItem's limit


def _key(model_id: str, content_hash: str) -> str:
    return f"{model_id}#{content_hash}"


class DynamoDbEmbeddingCache:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_many(self, model_id: str, content_hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        found: dict[str, NDArray[np.float32]] = {}
        for start in range(0, len(content_hashes), _GET_BATCH):
            keys: list[dict[str, Any]] = [
                {"cache_key": {"S": _key(model_id, h)}} for h in content_hashes[start : start + _GET_BATCH]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ProjectionExpression": "cache_key, vector"}}
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    content_hash = item["cache_key"]["S"].rsplit("#", 1)[1]
                    found[content_hash] = np.frombuffer(item["vector"]["B"], dtype=np.float32)
                request = dict(response.get("UnprocessedKeys") or {})
        return found

    def put_many(self, model_id: str, vectors: dict[str, NDArray[np.float32]]) -> None:
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "cache_key": {"S": _key(model_id, h)},
                        "vector": {"B": np.asarray(v, dtype=np.float32).tobytes()},
                    }
                }
            }
            for h, v in vectors.items()
        ]
        for start in range(0, len(items), _PUT_BATCH):
            request: dict[str, Any] = {self._table: items[start : start + _PUT_BATCH]}
            while request:
                response = self._client.batch_write_item(RequestItems=request)
                request = dict(response.get("UnprocessedItems") or {})
