"""The DynamoDB adapters against moto in-process, on tables built from template.yaml's own properties."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from llmops.adapters.aws.dynamodb_embedding_cache import DynamoDbEmbeddingCache
from llmops.adapters.aws.dynamodb_registry import DynamoDbDocumentRegistry
from llmops.domain.errors import SupersededChange
from llmops.domain.models import DocumentRef, DocumentStatus
from llmops.ports import RecordUpdate
from llmops_local.template import load_template

TABLE_ARGUMENTS = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")


def _create_table(client: Any, logical_id: str) -> str:
    properties = TEMPLATE["Resources"][logical_id]["Properties"]
    client.create_table(
        TableName=logical_id,
        **{
            k: v
            for k, v in properties.items()
            if k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
        },
    )
    return logical_id


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def test_registry_lists_by_status_and_prefix_page_by_page(dynamodb: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(_create_table(dynamodb, "DocumentsTable"))
    registry = DynamoDbDocumentRegistry(table)
    for i in range(5):
        registry.record(
            DocumentRef(bucket="b", key=f"documents/a/{i}.txt"), DocumentStatus.FAILED, RecordUpdate(reason="bad")
        )
    registry.record(
        DocumentRef(bucket="b", key="documents/b/ok.txt"), DocumentStatus.INDEXED, RecordUpdate(chunk_count=2)
    )

    first = registry.list(status=DocumentStatus.FAILED, prefix="documents/a/", limit=3)
    second = registry.list(status=DocumentStatus.FAILED, prefix="documents/a/", limit=3, cursor=first.next_cursor)
    everything = registry.list(limit=50)

    assert len(first.records) == 3 and first.next_cursor
    assert len(second.records) == 2
    assert {r.source_key for r in first.records + second.records} == {f"documents/a/{i}.txt" for i in range(5)}
    assert all(r.reason == "bad" for r in first.records)
    assert len(everything.records) == 6


def test_registry_keeps_the_reason_only_while_failed(dynamodb: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(_create_table(dynamodb, "DocumentsTable"))
    registry = DynamoDbDocumentRegistry(table)
    ref = DocumentRef(bucket="b", key="documents/x.txt", version_id="v1", size=10)
    registry.record(ref, DocumentStatus.FAILED, RecordUpdate(reason="attempt 1 failed, will retry"))

    registry.record(ref, DocumentStatus.INDEXED, RecordUpdate(chunk_count=4, duration_ms=12.5, revision="/01"))
    registry.record(ref, DocumentStatus.INDEXED, RecordUpdate(chunk_count=4))  # unchanged: the revision stays

    record = registry.get(ref.document_id)
    assert record is not None
    assert (record.status, record.reason, record.chunk_count, record.size_bytes) == (
        DocumentStatus.INDEXED,
        None,
        4,
        10,
    )
    assert (record.duration_ms, record.revision) == (12.5, "/01")


def test_registry_refuses_a_write_older_than_the_stored_sequencer_and_changes_nothing(dynamodb: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(_create_table(dynamodb, "DocumentsTable"))
    registry = DynamoDbDocumentRegistry(table)
    newer = DocumentRef(bucket="b", key="documents/x.txt", version_id="v2", sequencer="617F08299329D18901")
    registry.record(newer, DocumentStatus.INDEXED, RecordUpdate(chunk_count=3))
    before = table.get_item(Key={"document_id": newer.document_id})["Item"]

    # When a slow run for an older version writes (a shorter sequencer, lower case: still older once normalised)
    older = DocumentRef(bucket="b", key="documents/x.txt", version_id="v1", sequencer="617f08299329d189")
    with pytest.raises(SupersededChange):
        registry.record(older, DocumentStatus.FAILED, RecordUpdate(reason="attempt 1 failed, will retry"))

    assert table.get_item(Key={"document_id": newer.document_id})["Item"] == before
    record = registry.get(newer.document_id)
    assert record is not None and record.sequencer == "617F08299329D18901".ljust(32, "0")


def test_registry_accepts_an_equal_or_newer_sequencer_and_keeps_it_through_writes_without_one(dynamodb: Any) -> None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(_create_table(dynamodb, "DocumentsTable"))
    registry = DynamoDbDocumentRegistry(table)
    first = DocumentRef(bucket="b", key="documents/x.txt", version_id="v1", sequencer="617F08299329D189")
    registry.record(first, DocumentStatus.PROCESSING)

    registry.record(first, DocumentStatus.INDEXED, RecordUpdate(chunk_count=2))  # equal: the same run goes on
    registry.record(DocumentRef(bucket="b", key="documents/x.txt"), DocumentStatus.INDEXED)  # a backfill
    after_backfill = registry.get(first.document_id)
    deleted = DocumentRef(bucket="b", key="documents/x.txt", version_id="m1", sequencer="617F08299329D190")
    registry.record(deleted, DocumentStatus.DELETED, RecordUpdate(chunk_count=0))

    assert after_backfill is not None and after_backfill.sequencer == first.sequencer
    record = registry.get(first.document_id)
    assert record is not None
    assert (record.status, record.version, record.sequencer) == (
        DocumentStatus.DELETED,
        "m1",
        deleted.sequencer,
    )


def test_embedding_cache_round_trips_vectors_beyond_one_batch(dynamodb: Any) -> None:
    cache = DynamoDbEmbeddingCache(dynamodb, _create_table(dynamodb, "EmbeddingCacheTable"))
    vectors = {f"hash{i}": np.full(4, i, dtype=np.float32) for i in range(130)}

    cache.put_many("model-a", vectors)
    found = cache.get_many("model-a", [*vectors, "unknown"])

    assert set(found) == set(vectors)
    assert np.array_equal(found["hash129"], vectors["hash129"])
    assert cache.get_many("model-b", ["hash1"]) == {}
