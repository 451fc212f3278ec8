from __future__ import annotations

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import DocumentRef, DocumentStatus
from tests.fakes import FakeDocumentRegistry, FakeObjectStore, FakeVectorIndex

BUCKET = "docs"


def _service(
    embedder: OnnxMiniLmEmbedder, store: FakeObjectStore, max_bytes: int = 10_000_000
) -> tuple[IngestionService, FakeVectorIndex, FakeDocumentRegistry]:
    index, registry = FakeVectorIndex(), FakeDocumentRegistry()
    service = IngestionService(
        store=store,
        embedder=embedder,
        index=index,
        registry=registry,
        chunker=Chunker(embedder.tokenizer, 120, 16, embedder.model_id),
        limits=IngestionLimits(max_object_bytes=max_bytes, max_chunks_per_document=1000),
    )
    return service, index, registry


def test_given_a_text_object_when_ingested_then_chunks_are_indexed_and_status_is_indexed(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Paris is the capital of France. " * 40})
    service, index, registry = _service(embedder, store)

    result = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))

    assert result.status is DocumentStatus.INDEXED
    assert result.chunk_count == len(index.rows) > 1
    assert [status for _, status, _ in registry.history] == [DocumentStatus.PROCESSING, DocumentStatus.INDEXED]


def test_given_a_new_version_when_ingested_then_old_chunks_are_replaced(embedder: OnnxMiniLmEmbedder) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Old text about llamas. " * 30})
    service, index, _ = _service(embedder, store)
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))

    store.objects["documents/a.txt"] = b"New text about alpacas."
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2"))

    assert {chunk.version for chunk, _ in index.rows} == {"v2"}
    assert [chunk.text for chunk, _ in index.rows] == ["New text about alpacas."]


def test_given_a_deleted_object_when_removed_then_its_chunks_are_gone(embedder: OnnxMiniLmEmbedder) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Some text.", "documents/b.txt": b"Other text."})
    service, index, registry = _service(embedder, store)
    for key in store.objects:
        service.ingest(DocumentRef(bucket=BUCKET, key=key))

    service.remove(DocumentRef(bucket=BUCKET, key="documents/a.txt"))

    assert [chunk.source_key for chunk, _ in index.rows] == ["documents/b.txt"]
    assert registry.last("documents/a.txt")[0] is DocumentStatus.DELETED


def test_given_an_oversize_object_then_it_fails_with_the_limit_and_nothing_is_read(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/big.txt": b"x" * 2048})
    service, index, registry = _service(embedder, store, max_bytes=1024)

    result = service.ingest(DocumentRef(bucket=BUCKET, key="documents/big.txt", size=2048))

    assert result.status is DocumentStatus.FAILED
    assert "MAX_OBJECT_BYTES" in (result.reason or "")
    assert registry.last("documents/big.txt") == (DocumentStatus.FAILED, result.reason)
    assert index.rows == []


def test_given_an_unsupported_format_then_it_fails_with_a_reason_and_others_are_unaffected(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/x.xlsx": b"PK\x03\x04", "documents/ok.md": b"# Title\n\nFine."})
    service, index, _ = _service(embedder, store)

    failed = service.ingest(DocumentRef(bucket=BUCKET, key="documents/x.xlsx"))
    indexed = service.ingest(DocumentRef(bucket=BUCKET, key="documents/ok.md"))

    assert failed.status is DocumentStatus.FAILED and "unsupported format .xlsx" in (failed.reason or "")
    assert indexed.status is DocumentStatus.INDEXED and len(index.rows) == 1


def test_given_an_object_gone_before_ingestion_then_nothing_fails(embedder: OnnxMiniLmEmbedder) -> None:
    service, _, _ = _service(embedder, FakeObjectStore())

    result = service.ingest(DocumentRef(bucket=BUCKET, key="documents/gone.txt"))

    assert result.status is DocumentStatus.DELETED


def test_given_an_unexpected_error_then_it_is_recorded_and_raised_for_retry(embedder: OnnxMiniLmEmbedder) -> None:
    class BrokenIndex(FakeVectorIndex):
        def replace_document(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("collection unreachable")

    store = FakeObjectStore({"documents/a.txt": b"text"})
    service, _, registry = _service(embedder, store)
    service._index = BrokenIndex()

    with pytest.raises(ConnectionError):
        service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt"))
    status, reason = registry.last("documents/a.txt")
    assert status is DocumentStatus.FAILED and "will retry" in (reason or "")


def test_given_identical_content_reuploaded_then_no_chunking_embedding_or_indexing_happens(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Stable content about kites. " * 20})
    service, index, registry = _service(embedder, store)
    first = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))
    writes = index.writes

    again = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2"))

    assert again.unchanged and again.chunk_count == first.chunk_count
    assert index.writes == writes
    assert registry.get(again.document_id).version == "v2"  # the record follows the latest version


def test_given_an_edited_document_then_only_changed_chunks_are_embedded(embedder: OnnxMiniLmEmbedder) -> None:
    from llmops.domain.embedding_cache import CachingEmbedder
    from tests.fakes import FakeEmbeddingCache

    paragraphs = [f"Paragraph {i} explains a different topic about sailing boats and knots." * 3 for i in range(12)]
    store = FakeObjectStore({"documents/a.md": "\n\n".join(paragraphs).encode()})
    caching = CachingEmbedder(embedder, FakeEmbeddingCache())
    service, _, _ = _service(embedder, store)
    service._embedder = caching
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.md", version_id="v1"))
    first_misses = caching.misses

    paragraphs[-1] = "A brand new closing paragraph about lighthouses."
    store.objects["documents/a.md"] = "\n\n".join(paragraphs).encode()
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.md", version_id="v2"))

    assert first_misses > 3
    assert caching.misses - first_misses <= 2
    assert caching.hits >= first_misses - 2


def test_given_the_last_attempt_fails_then_the_reason_says_it_was_dead_lettered(embedder: OnnxMiniLmEmbedder) -> None:
    class BrokenIndex(FakeVectorIndex):
        def replace_document(self, *args: object, **kwargs: object) -> None:
            raise TimeoutError("collection timed out")

    service, _, registry = _service(embedder, FakeObjectStore({"documents/a.txt": b"text"}))
    service._index = BrokenIndex()

    with pytest.raises(TimeoutError):
        service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt"), attempt=3, last_attempt=True)
    status, reason = registry.last("documents/a.txt")
    assert status is DocumentStatus.FAILED
    assert "failed 3 times, moved to the dead-letter queue" in (reason or "")


def test_a_redelivered_version_that_already_settled_is_not_shown_as_queued_again(embedder: OnnxMiniLmEmbedder) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Settled text."})
    service, _, registry = _service(embedder, store)
    ref = DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1")
    service.ingest(ref)

    service.mark_queued(ref)
    service.mark_queued(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2"))

    statuses = [status for key, status, _ in registry.history if key == "documents/a.txt"]
    assert statuses[-2:] == [DocumentStatus.INDEXED, DocumentStatus.QUEUED]
