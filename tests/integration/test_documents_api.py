"""The documents API through the local runtime: listing, lookup, dead-lettering and re-driving."""

from __future__ import annotations

import json

import requests

from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from llmops_local.platform import LocalPlatform
from tests.integration.conftest import wait_for_status, wait_until

MISSING_BUCKET = "llmops-local-not-created-yet"


def _object_created_event(bucket: str, key: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "123456789012",
            "time": "2026-11-21T10:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": 20, "etag": "e1"},
                "request-id": "r1",
                "requester": "123456789012",
                "reason": "PutObject",
            },
        }
    )


def test_documents_are_listed_by_status_and_prefix_and_looked_up_by_id(endpoints: PlatformEndpoints) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    s3.put_object(Bucket=bucket, Key="documents/api/good.txt", Body=b"Herons nest in colonies called heronries.")
    s3.put_object(Bucket=bucket, Key="documents/api/bad.bin", Body=b"\x00\x01")
    good_id = document_id_for(bucket, "documents/api/good.txt")
    wait_for_status(endpoints, good_id)
    wait_for_status(endpoints, document_id_for(bucket, "documents/api/bad.bin"))

    failed = requests.get(
        f"{endpoints.api_url}/documents", params={"status": "failed", "prefix": "documents/api/"}, timeout=30
    ).json()
    one = requests.get(f"{endpoints.api_url}/documents/{good_id}", timeout=30)
    missing = requests.get(f"{endpoints.api_url}/documents/0000", timeout=30)
    invalid = requests.get(f"{endpoints.api_url}/documents", params={"status": "lost"}, timeout=30)

    assert [d["source_key"] for d in failed["documents"]] == ["documents/api/bad.bin"]
    assert "unsupported format .bin" in failed["documents"][0]["reason"]
    assert one.status_code == 200 and one.json()["status"] == "indexed" and one.json()["chunk_count"] == 1
    assert missing.status_code == 404
    assert invalid.status_code == 422


def test_a_message_that_fails_every_attempt_is_dead_lettered_with_its_reason_and_can_be_redriven(
    endpoints: PlatformEndpoints,
) -> None:
    key = "documents/redrive/late.txt"
    document_id = document_id_for(MISSING_BUCKET, key)
    endpoints.client("sqs").send_message(
        QueueUrl=endpoints.queues["IngestQueue"], MessageBody=_object_created_event(MISSING_BUCKET, key)
    )

    def dead_lettered() -> bool:
        record = requests.get(f"{endpoints.api_url}/documents/{document_id}", timeout=30).json()
        return "moved to the dead-letter queue" in (record.get("reason") or "")

    wait_until(dead_lettered, timeout=90)
    # The cause is fixed: the bucket and object now exist.
    s3 = endpoints.client("s3")
    s3.create_bucket(Bucket=MISSING_BUCKET)
    s3.put_object(Bucket=MISSING_BUCKET, Key=key, Body=b"Arrived after its event.")
    wait_until(lambda: _dead_letter_count(endpoints) == 1, timeout=30)

    moved = requests.post(f"{endpoints.api_url}/documents/redrive", json={"limit": 10}, timeout=60).json()

    assert moved == {"moved": 1, "remaining": 0}
    wait_until(lambda: _status(endpoints, document_id) == "indexed", timeout=60)


def test_reuploading_identical_content_is_recorded_as_unchanged_work(
    endpoints: PlatformEndpoints, platform: LocalPlatform
) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    key = "documents/same/twice.txt"
    document_id = document_id_for(bucket, key)
    first = s3.put_object(Bucket=bucket, Key=key, Body=b"Identical bytes, uploaded twice.")
    before = wait_for_status(endpoints, document_id, first["VersionId"])
    second = s3.put_object(Bucket=bucket, Key=key, Body=b"Identical bytes, uploaded twice.")

    after = wait_for_status(endpoints, document_id, second["VersionId"])

    assert after["status"] == "indexed" and after["chunk_count"] == before["chunk_count"]
    assert after["content_hash"] == before["content_hash"]
    # Nothing was re-chunked or re-written: the indexed chunks still carry the first version.
    index = LanceDbVectorIndex(platform.config.home / "vectors")
    rows = index._opened().search().where(f"document_id = '{document_id}'").to_list()
    assert {row["version"] for row in rows} == {first["VersionId"]}


def _status(endpoints: PlatformEndpoints, document_id: str) -> str:
    return str(requests.get(f"{endpoints.api_url}/documents/{document_id}", timeout=30).json()["status"])


def _dead_letter_count(endpoints: PlatformEndpoints) -> int:
    attributes = endpoints.client("sqs").get_queue_attributes(
        QueueUrl=endpoints.queues["IngestDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
