from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

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

    del store.objects["documents/a.txt"]
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
        def add_chunks(self, *args: object, **kwargs: object) -> None:
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


def test_given_identical_content_reuploaded_in_a_batch_that_marked_it_queued_then_its_chunks_are_reused(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Stable content about kites. " * 20})
    service, index, _ = _service(embedder, store)
    first = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))
    writes = index.writes
    reupload = DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2")

    service.mark_queued(reupload)  # what a batch does for each upload after its first
    again = service.ingest(reupload)

    assert again.unchanged and again.chunk_count == first.chunk_count
    assert index.writes == writes


def test_given_a_new_version_that_is_rejected_then_the_replaced_versions_chunks_no_longer_answer(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Bertram cleans the aquarium every Saturday. " * 10})
    service, index, registry = _service(embedder, store)
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))
    assert index.rows

    store.objects["documents/a.txt"] = "Caf\u00e9 menu".encode("latin-1")  # not UTF-8: rejected
    failed = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2"))

    assert failed.status is DocumentStatus.FAILED
    assert index.rows == []
    record = registry.get(failed.document_id)
    assert (record.version, record.chunk_count, record.content_hash) == ("v2", 0, "")

    # The first content uploaded again is indexed again, not taken for chunks that are gone.
    store.objects["documents/a.txt"] = b"Bertram cleans the aquarium every Saturday. " * 10
    restored = service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v3"))
    assert not restored.unchanged and restored.chunk_count == len(index.rows) > 0


def test_given_a_deleted_document_uploaded_again_as_it_was_then_it_is_indexed_again(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({"documents/a.txt": b"Stable content about kites. " * 20})
    service, index, _ = _service(embedder, store)
    service.ingest(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v1"))
    text = store.objects.pop("documents/a.txt")
    service.remove(DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v2"))
    store.objects["documents/a.txt"] = text
    back = DocumentRef(bucket=BUCKET, key="documents/a.txt", version_id="v3")

    service.mark_queued(back)
    result = service.ingest(back)

    assert not result.unchanged and result.chunk_count == len(index.rows) > 0


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
        def add_chunks(self, *args: object, **kwargs: object) -> None:
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


# Ordering by S3 sequencer. Real changes to documents/a.txt, in the order S3 made them: PUT v1, DELETE, PUT v2.
KEY = "documents/a.txt"
PUT_V1, DELETE, PUT_V2 = "617F08299329D101", "617F08299329D102", "617F08299329D10301"  # the last is longer
PUT_V0 = "617F08299329D100"
OLD_TEXT, NEW_TEXT = b"The ferry leaves at nine.", b"The ferry leaves at ten."


def _put(version: str, sequencer: str | None) -> DocumentRef:
    return DocumentRef(bucket=BUCKET, key=KEY, version_id=version, sequencer=sequencer)


def _delete(sequencer: str | None) -> DocumentRef:
    return DocumentRef(bucket=BUCKET, key=KEY, version_id="marker", sequencer=sequencer)


def test_given_a_newer_version_indexed_when_an_older_versions_event_arrives_late_then_it_is_skipped(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: NEW_TEXT})
    service, index, registry = _service(embedder, store)
    service.ingest(_put("v2", PUT_V2))
    writes, history = index.writes, list(registry.history)

    # When v1's event arrives after v2's (GetObject by its version id would still return v1's text)
    store.objects[KEY] = OLD_TEXT
    late = service.ingest(_put("v1", PUT_V1))

    assert late.superseded and late.status is DocumentStatus.INDEXED
    assert "a newer change (sequencer 617F08299329D10301" in (late.reason or "")
    assert index.writes == writes and [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]
    assert registry.history == history
    record = registry.get(late.document_id)
    assert (record.version, record.status, record.sequencer) == (
        "v2",
        DocumentStatus.INDEXED,
        _put("v2", PUT_V2).sequencer,
    )


def test_given_an_older_version_permanently_deleted_then_the_current_version_stays_indexed_untouched(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: NEW_TEXT})
    service, index, registry = _service(embedder, store)
    store.current_versions[KEY] = "v2"
    service.ingest(_put("v2", PUT_V2))
    writes = index.writes

    result = service.remove(DocumentRef(bucket=BUCKET, key=KEY, version_id="v1", sequencer=PUT_V2 + "01"))

    assert result.status is DocumentStatus.INDEXED and result.unchanged
    assert index.writes == writes and [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]
    assert registry.get(result.document_id).version == "v2"


def test_given_the_current_version_permanently_deleted_then_the_version_now_current_is_indexed(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: NEW_TEXT})
    service, index, registry = _service(embedder, store)
    service.ingest(_put("v2", PUT_V2))

    store.objects[KEY], store.current_versions[KEY] = OLD_TEXT, "v1"  # v2 is gone: v1 is current again
    result = service.remove(DocumentRef(bucket=BUCKET, key=KEY, version_id="v2", sequencer=PUT_V2 + "01"))

    assert result.status is DocumentStatus.INDEXED
    assert [chunk.text for chunk, _ in index.rows] == [OLD_TEXT.decode()]
    assert registry.get(result.document_id).version == "v1"


