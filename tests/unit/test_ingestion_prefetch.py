"""IngestionService.prefetch: a batch's next document is read, extracted, chunked and embedded in the background, and
ingest takes that work only for the same version, with the same result as without it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import Chunk, DocumentRecord, DocumentRef, DocumentStatus
from llmops.ports import Embedder, RecordUpdate, StoredObject
from tests.fakes import FakeDocumentRegistry, FakeObjectStore, FakeVectorIndex

BUCKET = "docs"
KEY = "documents/a.txt"
TEXT = b"Lighthouses guide ships along the coast at night. " * 60  # several chunks


class _WatchedStore(FakeObjectStore):
    """Counts reads, notes their threads, and fails the first `failures` reads."""

    def __init__(self, objects: dict[str, bytes], failures: int = 0) -> None:
        super().__init__(objects)
        self.read_threads: list[str] = []
        self._failures = failures

    def get(self, ref: DocumentRef) -> StoredObject:
        self.read_threads.append(threading.current_thread().name)
        if self._failures:
            self._failures -= 1
            raise ConnectionError("S3 reset the connection")
        return super().get(ref)


class _WatchedEmbedder:
    """The real embedder, noting the thread of each embed() call and failing the first `failures` calls."""

    def __init__(self, inner: OnnxMiniLmEmbedder, failures: int = 0) -> None:
        self._inner = inner
        self._failures = failures
        self.model_id, self.dimension, self.tokenizer = inner.model_id, inner.dimension, inner.tokenizer
        self.threads: list[str] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.threads.append(threading.current_thread().name)
        if self._failures:
            self._failures -= 1
            raise RuntimeError("the embedding endpoint timed out")
        return self._inner.embed(texts)


class _MainThreadRegistry(FakeDocumentRegistry):
    """Refuses use from any thread but the test's: registry adapters need not be thread-safe."""

    def _on_main_thread(self) -> None:
        assert threading.current_thread() is threading.main_thread(), "registry used from a background thread"

    def record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> None:
        self._on_main_thread()
        super().record(ref, status, update)

    def get(self, document_id: str) -> DocumentRecord | None:
        self._on_main_thread()
        return super().get(document_id)


class _SignallingChunker(Chunker):
    """Counts chunking runs and signals the end of each, so a test can wait for the prefetch thread."""

    def __init__(self, embedder: OnnxMiniLmEmbedder) -> None:
        super().__init__(embedder.tokenizer, 120, 16, embedder.model_id)
        self.runs = 0
        self.done = threading.Event()

    def chunk(self, *args: Any, **kwargs: Any) -> list[Chunk]:
        try:
            return super().chunk(*args, **kwargs)
        finally:
            self.runs += 1
            self.done.set()


def _service(
    embedder: OnnxMiniLmEmbedder,
    store: FakeObjectStore,
    max_bytes: int = 10_000_000,
    embedding: Embedder | None = None,  # what the service embeds with, when not `embedder` itself
) -> tuple[IngestionService, FakeVectorIndex, _MainThreadRegistry, _SignallingChunker]:
    index, registry, chunker = FakeVectorIndex(), _MainThreadRegistry(), _SignallingChunker(embedder)
    service = IngestionService(
        store=store,
        embedder=embedding or embedder,
        index=index,
        registry=registry,
        chunker=chunker,
        limits=IngestionLimits(max_object_bytes=max_bytes, max_chunks_per_document=1000),
    )
    return service, index, registry, chunker


def _ref(version: str, sequencer: str | None = None) -> DocumentRef:
    return DocumentRef(bucket=BUCKET, key=KEY, version_id=version, sequencer=sequencer)


def _texts(index: FakeVectorIndex) -> list[tuple[int, str]]:
    return sorted((chunk.position, chunk.text) for chunk, _ in index.rows)


