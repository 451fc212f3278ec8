from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from opensearchpy.exceptions import RequestError

from llmops.adapters.aws import opensearch_index
from llmops.adapters.aws.opensearch_index import OpenSearchVectorIndex, index_body
from llmops.domain.models import Chunk
from llmops.domain.sequencer import revision
from tests.fakes import FakeOpenSearchClient, _FakeIndices, chunk_of


def _chunk(document_id: str, version: str, position: int, text: str) -> Chunk:
    written = revision(None, int(version.removeprefix("v")))  # v2's write comes after v1's
    return chunk_of(document_id, text, version=version, position=position, revision=written)


@pytest.fixture
def index() -> tuple[OpenSearchVectorIndex, FakeOpenSearchClient]:
    client = FakeOpenSearchClient()
    adapter = OpenSearchVectorIndex(client, "chunks")  # type: ignore[arg-type]
    adapter.ensure_index(2)
    return adapter, client


def test_the_index_maps_a_faiss_inner_product_vector_and_keyword_ids(
    index: tuple[OpenSearchVectorIndex, FakeOpenSearchClient],
) -> None:
    _, client = index
    properties = client.indices.created["chunks"]["mappings"]["properties"]

    assert properties["vector"]["method"] == {"name": "hnsw", "engine": "faiss", "space_type": "innerproduct"}
    assert properties["vector"]["dimension"] == 2
    assert properties["document_id"]["type"] == "keyword"
    assert properties["text"] == {"type": "text", "analyzer": "english"}  # stemmed, as LanceDB's FTS locally
    assert index_body(384)["settings"]["index"]["knn"] is True


def test_replacing_a_document_keeps_only_the_new_version_and_bulk_writes_once(
    index: tuple[OpenSearchVectorIndex, FakeOpenSearchClient],
) -> None:
    adapter, client = index
    adapter.replace_document("a", [_chunk("a", "v1", 0, "old"), _chunk("a", "v1", 1, "old too")], np.eye(2))
    adapter.replace_document("b", [_chunk("b", "v1", 0, "other")], np.array([[1.0, 0.0]]))
    writes_before = client.bulk_calls

    adapter.replace_document("a", [_chunk("a", "v2", 0, "new")], np.array([[0.0, 1.0]]))

    texts = sorted(d["text"] for d in client.documents.values())
    assert texts == ["new", "other"]
    assert client.bulk_calls - writes_before == 2  # one bulk index, one bulk delete


def test_search_returns_cosine_similarities_from_faiss_scores(
    index: tuple[OpenSearchVectorIndex, FakeOpenSearchClient],
) -> None:
    adapter, _ = index
    adapter.replace_document(
        "a", [_chunk("a", "v1", 0, "x"), _chunk("a", "v1", 1, "y")], np.array([[1.0, 0.0], [-0.6, 0.8]])
    )

    hits = adapter.search(np.array([1.0, 0.0], dtype=np.float32), 2)

    assert [h.chunk.text for h in hits] == ["x", "y"]
    assert [round(h.score, 4) for h in hits] == [1.0, -0.6]


def test_deleting_a_document_removes_all_its_chunks(index: tuple[OpenSearchVectorIndex, FakeOpenSearchClient]) -> None:
    adapter, client = index
    adapter.replace_document("a", [_chunk("a", "v1", 0, "x")], np.array([[1.0, 0.0]]))

    assert adapter.delete_document("a") == 1
    assert client.documents == {}


class _RacedIndices(_FakeIndices):
    """Another cold start makes the index between this one's `exists` and its `create`."""

    def exists(self, index: str) -> bool:
        return False

    def create(self, index: str, body: dict[str, Any]) -> None:
        if index in self.created:
            error = {"error": {"type": "resource_already_exists_exception"}}
            raise RequestError(400, "resource_already_exists_exception", error)
        super().create(index, body)


def test_given_two_cold_starts_racing_to_make_the_index_then_the_second_carries_on() -> None:
    client = FakeOpenSearchClient()
    client.indices = _RacedIndices()
    OpenSearchVectorIndex(client, "chunks").ensure_index(4)  # type: ignore[arg-type]

    OpenSearchVectorIndex(client, "chunks").ensure_index(4)  # type: ignore[arg-type]

    assert client.indices.created["chunks"]["mappings"]["properties"]["vector"]["dimension"] == 4


def test_given_another_refusal_to_make_the_index_then_it_is_raised() -> None:
    class _Refusing(_FakeIndices):
        def create(self, index: str, body: dict[str, Any]) -> None:
            raise RequestError(400, "mapper_parsing_exception", {})

    client = FakeOpenSearchClient()
    client.indices = _Refusing()

    with pytest.raises(RequestError):
        OpenSearchVectorIndex(client, "chunks").ensure_index(4)  # type: ignore[arg-type]


class _LaggingCollection(FakeOpenSearchClient):
    """Serverless without a refresh call: writes and deletes become searchable later. Counts searches, and stops a
    delete that keeps finding the chunks it already deleted."""

    def __init__(self) -> None:
        super().__init__(refresh_lag=True)
        self.searches = 0

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        self.searches += 1
        if self.searches > 20:
            raise AssertionError("the delete keeps searching for chunks it already deleted")
        return super().search(index, body)


def _vectors(count: int) -> np.ndarray:
    return np.tile(np.asarray([[1.0, 0.0]], dtype=np.float32), (count, 1))


def test_given_deletes_not_yet_searchable_then_a_large_document_is_deleted_once_per_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(opensearch_index, "_PAGE", 3)
    client = _LaggingCollection()
    adapter = OpenSearchVectorIndex(client, "chunks")  # type: ignore[arg-type]
    adapter.ensure_index(2)
    adapter.add_chunks([_chunk("doc", "v1", position, f"part {position}") for position in range(7)], _vectors(7))
    client.refresh()

    removed = adapter.delete_document("doc")

    assert removed == 7
    assert client.documents == {}
    assert client.searches == 3  # pages of 3, 3 and 1: none asked again for what it had deleted


def test_given_its_own_write_not_yet_searchable_then_withdrawing_that_write_removes_it() -> None:
    client = _LaggingCollection()
    adapter = OpenSearchVectorIndex(client, "chunks")  # type: ignore[arg-type]
    adapter.ensure_index(2)
    chunks = [_chunk("doc", "v2", position, f"part {position}") for position in range(2)]
    adapter.replace_document("doc", chunks, _vectors(2))  # no refresh: the search cannot see them yet

    removed = adapter.delete_document("doc", revision=chunks[0].revision)

    assert removed == 2
    assert client.documents == {}