def test_given_a_deletion_applied_when_the_creation_before_it_arrives_late_then_the_document_stays_deleted(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: OLD_TEXT})
    service, index, registry = _service(embedder, store)
    del store.objects[KEY]  # deleted: what the late event's version was
    service.remove(_delete(DELETE))
    store.objects[KEY] = OLD_TEXT

    late = service.ingest(_put("v1", PUT_V1))

    assert late.superseded and late.status is DocumentStatus.DELETED
    assert index.rows == [] and index.writes == 0
    assert [status for _, status, _ in registry.history] == [DocumentStatus.DELETED]


def test_given_a_newer_version_indexed_when_an_older_deletion_arrives_late_then_the_newer_version_stays(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    service, index, registry = _service(embedder, FakeObjectStore({KEY: NEW_TEXT}))
    service.ingest(_put("v1", PUT_V1))
    service.ingest(_put("v2", PUT_V2))
    history = list(registry.history)

    late = service.remove(_delete(DELETE))

    assert late.superseded and late.status is DocumentStatus.INDEXED
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]
    assert registry.history == history


def test_changes_with_an_equal_or_newer_sequencer_are_applied(embedder: OnnxMiniLmEmbedder) -> None:
    store = FakeObjectStore({KEY: OLD_TEXT})
    service, index, registry = _service(embedder, store)
    service.ingest(_put("v1", PUT_V1))

    retried = service.ingest(_put("v1", PUT_V1.lower()))  # the same change again: a retry after a failure
    del store.objects[KEY]
    deleted = service.remove(_delete(DELETE))
    store.objects[KEY] = NEW_TEXT
    newer = service.ingest(_put("v2", PUT_V2))

    assert not (retried.superseded or deleted.superseded or newer.superseded)
    assert (retried.status, deleted.status, newer.status) == (
        DocumentStatus.INDEXED,
        DocumentStatus.DELETED,
        DocumentStatus.INDEXED,
    )
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]
    assert registry.get(newer.document_id).sequencer == _put("v2", PUT_V2).sequencer


def test_a_change_without_a_sequencer_is_applied_and_leaves_the_stored_sequencer_as_it_was(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: OLD_TEXT})
    service, index, registry = _service(embedder, store)
    service.ingest(_put("v1", PUT_V1))

    # When a backfill (no version id, no sequencer) re-indexes the object as it is now
    store.objects[KEY] = NEW_TEXT
    backfilled = service.ingest(DocumentRef(bucket=BUCKET, key=KEY))

    assert not backfilled.superseded and backfilled.status is DocumentStatus.INDEXED
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]
    assert registry.get(backfilled.document_id).sequencer == _put("v1", PUT_V1).sequencer


class _RacedIndex(FakeVectorIndex):
    """Another invocation records a newer change for the key while this run writes its chunks."""

    def __init__(self, registry: FakeDocumentRegistry, then_fail: bool = False) -> None:
        super().__init__()
        self.registry, self.then_fail = registry, then_fail

    def add_chunks(self, *args: object, **kwargs: object) -> None:
        super().add_chunks(*args, **kwargs)  # type: ignore[arg-type]
        self.registry.record(_put("v2", PUT_V2), DocumentStatus.PROCESSING)
        if self.then_fail:
            raise ConnectionError("collection unreachable")


