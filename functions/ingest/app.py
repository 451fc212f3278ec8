"""Ingest function: S3 Object Created/Deleted events (via EventBridge and SQS) -> index or remove the document."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from llmops.composition import build_ingestion_service
from llmops.domain.ingestion import IngestionService
from llmops.domain.models import DocumentRef, DocumentStatus
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def ingestion_service() -> IngestionService:
    return build_ingestion_service(Settings())


@tracer.capture_method
def handle_record(record: SQSRecord) -> None:
    event = S3EventNotificationEventBridgeModel.model_validate_json(record.body)
    obj = event.detail.object
    ref = DocumentRef(
        bucket=event.detail.bucket.name,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag.strip('"') or None,
        size=int(obj.size) if obj.size is not None else None,
    )
    logger.append_keys(source_key=ref.key)
    if event.detail_type == "Object Deleted":
        ingestion_service().remove(ref)
        metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=1)
        return
    result = ingestion_service().ingest(ref)
    if result.status is DocumentStatus.INDEXED:
        metrics.add_metric(name="DocumentsIndexed", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="ChunksIndexed", unit=MetricUnit.Count, value=result.chunk_count)
    elif result.status is DocumentStatus.FAILED:
        metrics.add_metric(name="DocumentsRejected", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
