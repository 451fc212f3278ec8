"""The document registry in DynamoDB: one item per document, holding the state of its latest version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmops.domain.models import DocumentRef, DocumentStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class DynamoDbDocumentRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(
        self,
        ref: DocumentRef,
        status: DocumentStatus,
        *,
        reason: str | None = None,
        chunk_count: int | None = None,
        embedding_model: str | None = None,
    ) -> None:
        now = datetime.now(UTC).isoformat()
        values: dict[str, Any] = {
            ":bucket": ref.bucket,
            ":key": ref.key,
            ":status": status.value,
            ":now": now,
            ":version": ref.version_id or ref.etag or "unversioned",
        }
        sets = [
            "#bucket = :bucket",
            "source_key = :key",
            "#status = :status",
            "updated_at = :now",
            "version = :version",
        ]
        removes: list[str] = []
        if status is DocumentStatus.PROCESSING:
            sets.append("started_at = :now")
        if ref.size is not None:
            sets.append("size_bytes = :size")
            values[":size"] = ref.size
        if reason is not None:
            sets.append("reason = :reason")
            values[":reason"] = reason
        elif status is not DocumentStatus.FAILED:
            removes.append("reason")
        if chunk_count is not None:
            sets.append("chunk_count = :chunks")
            values[":chunks"] = chunk_count
        if embedding_model is not None:
            sets.append("embedding_model = :model")
            values[":model"] = embedding_model
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        self._table.update_item(
            Key={"document_id": ref.document_id},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#status": "status", "#bucket": "bucket"},
            ExpressionAttributeValues=values,
        )

    def get(self, document_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"document_id": document_id}).get("Item")
