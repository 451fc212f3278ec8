"""Document tags: parsed from S3 user metadata, carried by every chunk, stored in the registry record, and
filtered on (all given tags must match) by LanceDB locally and OpenSearch on AWS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import lancedb
import numpy as np
import pytest
from moto import mock_aws
from pydantic import ValidationError

from llmops.adapters.aws.dynamodb_registry import DynamoDbDocumentRegistry
from llmops.adapters.aws.opensearch_index import OpenSearchVectorIndex, _filter_clauses
from llmops.adapters.aws.s3_store import S3ObjectStore
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from llmops.domain.chunking import Chunker
from llmops.domain.errors import DocumentRejected
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import Chunk, DocumentRef, DocumentStatus, SearchFilters
from llmops.domain.tags import InvalidTags, parse_tags
from llmops.ports import RecordUpdate
from tests.fakes import FakeDocumentRegistry, FakeObjectStore, FakeOpenSearchClient, FakeVectorIndex, chunk_of
from tests.lancedb_history import first_release_schema
from tests.unit.test_dynamodb_adapters import _create_table

BUCKET = "docs"


def _chunk(document_id: str, text: str, tags: list[str], version: str = "v1") -> Chunk:
    return chunk_of(document_id, text, version=version, tags=tags)


# Parsing and validation


def test_tags_are_trimmed_lower_cased_and_deduplicated_in_order() -> None:
    assert parse_tags(" HR, policy ,hr,team:eu/west, v1.2=x_y-z ") == ("hr", "policy", "team:eu/west", "v1.2=x_y-z")
    assert parse_tags(None) == ()
    assert parse_tags("   ") == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hr, policy,", ("hr", "policy")),  # a trailing comma
        ("hr,,policy", ("hr", "policy")),
        (" , hr, ,", ("hr",)),
        (",", ()),
    ],
)
def test_given_empty_items_in_the_metadata_then_they_are_ignored(raw: str, expected: tuple[str, ...]) -> None:
    assert parse_tags(raw) == expected


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("hr, pay roll", "'pay roll'"),
        ("hr,, pay roll,", "'pay roll'"),  # ignoring empty items does not excuse the others
        ("x" * 65, "'" + "x" * 65 + "'"),
        ("é", "'é'"),
    ],
)
def test_an_invalid_tag_is_a_rejection_that_names_it(raw: str, named: str) -> None:
    with pytest.raises(InvalidTags) as raised:
        parse_tags(raw)

    assert isinstance(raised.value, DocumentRejected)
    assert named in str(raised.value) and "1 to 64 characters" in str(raised.value)


def test_search_filters_normalise_tags_refuse_invalid_ones_and_count_them_as_a_filter() -> None:
    assert SearchFilters(tags=[" HR", "hr", "Policy"]).tags == ["hr", "policy"]
    assert not SearchFilters(tags=["hr"]).empty
    assert SearchFilters(tags=[]).empty
    with pytest.raises(ValidationError):
        SearchFilters(tags=["x' OR 1=1 --"])
    # A filter is a list the client built, not a comma-separated field: an empty tag in it is a mistake to report.
    with pytest.raises(ValidationError, match="an empty tag"):
        SearchFilters(tags=["hr", " "])


# The S3 adapter and the registry


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_s3_store_reads_tags_from_the_versions_user_metadata(aws: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a.txt", Body=b"x", Metadata={"tags": "HR, policy"})
    s3.put_object(Bucket=BUCKET, Key="b.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="c.txt", Body=b"x", Metadata={"tags": "bad tag"})
    s3.put_object(Bucket=BUCKET, Key="d.txt", Body=b"x", Metadata={"tags": "HR, policy,"})
    store = S3ObjectStore(s3)

    assert store.get(DocumentRef(bucket=BUCKET, key="a.txt")).tags == ("hr", "policy")
    assert store.get(DocumentRef(bucket=BUCKET, key="d.txt")).tags == ("hr", "policy")
    assert store.get(DocumentRef(bucket=BUCKET, key="b.txt")).tags == ()
    with pytest.raises(InvalidTags, match="'bad tag'"):
        store.get(DocumentRef(bucket=BUCKET, key="c.txt"))


def test_dynamodb_registry_keeps_the_indexed_tags(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(_create_table(client, "DocumentsTable"))
    registry = DynamoDbDocumentRegistry(table)
    ref = DocumentRef(bucket=BUCKET, key="a.txt", version_id="v1")

    registry.record(ref, DocumentStatus.INDEXED, RecordUpdate(chunk_count=1, tags=["hr", "policy"]))
    tagged = registry.get(ref.document_id)
    registry.record(ref, DocumentStatus.INDEXED, RecordUpdate(chunk_count=1, tags=[]))
    untagged = registry.get(ref.document_id)

    assert tagged is not None and tagged.tags == ["hr", "policy"]
    assert untagged is not None and untagged.tags == []


# Ingestion


def _service(embedder: OnnxMiniLmEmbedder, store: FakeObjectStore) -> tuple[IngestionService, FakeVectorIndex]:
    index = FakeVectorIndex()
    service = IngestionService(
        store=store,
        embedder=embedder,
        index=index,
        registry=FakeDocumentRegistry(),
        chunker=Chunker(embedder.tokenizer, 120, 16, embedder.model_id),
        limits=IngestionLimits(max_object_bytes=10_000_000, max_chunks_per_document=1000),
    )
    return service, index


def test_every_chunk_carries_its_documents_tags(embedder: OnnxMiniLmEmbedder) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Leave policy for staff. " * 40}, tags={"documents/a.txt": ("hr",)})
    service, index = _service(embedder, store)

    result = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))

    assert result.status is DocumentStatus.INDEXED and len(index.rows) > 1
    assert all(chunk.tags == ["hr"] for chunk, _ in index.rows)


def test_same_bytes_with_changed_tags_are_reindexed_and_same_tags_are_not(embedder: OnnxMiniLmEmbedder) -> None:
    key = "documents/a.txt"
    store = FakeObjectStore({key: b"Leave policy for staff. " * 20}, tags={key: ("hr",)})
    service, index = _service(embedder, store)
    service.ingest(DocumentRef(bucket=BUCKET, key=key, version_id="v1"))

    store.tags[key] = ("hr", "policy")
    retagged = service.ingest(DocumentRef(bucket=BUCKET, key=key, version_id="v2"))
    writes = index.writes
    same = service.ingest(DocumentRef(bucket=BUCKET, key=key, version_id="v3"))

    assert not retagged.unchanged
    assert {tuple(chunk.tags) for chunk, _ in index.rows} == {("hr", "policy")}
    assert same.unchanged and index.writes == writes


def test_a_document_with_an_invalid_tag_fails_with_the_reason(embedder: OnnxMiniLmEmbedder) -> None:
    class RejectingStore(FakeObjectStore):
        def get(self, ref: DocumentRef) -> Any:
            parse_tags("ok, not ok")  # what the S3 adapter does with the version's metadata

    service, index = _service(embedder, RejectingStore({"documents/a.txt": b"text"}))

    result = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))

    assert result.status is DocumentStatus.FAILED and "'not ok'" in (result.reason or "")
    assert index.rows == []


# LanceDB


def test_lancedb_returns_only_chunks_with_every_given_tag(tmp_path: Path) -> None:
    index = LanceDbVectorIndex(tmp_path)
    index.ensure_index(2)
    index.replace_document("a", [_chunk("a", "pumps and valves", ["hr", "policy"])], np.array([[1.0, 0.0]]))
    index.replace_document("b", [_chunk("b", "pumps and pipes", ["hr"])], np.array([[0.8, 0.6]]))
    index.replace_document("c", [_chunk("c", "pumps and hoses", [])], np.array([[0.6, 0.8]]))
    query = np.array([1.0, 0.0], dtype=np.float32)

    def vector_hits(*tags: str) -> set[str]:
        return {h.chunk.document_id for h in index.search(query, 10, SearchFilters(tags=list(tags)))}

    def text_hits(*tags: str) -> set[str]:
        return {m.chunk.document_id for m in index.text_search("pumps", 10, SearchFilters(tags=list(tags)))}

    assert vector_hits("hr") == text_hits("hr") == {"a", "b"}
    assert vector_hits("hr", "policy") == text_hits("hr", "policy") == {"a"}
    assert vector_hits("finance") == text_hits("finance") == set()
    assert vector_hits() == {"a", "b", "c"}
    assert index.search(query, 1)[0].chunk.tags == ["hr", "policy"]


def test_lancedb_table_made_before_tags_gains_the_column_and_keeps_its_rows(tmp_path: Path) -> None:
    old = lancedb.connect(str(tmp_path)).create_table(TABLE_NAME, schema=first_release_schema(2))
    legacy = _chunk("old", "legacy pumps", []).model_dump(exclude={"tags", "revision"})
    old.add([{**legacy, "vector": [1.0, 0.0]}])
    query = np.array([1.0, 0.0], dtype=np.float32)
    reader = LanceDbVectorIndex(tmp_path)

    before = reader.search(query, 10, SearchFilters(tags=["hr"]))  # a reader on the old table: nothing matches
    writer = LanceDbVectorIndex(tmp_path)
    writer.ensure_index(2)
    writer.replace_document("new", [_chunk("new", "new pumps", ["hr"])], np.array([[0.6, 0.8]]))

    assert before == []
    assert "tags" in lancedb.connect(str(tmp_path)).open_table(TABLE_NAME).schema.names
    assert {h.chunk.document_id: h.chunk.tags for h in reader.search(query, 10)} == {"old": [], "new": ["hr"]}
    assert [h.chunk.document_id for h in reader.search(query, 10, SearchFilters(tags=["hr"]))] == ["new"]
    assert [m.chunk.document_id for m in reader.text_search("pumps", 10, SearchFilters(tags=["hr"]))] == ["new"]


# OpenSearch


def test_opensearch_maps_tags_as_keywords_and_requires_every_tag() -> None:
    client = FakeOpenSearchClient()
    index = OpenSearchVectorIndex(client, "chunks")  # type: ignore[arg-type]
    index.ensure_index(2)
    index.replace_document("a", [_chunk("a", "x", ["hr", "policy"])], np.array([[1.0, 0.0]]))
    index.replace_document("b", [_chunk("b", "y", ["hr"])], np.array([[0.0, 1.0]]))

    clauses = _filter_clauses(SearchFilters(prefix="documents/", tags=["hr", "policy"]))

    assert client.indices.created["chunks"]["mappings"]["properties"]["tags"] == {"type": "keyword"}
    assert clauses == [
        {"prefix": {"source_key": "documents/"}},
        {"term": {"tags": "hr"}},
        {"term": {"tags": "policy"}},
    ]
    assert _filter_clauses(SearchFilters(tags=[])) == []
    hits = client.search("chunks", {"query": {"bool": {"filter": clauses[1:]}}, "size": 10})["hits"]["hits"]
    assert [hit["_source"]["document_id"] for hit in hits] == ["a"]
