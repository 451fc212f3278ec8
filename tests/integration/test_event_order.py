"""Out-of-order S3 events through the local runtime: a late event for an older version does not undo a newer one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from llmops.domain.models import document_id_for
from llmops.domain.sequencer import normalise_sequencer
from llmops_local.connection import PlatformEndpoints
from llmops_local.documents import document_record
from tests.integration.conftest import wait_for_status, wait_until

KEY = "documents/ordering/ferry.txt"
V1 = b"The harbour ferry to Inchcolm leaves at nine in the morning."
V2 = b"The harbour ferry to Inchcolm leaves at half past ten in the morning."
CAPTURE = "test-event-order-capture"


@pytest.fixture
def s3_events_for_key(endpoints: PlatformEndpoints) -> Iterator[Callable[[], dict[str, str]]]:
    """A second EventBridge rule copies S3's Object Created events for KEY to a queue of the test's own: the very
    bodies the ingest queue received. Returns them by version id."""
    events, sqs = endpoints.client("events"), endpoints.client("sqs")
    queue_url = sqs.create_queue(QueueName=CAPTURE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"object": {"key": [KEY]}}}
    events.put_rule(Name=CAPTURE, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=CAPTURE, Targets=[{"Id": "capture", "Arn": queue_arn}])
    bodies: dict[str, str] = {}

    def received() -> dict[str, str]:
        while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                bodies[json.loads(message["Body"])["detail"]["object"]["version-id"]] = message["Body"]
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    yield received
    events.remove_targets(Rule=CAPTURE, Ids=["capture"])
    events.delete_rule(Name=CAPTURE)
    sqs.delete_queue(QueueUrl=queue_url)


def _ingest_results(endpoints: PlatformEndpoints) -> list[tuple[str, dict[str, Any]]]:
    """The ingest function's stored results for KEY (Powertools idempotency records): (record id, result)."""
    dynamodb = endpoints.client("dynamodb")
    items = dynamodb.scan(
        TableName=endpoints.tables["IdempotencyTable"],
        FilterExpression="contains(#data, :key)",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":key": {"S": KEY}},
    )["Items"]
    return [(item["id"]["S"], json.loads(item["data"]["S"])) for item in items]


def test_given_v2_indexed_when_v1s_event_arrives_again_late_then_the_registry_and_search_keep_v2(
    endpoints: PlatformEndpoints, s3_events_for_key: Callable[[], dict[str, str]]
) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    document_id = document_id_for(bucket, KEY)
    v1 = s3.put_object(Bucket=bucket, Key=KEY, Body=V1)["VersionId"]
    wait_for_status(endpoints, document_id, v1)
    wait_until(lambda: len(_ingest_results(endpoints)) == 1)
    # Forget that v1's event was processed (as its idempotency record does after an hour), so that delivering it
    # again is what a late first delivery is: deduplication cannot catch it, only the sequencer can.
    endpoints.client("dynamodb").delete_item(
        TableName=endpoints.tables["IdempotencyTable"], Key={"id": {"S": _ingest_results(endpoints)[0][0]}}
    )
    v2 = s3.put_object(Bucket=bucket, Key=KEY, Body=V2)["VersionId"]
    indexed = wait_for_status(endpoints, document_id, v2)
    wait_until(lambda: len(_ingest_results(endpoints)) == 1)
    bodies = s3_events_for_key()
    sequencers = {v: normalise_sequencer(json.loads(bodies[v])["detail"]["object"]["sequencer"]) for v in (v1, v2)}

    endpoints.client("sqs").send_message(QueueUrl=endpoints.queues["IngestQueue"], MessageBody=bodies[v1])
    wait_until(lambda: len(_ingest_results(endpoints)) == 2)

    assert sequencers[v1] < sequencers[v2]  # local mode orders changes to a key as S3 does
    late = next(result for _, result in _ingest_results(endpoints) if result["superseded"])
    assert late["reason"].startswith(f"a newer change (sequencer {sequencers[v2]}) has already been applied")
    record = document_record(endpoints, document_id)
    assert record is not None
    assert (record["version"], record["status"], record["updated_at"]) == (v2, "indexed", indexed["updated_at"])
    assert record["sequencer"] == sequencers[v2]
    hits = requests.post(
        f"{endpoints.api_url}/search",
        json={"query": "When does the harbour ferry to Inchcolm leave?", "filters": {"prefix": KEY}},
        timeout=60,
    ).json()["results"]
    assert [hit["chunk"]["text"] for hit in hits] == [V2.decode()]