def test_given_a_newer_change_recorded_while_an_older_one_was_indexing_then_the_older_one_is_superseded(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    service, _, registry = _service(embedder, FakeObjectStore({KEY: OLD_TEXT}))
    service._index = _RacedIndex(registry)

    result = service.ingest(_put("v1", PUT_V1))

    assert result.superseded and result.status is DocumentStatus.PROCESSING
    record = registry.get(result.document_id)
    assert (record.version, record.status) == ("v2", DocumentStatus.PROCESSING)  # the older run wrote no `indexed`


def test_given_an_older_run_fails_after_a_newer_change_was_recorded_then_it_is_superseded_not_retried(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    service, _, registry = _service(embedder, FakeObjectStore({KEY: OLD_TEXT}))
    service._index = _RacedIndex(registry, then_fail=True)

    result = service.ingest(_put("v1", PUT_V1))  # no ConnectionError: a retry would only be skipped

    assert result.superseded
    record = registry.get(result.document_id)
    assert (record.version, record.status, record.reason) == ("v2", DocumentStatus.PROCESSING, None)


def test_an_older_change_is_not_shown_as_queued_over_a_newer_one(embedder: OnnxMiniLmEmbedder) -> None:
    service, _, registry = _service(embedder, FakeObjectStore({KEY: NEW_TEXT}))
    service.ingest(_put("v2", PUT_V2))
    history = list(registry.history)

    service.mark_queued(_put("v1", PUT_V1))

    assert registry.history == history


# Two invocations for the same key running at once. Each test runs the newer change's whole ingestion at one point
# inside the older change's run (a hook in the shared index), which is how the two interleave on a standard queue.
class _Interleaved(FakeVectorIndex):
    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Callable[[], object]] = {}

    def _run_hook(self, name: str) -> None:
        if hook := self.hooks.pop(name, None):
            hook()

    def add_chunks(self, *args: object, **kwargs: object) -> None:
        self._run_hook("before adding")
        super().add_chunks(*args, **kwargs)  # type: ignore[arg-type]
        self._run_hook("after adding")

    def _remove(self, document_id: str, before: str | None, revision: str | None, keep: str | None = None) -> int:
        self._run_hook("before removing")
        return super()._remove(document_id, before, revision, keep)


def _two_runs(embedder: OnnxMiniLmEmbedder) -> tuple[IngestionService, IngestionService, _Interleaved]:
    older, _, registry = _service(embedder, FakeObjectStore({KEY: OLD_TEXT}))
    newer, _, _ = _service(embedder, FakeObjectStore({KEY: NEW_TEXT}))
    index = _Interleaved()
    older._index = newer._index = index
    newer._registry = registry
    return older, newer, index


@pytest.mark.parametrize("hook", ["before adding", "after adding", "before removing"])
def test_whichever_way_two_runs_for_one_key_interleave_the_index_ends_with_the_recorded_change(
    embedder: OnnxMiniLmEmbedder, hook: str
) -> None:
    older, newer, index = _two_runs(embedder)
    newer_results = []
    index.hooks[hook] = lambda: newer_results.append(newer.ingest(_put("v2", PUT_V2)))

    older_result = older.ingest(_put("v1", PUT_V1))

    assert newer_results[0].status is DocumentStatus.INDEXED and not newer_results[0].superseded
    # Before recording, the older run loses the record and withdraws its chunks; after, the newer run removes them.
    assert older_result.superseded is (hook != "before removing")
    record = older._registry.get(older_result.document_id)
    assert (record.version, record.status) == ("v2", DocumentStatus.INDEXED)
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]


def test_a_deletion_overtaken_by_a_newer_upload_leaves_that_uploads_chunks(embedder: OnnxMiniLmEmbedder) -> None:
    older, newer, index = _two_runs(embedder)
    older.ingest(_put("v1", PUT_V1))
    index.hooks["before removing"] = lambda: newer.ingest(_put("v2", PUT_V2))

    older.remove(_delete(DELETE))  # recorded, then overtaken before its chunks are removed

    record = older._registry.get(_delete(DELETE).document_id)
    assert (record.version, record.status) == ("v2", DocumentStatus.INDEXED)
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]


