"""The document registry in DynamoDB: one item per document, holding the state of its latest version.

A global secondary index on (status, source_key) serves "all failed documents under a prefix" without a scan.
Writes that carry an S3 sequencer are conditional on it, so a slow run for an older change cannot overwrite the
record of a newer one.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from llmops.domain.errors import InvalidCursor, SupersededChange
from llmops.domain.models import DocumentRecord, DocumentRef, DocumentStatus
from llmops.ports import Page, RecordUpdate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

STATUS_INDEX = "by-status"
_TABLE_KEY = frozenset({"document_id"})
_STATUS_INDEX_KEY = frozenset({"status", "source_key", "document_id"})
_UPDATE_FIELDS = (
    "reason",
    "chunk_count",
    "content_hash",
    "embedding_model",
    "chunking",
    "tags",
    "attempts",
    "duration_ms",
    "revision",
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    plain = {name: (int(v) if isinstance(v, Decimal) else v) for name, v in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def _decode_cursor(cursor: str, status: DocumentStatus | None, prefix: str | None) -> dict[str, Any]:
    """The start key of the page after the one that handed out `cursor`.

    DynamoDB answers a start key that does not fit the table, the index or the query with a ValidationException,
    which would reach the client as a 502. So anything but a key of this same listing is refused here, as a 400.
    """
    invalid = InvalidCursor("invalid pagination cursor: pass back the next_cursor of a previous page")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, RecursionError) as error:  # RecursionError: deeply nested JSON, such as "[[[[..."
        raise invalid from error
    # A scan stops at a table key; a query of the index at the index key plus the table key. All are strings.
    names = _TABLE_KEY if status is None else _STATUS_INDEX_KEY
    if not isinstance(key, dict) or key.keys() != names or not all(isinstance(v, str) and v for v in key.values()):
        raise invalid
    if status is not None and (key["status"] != status.value or not key["source_key"].startswith(prefix or "")):
        raise invalid  # a cursor of another listing, which DynamoDB refuses as outside the query
    return key


def _record(item: dict[str, Any]) -> DocumentRecord:
    plain = {k: (float(v) if isinstance(v, Decimal) else v) for k, v in item.items()}
    for integer in ("size_bytes", "chunk_count", "attempts"):
        if integer in plain:
            plain[integer] = int(plain[integer])
    return DocumentRecord.model_validate(plain)


class DynamoDbDocumentRegistry:
    def __init__(self, table: Table) -> None:
        self._table = table

    def record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> None:
        update = update or RecordUpdate()
        now = _now()
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
        for name in _UPDATE_FIELDS:
            value = getattr(update, name)
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = Decimal(str(value)) if isinstance(value, float) else value
        if update.reason is None and status is not DocumentStatus.FAILED:
            removes.append("reason")
        names = {"#status": "status", "#bucket": "bucket"}
        condition: dict[str, Any] = {}
        if ref.sequencer is not None:
            # Normalised sequencers (fixed width, upper case) order as plain strings, so DynamoDB can compare them.
            sets.append("#sequencer = :sequencer")
            names["#sequencer"] = "sequencer"
            values[":sequencer"] = ref.sequencer
            condition["ConditionExpression"] = "attribute_not_exists(#sequencer) OR #sequencer <= :sequencer"
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._table.update_item(
                Key={"document_id": ref.document_id},
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise SupersededChange(
                    f"{ref.key}: a change later than sequencer {ref.sequencer} is already recorded"
                ) from error
            raise

    def get(self, document_id: str) -> DocumentRecord | None:
        item = self._table.get_item(Key={"document_id": document_id}, ConsistentRead=True).get("Item")
        return _record(item) if item else None

    def list(
        self,
        *,
        status: DocumentStatus | None = None,
        prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        arguments: dict[str, Any] = {"Limit": limit}
        if cursor:
            arguments["ExclusiveStartKey"] = _decode_cursor(cursor, status, prefix)
        if status is not None:
            condition: Any = Key("status").eq(status.value)
            if prefix:
                condition = condition & Key("source_key").begins_with(prefix)
            response = self._table.query(IndexName=STATUS_INDEX, KeyConditionExpression=condition, **arguments)
        else:
            if prefix:
                arguments["FilterExpression"] = Attr("source_key").begins_with(prefix)
            response = self._table.scan(**arguments)
        return Page(
            records=[_record(item) for item in response.get("Items", [])],
            next_cursor=_encode_cursor(response.get("LastEvaluatedKey")),
        )
