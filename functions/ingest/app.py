"""Ingest function: S3 Object Created/Deleted events (via EventBridge and SQS) -> index or remove the document."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, field_validator

from llmops.composition import build_ingestion_service
from llmops.domain.ingestion import IngestionService
from llmops.domain.models import DocumentRef, DocumentStatus, IngestionResult
from llmops.domain.sequencer import normalise_sequencer
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings, load_settings

processor = BatchProcessor(event_type=EventType.SQS)


class ObjectChange(BaseModel):
    """One S3 change: the unit of idempotency (a redelivered event for the same version is not processed again)."""

    change: Literal["created", "deleted"]
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None
    attempt: int = 1

    @field_validator("sequencer")
    @classmethod
    def sequencer_in_comparable_form(cls, sequencer: str | None) -> str | None:
        return normalise_sequencer(sequencer)  # a sequencer that is not hex makes the message malformed

    @property
    def folder_marker(self) -> bool:
        """The S3 console's "Create folder" puts an empty object named like a folder: not a document."""
        return self.key.endswith("/")

    @property
    def ref(self) -> DocumentRef:
        return DocumentRef(
            bucket=self.bucket,
            key=self.key,
            version_id=self.version_id,
            etag=self.etag,
            size=self.size,
            sequencer=self.sequencer,
        )


def object_change(record: SQSRecord) -> ObjectChange:
    event = S3EventNotificationEventBridgeModel.model_validate_json(record.body)
    obj = event.detail.object
    return ObjectChange(
        change="deleted" if event.detail_type == "Object Deleted" else "created",
        bucket=event.detail.bucket.name,
        key=obj.key,
        # An unversioned object has no version-id in its event; S3 calls it "null" elsewhere (HEAD, listings).
        version_id=obj.version_id if obj.version_id not in (None, "", "null") else None,
        etag=obj.etag.strip('"') or None,
        size=int(obj.size) if obj.size is not None else None,
        sequencer=obj.sequencer,
        attempt=int(record.attributes.approximate_receive_count or 1),
    )


@cache
def settings() -> Settings:
    return load_settings()


@cache
def ingestion_service() -> IngestionService:
    return build_ingestion_service(settings())


@cache
def idempotency_config() -> IdempotencyConfig:
    # The attempt number is left out of the key: a retry after a failure must run again, a duplicate must not.
    # So is the sequencer: in the versioned bucket every change already has its own version id, and a duplicate
    # delivery carries the same sequencer anyway; ordering is the service's job, not deduplication's.
    return IdempotencyConfig(event_key_jmespath="[change, bucket, key, version_id, etag]", expires_after_seconds=3600)


@cache
def apply_change() -> Callable[..., dict[str, Any]]:
    persistence = DynamoDBPersistenceLayer(table_name=settings().idempotency_table)

    @idempotent_function(data_keyword_argument="change", config=idempotency_config(), persistence_store=persistence)
    def apply(change: ObjectChange) -> dict[str, Any]:
        service = ingestion_service()
        if change.change == "deleted":
            result = service.remove(change.ref)
        else:
            result = service.ingest(
                change.ref, attempt=change.attempt, last_attempt=change.attempt >= settings().ingest_max_attempts
            )
        _emit_metrics(change, result)
        return result.model_dump(mode="json")

    return apply


def _emit_metrics(change: ObjectChange, result: IngestionResult) -> None:
    if result.superseded:
        metrics.add_metric(name="StaleEventsSkipped", unit=MetricUnit.Count, value=1)
    elif change.change == "deleted":
        metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=1)
    elif result.status is DocumentStatus.INDEXED:
        metrics.add_metric(name="DocumentsIndexed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(
            name="ChunksIndexed", unit=MetricUnit.Count, value=0 if result.unchanged else result.chunk_count
        )
    elif result.status is DocumentStatus.FAILED:
        metrics.add_metric(name="DocumentsRejected", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def handle_record(record: SQSRecord, change: ObjectChange | None = None) -> dict[str, Any]:
    # A record the handler could not parse up front is parsed here, inside the batch processor, which reports it.
    change = change if change is not None else object_change(record)
    logger.append_keys(source_key=change.key)
    if change.folder_marker:
        logger.info("Folder marker ignored")
        return {"ignored": "folder marker"}
    return apply_change()(change=change)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency_config().register_lambda_context(context)
    changes = _changes(event)
    uploads = {
        message_id: change.ref
        for message_id, change in changes.items()
        if change.change == "created" and not change.folder_marker
    }
    first = event["Records"][0]["messageId"] if event.get("Records") else None
    for message_id, ref in uploads.items():
        if message_id != first:  # documents further down the batch show `queued` while the first is processed
            ingestion_service().mark_queued(ref)
    following = dict(zip(uploads, list(uploads.values())[1:], strict=False))

    def handle(record: SQSRecord) -> dict[str, Any]:
        # The next upload is read, extracted, chunked and embedded in the background while this record is processed.
        if (upcoming := following.get(record.message_id)) is not None:
            ingestion_service().prefetch(upcoming)
        return handle_record(record, changes.get(record.message_id))

    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def _changes(event: dict[str, Any]) -> dict[str, ObjectChange]:
    """The batch's changes in order, by SQS message id; malformed records are left for the batch processor to
    report."""
    changes: dict[str, ObjectChange] = {}
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            changes[record.message_id] = object_change(record)
        except ValueError:
            continue
    return changes