def test_a_prefetched_document_is_prepared_in_the_background_and_indexed_as_it_would_be_without(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = _WatchedStore({KEY: TEXT})
    service, index, registry, chunker = _service(embedder, store)
    plain, plain_index, _, _ = _service(embedder, FakeObjectStore({KEY: TEXT}))

    service.prefetch(_ref("v1"))
    assert chunker.done.wait(timeout=30)
    assert registry.history == [] and index.rows == []  # nothing recorded or indexed ahead of ingest
    result = service.ingest(_ref("v1"))
    plain.ingest(_ref("v1"))

    assert result.status is DocumentStatus.INDEXED and result.chunk_count > 2
    assert store.read_threads == ["ingest-prefetch"]  # read once, in the background
    assert chunker.runs == 1
    assert _texts(index) == _texts(plain_index)
    record = registry.get(result.document_id)
    assert record is not None and record.revision
    assert {chunk.revision for chunk, _ in index.rows} == {record.revision}  # stamped by the run that took them
    assert [status for _, status, _ in registry.history] == [DocumentStatus.PROCESSING, DocumentStatus.INDEXED]


def test_a_prefetched_document_is_embedded_in_the_background_and_not_again_by_ingest(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    watched = _WatchedEmbedder(embedder)
    service, index, _, _ = _service(embedder, FakeObjectStore({KEY: TEXT}), embedding=watched)
    plain, plain_index, _, _ = _service(embedder, FakeObjectStore({KEY: TEXT}))

    service.prefetch(_ref("v1"))
    service.ingest(_ref("v1"))
    plain.ingest(_ref("v1"))

    assert watched.threads == ["ingest-prefetch"]
    ahead = {chunk.position: vector for chunk, vector in index.rows}
    inline = {chunk.position: vector for chunk, vector in plain_index.rows}
    assert ahead.keys() == inline.keys()
    assert all(np.allclose(ahead[position], inline[position], atol=1e-6) for position in inline)


def test_a_failed_embedding_ahead_is_done_again_by_ingest_from_the_prefetched_chunks(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    watched = _WatchedEmbedder(embedder, failures=1)
    service, index, _, chunker = _service(embedder, FakeObjectStore({KEY: TEXT}), embedding=watched)

    service.prefetch(_ref("v1"))
    result = service.ingest(_ref("v1"))

    assert result.status is DocumentStatus.INDEXED
    assert watched.threads == ["ingest-prefetch", "MainThread"]
    assert chunker.runs == 1  # the chunks made ahead were kept
    assert len(index.rows) == result.chunk_count > 2


def test_an_embedding_error_is_met_by_ingest_as_without_prefetch(embedder: OnnxMiniLmEmbedder) -> None:
    watched = _WatchedEmbedder(embedder, failures=2)  # ahead, then again in ingest
    service, index, registry, _ = _service(embedder, FakeObjectStore({KEY: TEXT}), embedding=watched)

    service.prefetch(_ref("v1"))
    with pytest.raises(RuntimeError, match="timed out"):  # raised again, for the message to be retried
        service.ingest(_ref("v1"))

    record = registry.get(_ref("v1").document_id)
    assert record is not None and record.status is DocumentStatus.FAILED
    assert "will retry" in (record.reason or "") and "timed out" in (record.reason or "")
    assert index.rows == []


def test_a_batch_prefetching_each_next_document_reads_all_but_the_first_in_the_background(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    keys = [f"documents/{name}.txt" for name in "abcd"]
    store = _WatchedStore({key: f"Buoy {key} marks the channel.".encode() for key in keys})
    service, index, _, _ = _service(embedder, store)
    batch = [DocumentRef(bucket=BUCKET, key=key, version_id="v1") for key in keys]

    for position, ref in enumerate(batch):  # as the ingest function takes a batch
        if position + 1 < len(batch):
            service.prefetch(batch[position + 1])
        service.ingest(ref)

    assert sorted(store.read_threads) == ["MainThread"] + ["ingest-prefetch"] * 3
    assert sorted(chunk.source_key for chunk, _ in index.rows) == keys


def test_at_most_two_prefetched_documents_are_held(embedder: OnnxMiniLmEmbedder) -> None:
    keys = [f"documents/{name}.txt" for name in "abc"]
    store = _WatchedStore(dict.fromkeys(keys, b"Tides turn twice a day."))
    service, _, _, _ = _service(embedder, store)
    refs = [DocumentRef(bucket=BUCKET, key=key, version_id="v1") for key in keys]

    for ref in refs:
        service.prefetch(ref)
    for ref in refs:
        service.ingest(ref)

    # the oldest was dropped and read again by its own ingest; the other two were taken
    assert store.read_threads.count("ingest-prefetch") == 3
    assert store.read_threads.count("MainThread") == 1


def test_identical_content_is_read_ahead_but_not_chunked_again(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({KEY: TEXT})
    service, index, _, chunker = _service(embedder, store)
    service.ingest(_ref("v1"))
    writes, runs = index.writes, chunker.runs

    service.prefetch(_ref("v2"))
    again = service.ingest(_ref("v2"))

    assert again.unchanged
    assert chunker.runs == runs and index.writes == writes
    assert store.read_threads == ["MainThread", "ingest-prefetch"]


def test_a_failed_prefetch_is_done_again_by_ingest(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({KEY: TEXT}, failures=1)
    service, index, _, _ = _service(embedder, store)

    service.prefetch(_ref("v1"))
    result = service.ingest(_ref("v1"))

    assert result.status is DocumentStatus.INDEXED and len(index.rows) == result.chunk_count
    assert store.read_threads == ["ingest-prefetch", "MainThread"]


def test_a_rejected_document_fails_with_its_reason_whether_prefetched_or_not(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({"documents/x.xlsx": b"PK\x03\x04"})
    service, index, registry, _ = _service(embedder, store)
    ref = DocumentRef(bucket=BUCKET, key="documents/x.xlsx")

    service.prefetch(ref)
    result = service.ingest(ref)

    assert result.status is DocumentStatus.FAILED and "unsupported format .xlsx" in (result.reason or "")
    assert registry.last("documents/x.xlsx") == (DocumentStatus.FAILED, result.reason)
    assert index.rows == []
    assert store.read_threads == ["ingest-prefetch"]  # refused content is not read a second time


def test_work_prefetched_for_another_version_is_not_used(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({KEY: TEXT})
    service, index, _, chunker = _service(embedder, store)
    service.prefetch(_ref("v1"))
    assert chunker.done.wait(timeout=30)

    store.objects[KEY] = b"The lighthouse was automated in 1990."
    service.ingest(_ref("v2"))

    assert _texts(index) == [(0, "The lighthouse was automated in 1990.")]
    assert {chunk.version for chunk, _ in index.rows} == {"v2"}


def test_a_change_the_registry_shows_overtaken_is_not_read_ahead(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({KEY: TEXT})
    service, _, _, _ = _service(embedder, store)
    service.ingest(_ref("v2", sequencer="617F08299329D102"))

    service.prefetch(_ref("v1", sequencer="617F08299329D101"))
    late = service.ingest(_ref("v1", sequencer="617F08299329D101"))

    assert late.superseded
    assert store.read_threads == ["MainThread"]


def test_an_oversize_document_is_not_read_ahead(embedder: OnnxMiniLmEmbedder) -> None:
    store = _WatchedStore({KEY: TEXT})
    service, index, _, _ = _service(embedder, store, max_bytes=1024)
    ref = DocumentRef(bucket=BUCKET, key=KEY, version_id="v1", size=len(TEXT))

    service.prefetch(ref)
    result = service.ingest(ref)

    assert result.status is DocumentStatus.FAILED and "MAX_OBJECT_BYTES" in (result.reason or "")
    assert store.read_threads == [] and index.rows == []