def test_an_identical_reupload_whose_reused_chunks_were_replaced_meanwhile_indexes_its_content_again(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    # v0 is indexed; then v1 (changed) and v2 (v0's bytes again: a quick revert) run at once, v1 recording its
    # chunks after v2 has read the record (v0 indexed) and before v2 records: v2 finds its content unchanged.
    class HookedStore(FakeObjectStore):
        hook: Callable[[], object] | None = None

        def get(self, ref: DocumentRef) -> Any:
            if ref.version_id == "v2" and (hook := self.hook):
                self.hook = None
                hook()
            return super().get(ref)

    older, newer, index = _two_runs(embedder)
    older._store, newer._store = FakeObjectStore({KEY: NEW_TEXT}), (store := HookedStore({KEY: OLD_TEXT}))
    newer.ingest(_put("v0", PUT_V0))
    store.hook = lambda: older.ingest(_put("v1", PUT_V1))

    reverted = newer.ingest(_put("v2", PUT_V2))

    assert reverted.status is DocumentStatus.INDEXED and not reverted.unchanged  # indexed again, not reused
    record = newer._registry.get(reverted.document_id)
    assert (record.version, record.content_hash) == ("v2", hashlib.sha256(OLD_TEXT).hexdigest())
    assert [chunk.text for chunk, _ in index.rows] == [OLD_TEXT.decode()]


class _FailsOnce(FakeDocumentRegistry):
    """The registry is unreachable for one write of the given status (of the given version, if one is given)."""

    def __init__(self, status: DocumentStatus, version: str | None = None) -> None:
        super().__init__()
        self.failing: DocumentStatus | None = status
        self.version = version

    def record(self, ref: DocumentRef, status: DocumentStatus, update: object = None) -> None:
        if status is self.failing and self.version in (None, ref.version_id):
            self.failing = None
            raise ConnectionError("DynamoDB unreachable")
        super().record(ref, status, update)  # type: ignore[arg-type]


def test_chunks_left_by_an_attempt_that_stopped_before_recording_are_removed_when_its_retry_is_skipped(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    older, newer, index = _two_runs(embedder)
    older._registry = newer._registry = _FailsOnce(DocumentStatus.INDEXED, version="v1")
    index.hooks["before adding"] = lambda: newer.ingest(_put("v2", PUT_V2))
    with pytest.raises(ConnectionError):
        older.ingest(_put("v1", PUT_V1))  # added its chunks after v2's run had ended, then could not record
    assert sorted(chunk.text for chunk, _ in index.rows) == sorted([OLD_TEXT.decode(), NEW_TEXT.decode()])

    retry = older.ingest(_put("v1", PUT_V1), attempt=2)

    assert retry.superseded
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]


def test_a_late_event_keeps_chunks_an_identical_reupload_reused(embedder: OnnxMiniLmEmbedder) -> None:
    service, index, _ = _service(embedder, FakeObjectStore({KEY: OLD_TEXT}))
    service.ingest(_put("v1", PUT_V1))
    service.ingest(_put("v2", PUT_V2))  # the same bytes: v1's chunks stand for v2

    late = service.ingest(_put("v1", PUT_V1))

    assert late.superseded
    assert [chunk.text for chunk, _ in index.rows] == [OLD_TEXT.decode()]


def test_chunks_added_by_an_attempt_that_could_not_record_are_removed_by_its_retry(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({KEY: OLD_TEXT})
    service, index, _ = _service(embedder, store)
    service.ingest(_put("v1", PUT_V1))
    registry = _FailsOnce(DocumentStatus.INDEXED)
    registry.records = dict(service._registry.records)  # v1's record carries over
    service._registry = registry
    store.objects[KEY] = NEW_TEXT
    with pytest.raises(ConnectionError):
        service.ingest(_put("v2", PUT_V2))
    assert len(index.rows) == 2  # v1's, and v2's added before the record failed

    retry = service.ingest(_put("v2", PUT_V2), attempt=2)

    assert retry.status is DocumentStatus.INDEXED
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]


def test_a_retry_that_finds_its_content_recorded_still_removes_the_earlier_versions_chunks(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    class RemovalFailsOnce(FakeVectorIndex):
        failed = False

        def _remove(self, document_id: str, before: str | None, revision: str | None, keep: str | None = None) -> int:
            if not self.failed:
                self.failed = True
                raise ConnectionError("collection unreachable")
            return super()._remove(document_id, before, revision, keep)

    store = FakeObjectStore({KEY: OLD_TEXT})
    service, _, _ = _service(embedder, store)
    service._index = index = RemovalFailsOnce()
    index.failed = True
    service.ingest(_put("v1", PUT_V1))
    index.failed = False
    store.objects[KEY] = NEW_TEXT
    with pytest.raises(ConnectionError):
        service.ingest(_put("v2", PUT_V2))  # recorded as indexed, then the removal of v1's chunks failed

    retry = service.ingest(_put("v2", PUT_V2), attempt=2)

    assert retry.unchanged
    assert [chunk.text for chunk, _ in index.rows] == [NEW_TEXT.decode()]


def test_the_same_version_indexed_again_replaces_its_earlier_chunks(embedder: OnnxMiniLmEmbedder) -> None:
    # A re-delivery after the record failed, a redrive, a backfill after the chunking changed: same version id.
    service, index, _ = _service(embedder, FakeObjectStore({KEY: OLD_TEXT * 40}))
    first = service.ingest(_put("v1", PUT_V1))
    service._chunker = Chunker(embedder.tokenizer, 60, 8, embedder.model_id)  # a new chunking: not "unchanged"

    again = service.ingest(_put("v1", PUT_V1))

    assert again.chunk_count > first.chunk_count
    assert len(index.rows) == again.chunk_count  # no chunk of the first write is left beside the second's
    assert {chunk.revision for chunk, _ in index.rows} == {index.rows[0][0].revision}
