"""What both index adapters promise about revisions (domain/sequencer.py `revision`): a write removes only the
document's chunks of earlier revisions, and a removal with a bound only those below it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from llmops.adapters.aws.opensearch_index import OpenSearchVectorIndex
from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from llmops.domain.models import Chunk
from llmops.domain.sequencer import above_revisions_of, normalise_sequencer, revision
from llmops.ports import VectorIndex
from tests.fakes import FakeOpenSearchClient, chunk_of

OLDER, NEWER = "617F08299329D101", "617F08299329D10301"
QUERY = np.array([1.0, 0.0], dtype=np.float32)


def _chunk(document_id: str, text: str, written: str) -> Chunk:
    return chunk_of(document_id, text, version="v", token_count=2, revision=written)


def _write(index: VectorIndex, document_id: str, text: str, written: str) -> None:
    index.replace_document(document_id, [_chunk(document_id, text, written)], np.array([[1.0, 0.0]]))


def _texts(index: VectorIndex) -> list[str]:
    return sorted(hit.chunk.text for hit in index.search(QUERY, 20))


def _lancedb(tmp_path: Path) -> VectorIndex:
    index = LanceDbVectorIndex(tmp_path)
    index.ensure_index(2)
    return index


def _opensearch(tmp_path: Path) -> VectorIndex:
    index = OpenSearchVectorIndex(FakeOpenSearchClient(), "chunks")  # type: ignore[arg-type]
    index.ensure_index(2)
    return index


ADAPTERS: dict[str, Callable[[Path], VectorIndex]] = {"lancedb": _lancedb, "opensearch (fake client)": _opensearch}


@pytest.fixture(params=list(ADAPTERS))
def index(request: pytest.FixtureRequest, tmp_path: Path) -> VectorIndex:
    return ADAPTERS[request.param](tmp_path)


def test_a_later_write_of_the_same_change_replaces_the_earlier_one(index: VectorIndex) -> None:
    _write(index, "a", "first write", revision(OLDER, 1))
    _write(index, "b", "another document", revision(OLDER, 1))

    _write(index, "a", "second write", revision(OLDER, 2))  # a redrive, or a re-chunking of the same version

    assert _texts(index) == ["another document", "second write"]


def test_a_write_for_an_older_change_never_removes_a_newer_changes_chunks(index: VectorIndex) -> None:
    _write(index, "a", "newer", revision(NEWER, 1))

    _write(index, "a", "older, written late", revision(OLDER, 2))

    assert _texts(index) == ["newer", "older, written late"]  # the ingestion service removes the late one
    assert index.delete_document("a", before=normalise_sequencer(NEWER)) == 1
    assert _texts(index) == ["newer"]


def test_a_bounded_removal_keeps_the_chunks_at_and_above_the_bound(index: VectorIndex) -> None:
    _write(index, "a", "newer", revision(NEWER, 1))
    _write(index, "b", "other document", revision(OLDER, 1))

    assert index.delete_document("a", before=revision(OLDER, 5)) == 0
    assert index.delete_document("a") == 1
    assert _texts(index) == ["other document"]


def test_a_removal_up_to_a_change_keeps_the_named_revision_and_newer_changes(index: VectorIndex) -> None:
    _write(index, "a", "reused by a later identical upload", revision(OLDER, 1))
    index.add_chunks([_chunk("a", "left by an interrupted attempt", revision(OLDER, 2))], np.array([[1.0, 0.0]]))
    index.add_chunks([_chunk("a", "a newer change in flight", revision(NEWER, 3))], np.array([[1.0, 0.0]]))

    removed = index.delete_document("a", before=above_revisions_of(OLDER), keep=revision(OLDER, 1))

    assert removed == 1
    assert _texts(index) == ["a newer change in flight", "reused by a later identical upload"]


def test_a_change_without_a_sequencer_sorts_before_every_known_one() -> None:
    assert revision(None, 99) < revision("0", 1) < revision(OLDER, 1) < normalise_sequencer(NEWER)  # type: ignore[operator]
    assert revision(NEWER, 1) > normalise_sequencer(NEWER)  # type: ignore[operator]
    assert revision(OLDER, 10**19) < above_revisions_of(OLDER) < revision(NEWER, 0)


def test_lancedb_rows_written_before_revisions_existed_are_replaced_by_the_next_write(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            pa.field("vector", pa.list_(pa.float32(), 2)),
            *(pa.field(name, pa.string()) for name in ("document_id", "source_key", "version", "title", "section")),
            *(pa.field(name, pa.int32()) for name in ("position", "page", "token_count")),
            *(pa.field(name, pa.string()) for name in ("text", "content_hash", "embedding_model")),
            pa.field("tags", pa.list_(pa.string())),
        ]
    )  # the chunks table as it was before chunks had a revision
    legacy = _chunk("a", "legacy", "").model_dump(exclude={"revision"})
    lancedb.connect(str(tmp_path)).create_table(TABLE_NAME, schema=schema).add([{**legacy, "vector": [1.0, 0.0]}])
    index = _lancedb(tmp_path)
    assert _texts(index) == ["legacy"]

    _write(index, "a", "current", revision(OLDER, 1))

    assert _texts(index) == ["current"]


def test_opensearch_documents_indexed_before_revisions_existed_are_replaced_and_the_field_is_mapped() -> None:
    client = FakeOpenSearchClient()
    client.indices.create("chunks", {"mappings": {"properties": {"document_id": {"type": "keyword"}}}})
    legacy = _chunk("a", "legacy", "").model_dump(exclude={"revision"})
    client.bulk([{"index": {"_index": "chunks"}}, {**legacy, "vector": [1.0, 0.0]}])
    index = OpenSearchVectorIndex(client, "chunks")  # type: ignore[arg-type]

    index.ensure_index(2)
    _write(index, "a", "current", revision(OLDER, 1))

    assert client.indices.created["chunks"]["mappings"]["properties"]["revision"] == {"type": "keyword"}
    assert _texts(index) == ["current"]
