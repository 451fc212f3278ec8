"""Ingestion: one document version in, its chunks indexed, its status recorded.

Events reach ingestion in any order (EventBridge and a standard SQS queue do not keep it), and two invocations for
the same key may run at once. Every change an S3 event names carries its sequencer, and:

- a change older than the one the registry holds for the key is skipped, and every registry write of a change is
  conditional on it (see DocumentRegistry.record), so the record always shows the newest change;
- a run adds its chunks stamped with a revision that orders by sequencer first (domain/sequencer.py), records the
  change, and only then removes the document's chunks of earlier revisions; a newer change's chunks sort above
  and stay. A run that loses the record to a newer change removes the chunks it added, and nothing else.

So whatever the interleaving of two runs, once both end the index holds the chunks of the change the registry
shows; in between, a reader may briefly see both versions, never neither. A run that stops between adding its
chunks and recording (a timeout) leaves them until its retry: a retry that goes on replaces them, and one skipped
because a newer change was recorded meanwhile removes them. An identical re-upload reuses the chunks already
indexed; after recording, it checks that they are still the recorded ones, and indexes its content again if a run
for an older, changed upload replaced them in between.

A batch's next document can be read, extracted, chunked and embedded in the background while the current one is
embedded and written (`prefetch`): that work has no side effects, and `ingest` takes it only for the very same
version, deciding everything else (stale, unchanged, failed) as it would without it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TypeGuard

import numpy as np
from numpy.typing import NDArray

from llmops.domain.chunking import Chunker
from llmops.domain.errors import DocumentNotFound, DocumentRejected, DocumentTooLarge, SupersededChange
from llmops.domain.extraction import extract
from llmops.domain.models import Chunk, DocumentRecord, DocumentRef, DocumentStatus, IngestionResult
from llmops.domain.sequencer import above_revisions_of, is_older, revision
from llmops.ports import DocumentRegistry, Embedder, ObjectStore, RecordUpdate, StoredObject, VectorIndex

logger = logging.getLogger(__name__)

_MARKDOWN_SUFFIXES = {".md", ".markdown"}
_PREFETCH_DEPTH = 2  # documents held prefetched: the one about to be ingested and the one after it


@dataclass(frozen=True)
class _Outcome:
    chunk_count: int
    content_hash: str
    unchanged: bool
    tags: tuple[str, ...]
    revision: str | None  # of the chunks that now stand for the document (None: written before revisions)


@dataclass(frozen=True)
class _Prepared:
    """A document version read and, unless its content matched the registry's record, extracted, chunked and
    embedded (its chunks carry no revision yet: the run that takes them stamps its own). `vectors` is None when
    embedding failed: ingest then embeds the chunks itself and meets the error where it would without prefetch."""

    stored: StoredObject
    content_hash: str
    chunks: list[Chunk] | None
    vectors: NDArray[np.float32] | None = None


@dataclass(frozen=True)
class IngestionLimits:
    max_object_bytes: int
    max_chunks_per_document: int


class IngestionService:
    def __init__(
        self,
        store: ObjectStore,
        embedder: Embedder,
        index: VectorIndex,
        registry: DocumentRegistry,
        chunker: Chunker,
        limits: IngestionLimits,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._clock_ns = clock_ns
        self._store = store
        self._embedder = embedder
        self._index = index
        self._registry = registry
        self._chunker = chunker
        self._limits = limits
        self._index_ready = False
        self._prefetched: dict[DocumentRef, Future[_Prepared]] = {}  # oldest first

    def prefetch(self, ref: DocumentRef) -> None:
        """Start reading, extracting, chunking and embedding `ref` on a background thread, for an `ingest` call to
        come: a batch's next document is prepared while the current one is embedded and written. On two cores this
        takes most of the extraction and chunking time off the batch, and keeps both cores embedding while a
        document's last chunks are embedded and its chunks are written (bench/ingest).

        Nothing is recorded or indexed ahead of `ingest`, which takes the work only for the same version and
        otherwise does it itself, as it does when the prefetch failed. A change the registry shows as overtaken is
        not prefetched, and content matching the registry's record is read but not extracted, as ingest will reuse
        its chunks. At most two documents are held prefetched (a batch calls this for the next document before
        ingesting the current one, whose own prefetch is still waiting); a further call drops the oldest that ingest
        did not take. The registry is read here, on the caller's thread; only the object store and the embedder
        (whose cache, if any, is a thread-safe client) are used from the background.
        """
        previous = self._registry.get(ref.document_id)
        if previous is not None and is_older(ref.sequencer, previous.sequencer):
            return
        prepared: Future[_Prepared] = Future()

        def prepare() -> None:
            try:
                prepared.set_result(self._prepare(ref, previous))
            except BaseException as error:  # handed to ingest, which then does the work itself
                prepared.set_exception(error)

        # A thread per document rather than a pool: it costs little next to a document's work, and needs no
        # shutdown (nor survives a fork half-made).
        threading.Thread(target=prepare, name="ingest-prefetch", daemon=True).start()
        self._prefetched.pop(ref, None)
        while len(self._prefetched) >= _PREFETCH_DEPTH:
            del self._prefetched[next(iter(self._prefetched))]
        self._prefetched[ref] = prepared

    def mark_queued(self, ref: DocumentRef) -> None:
        """Show a document as waiting in its batch, unless this very version has already settled (a redelivery)."""
        previous = self._registry.get(ref.document_id)
        if previous is not None and is_older(ref.sequencer, previous.sequencer):
            return  # a later change is recorded already; this event will be skipped when its turn comes
        version = ref.version_id or ref.etag or "unversioned"
        if previous is not None and previous.version == version and previous.status is not DocumentStatus.QUEUED:
            return
        self._record(ref, DocumentStatus.QUEUED)

    def ingest(
        self, ref: DocumentRef, attempt: int = 1, last_attempt: bool = False, reuse_unchanged: bool = True
    ) -> IngestionResult:
        """Index one document version, replacing the chunks of its earlier version.

        Content identical to what is indexed (same bytes, model, chunking and tags) is not processed again, unless
        `reuse_unchanged` is False.

        A document the platform cannot ingest as it is ends `failed` with the reason; any other error is
        recorded and raised again so that the message is retried and, after its last attempt, dead-lettered.
        A change older (by S3 sequencer) than the one the registry holds is skipped: the result is `superseded`,
        the record is not touched, and from the index only chunks that an earlier attempt of this change left are
        removed.
        """
        started = time.perf_counter()
        previous = self._registry.get(ref.document_id)
        if previous is not None and is_older(ref.sequencer, previous.sequencer):
            self._remove_leftovers(ref, previous)
            return self._superseded(ref, previous)
        # A change S3 did not stamp (a backfill, a hand-made message) re-applies the recorded one, and sorts with it.
        write = revision(ref.sequencer or (previous.sequencer if previous else None), self._clock_ns())
        try:
            outcome = self._index_document(ref, previous if reuse_unchanged else None, attempt, write)
        except SupersededChange:
            # A newer change was recorded after the check above, before this run wrote anything to the index.
            return self._superseded(ref, self._registry.get(ref.document_id))
        except DocumentNotFound:
            # A later version, or a deletion, has overtaken this event; its own event tells the registry.
            logger.info("Object version is gone before it could be ingested", extra={"key": ref.key})
            return IngestionResult(document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.DELETED)
        except DocumentRejected as rejection:
            logger.warning("Document rejected", extra={"key": ref.key, "reason": str(rejection)})
            # No chunks stand for the document any more: an empty hash matches no content.
            emptied = RecordUpdate(reason=str(rejection), chunk_count=0, content_hash="")
            if not self._record(ref, DocumentStatus.FAILED, emptied):
                return self._superseded(ref, self._registry.get(ref.document_id))
            if previous is not None and previous.chunk_count:
                # The version this upload replaced must not go on answering questions: the bucket no longer holds
                # it. Recorded first, as in `remove`, so that only chunks of earlier changes go.
                self._ensure_index()
                removed = self._index.delete_document(ref.document_id, before=write)
                logger.info("Chunks of the replaced version removed", extra={"key": ref.key, "chunks_removed": removed})
            return IngestionResult(
                document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.FAILED, reason=str(rejection)
            )
        except Exception as error:
            reason = (
                f"failed {attempt} times, moved to the dead-letter queue (re-drive it once fixed): {error!r}"
                if last_attempt
                else f"attempt {attempt} failed, will retry: {error!r}"
            )
            if not self._record(ref, DocumentStatus.FAILED, RecordUpdate(reason=reason)):
                # A newer change owns the record: retrying this one would only be skipped, so do not.
                self._withdraw(ref, write)
                return self._superseded(ref, self._registry.get(ref.document_id))
            raise
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        indexed = RecordUpdate(
            chunk_count=outcome.chunk_count,
            content_hash=outcome.content_hash,
            embedding_model=self._embedder.model_id,
            chunking=self._chunker.signature,
            tags=list(outcome.tags),
            duration_ms=duration_ms,
            revision=None if outcome.unchanged else write,
        )
        if not self._record(ref, DocumentStatus.INDEXED, indexed):
            # A newer change was recorded while this run wrote the index: take this run's chunks out again.
            self._withdraw(ref, write)
            return self._superseded(ref, self._registry.get(ref.document_id))
        if outcome.unchanged and self._reused_chunks_replaced(ref, outcome.revision):
            # Between this run's read and its record, a run for an older, changed upload recorded its own chunks
            # in place of the identical ones this run relied on: the index now holds that upload's text.
            logger.info("Indexed chunks changed under an unchanged upload; indexing it again", extra={"key": ref.key})
            return self.ingest(ref, attempt, last_attempt, reuse_unchanged=False)
        # Recorded: now the chunks of earlier revisions go. Only now, as a run that loses the record must not have
        # removed anything; a newer change's chunks sort above this revision and stay. With unchanged content, the
        # chunks of the recorded revision stay, and leftovers of an interrupted earlier run below it go.
        live = outcome.revision
        if live is not None:
            self._index.delete_document(ref.document_id, before=live)
        logger.info(
            "Document indexed",
            extra={"key": ref.key, "chunks": outcome.chunk_count, "unchanged": outcome.unchanged, "ms": duration_ms},
        )
        return IngestionResult(
            document_id=ref.document_id,
            source_key=ref.key,
            status=DocumentStatus.INDEXED,
            chunk_count=outcome.chunk_count,
            unchanged=outcome.unchanged,
        )

    def remove(self, ref: DocumentRef) -> IngestionResult:
        """Remove every chunk of the document; a deletion older than the recorded change is skipped (`superseded`).

        In a versioned bucket a deletion may take out one version and leave the key: then the document is the
        version now current, unchanged if it is the one indexed, and indexed otherwise.
        """
        previous = self._registry.get(ref.document_id)
        if previous is not None and is_older(ref.sequencer, previous.sequencer):
            return self._superseded(ref, previous)
        current = self._store.current_version(ref.bucket, ref.key)
        if current is not None:
            now = DocumentRef(bucket=ref.bucket, key=ref.key, version_id=current.version_id, etag=current.etag,
                              size=current.size, sequencer=ref.sequencer)  # fmt: skip
            logger.info("A version was deleted and the key remains", extra={"key": ref.key, "current": now.version_id})
            version = now.version_id or now.etag or "unversioned"
            if previous is not None and previous.status is DocumentStatus.INDEXED and previous.version == version:
                return IngestionResult(
                    document_id=ref.document_id, source_key=ref.key, status=previous.status,
                    chunk_count=previous.chunk_count or 0, unchanged=True,
                )  # fmt: skip
            return self.ingest(now)
        if not self._record(ref, DocumentStatus.DELETED, RecordUpdate(chunk_count=0, content_hash="")):
            return self._superseded(ref, self._registry.get(ref.document_id))
        self._ensure_index()
        # Recorded first, removed second: a deletion overtaken by a newer upload removes nothing. Once recorded,
        # only chunks of changes made before it go; a newer upload's chunks, already written, stay.
        before = revision(ref.sequencer, self._clock_ns()) if ref.sequencer else None
        removed = self._index.delete_document(ref.document_id, before=before)
        logger.info("Document removed", extra={"key": ref.key, "chunks_removed": removed})
        return IngestionResult(document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.DELETED)

    def _record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> bool:
        """Record the status; False when the registry already holds a later change to the document."""
        try:
            self._registry.record(ref, status, update)
        except SupersededChange:
            return False
        return True

    def _reused_chunks_replaced(self, ref: DocumentRef, reused: str | None) -> bool:
        current = self._registry.get(ref.document_id)
        # A newer change recorded since is that change's run to settle.
        return current is not None and current.revision != reused and not is_older(ref.sequencer, current.sequencer)

    def _withdraw(self, ref: DocumentRef, write: str) -> None:
        """Remove the chunks this run wrote (if it wrote any): its change has been overtaken."""
        if self._index_ready and (removed := self._index.delete_document(ref.document_id, revision=write)):
            logger.info("Chunks of an overtaken change removed", extra={"key": ref.key, "chunks_removed": removed})

    def _remove_leftovers(self, ref: DocumentRef, current: DocumentRecord) -> None:
        """Chunks an earlier attempt of this (now overtaken) change added before it stopped, short of recording (a
        timeout): every revision up to this change's, except the recorded one (an identical re-upload may have
        reused older chunks). Newer changes' chunks sort above the bound and stay. Usually none: one query."""
        if current.revision is None:
            return  # the live chunks predate revisions and cannot be told from leftovers
        self._ensure_index()
        bound = above_revisions_of(ref.sequencer)
        if removed := self._index.delete_document(ref.document_id, before=bound, keep=current.revision):
            logger.info("Chunks left by an interrupted attempt removed", extra={"key": ref.key, "chunks": removed})

    def _superseded(self, ref: DocumentRef, current: DocumentRecord | None) -> IngestionResult:
        """The result of a change skipped because a later one has been applied: the document as that one left it."""
        applied = current.sequencer if current is not None else None
        reason = f"a newer change (sequencer {applied}) has already been applied; this older event was skipped"
        logger.info("Stale event skipped", extra={"key": ref.key, "sequencer": ref.sequencer, "applied": applied})
        return IngestionResult(
            document_id=ref.document_id,
            source_key=ref.key,
            # A later change is recorded whenever a change is superseded, so the record is there to report.
            status=current.status if current is not None else DocumentStatus.QUEUED,
            chunk_count=(current.chunk_count or 0) if current is not None else 0,
            reason=reason,
            superseded=True,
        )

    def _index_document(self, ref: DocumentRef, previous: DocumentRecord | None, attempt: int, write: str) -> _Outcome:
        prepared = self._take_prefetched(ref)
        stored, digest = (prepared.stored, prepared.content_hash) if prepared is not None else self._read(ref)
        self._registry.record(ref, DocumentStatus.PROCESSING, RecordUpdate(attempts=attempt))
        if self._indexed_as_is(previous, digest, stored.tags):
            self._ensure_index()
            return _Outcome(
                chunk_count=previous.chunk_count or 0,
                content_hash=digest,
                unchanged=True,
                tags=stored.tags,
                revision=previous.revision,
            )
        vectors = None
        if prepared is not None and prepared.chunks is not None:
            chunks = [chunk.model_copy(update={"revision": write}) for chunk in prepared.chunks]
            vectors = prepared.vectors
        else:
            chunks = self._chunk(ref, stored, write)
        if vectors is None:
            vectors = self._embedder.embed([chunk.text for chunk in chunks])
        self._ensure_index()
        # Added beside the chunks already there; the older ones go once this change is recorded (see ingest).
        self._index.add_chunks(chunks, vectors)
        return _Outcome(chunk_count=len(chunks), content_hash=digest, unchanged=False, tags=stored.tags, revision=write)

    def index_into(self, ref: DocumentRef, target: VectorIndex) -> int:
        """Re-index one document into `target` (a re-index's new index); returns its chunk count.

        Its chunks sort with the recorded change, so an upload written to both indexes during the build (with a
        newer sequencer) is never removed by it, and replaces it when it comes later.
        """
        recorded = self._registry.get(ref.document_id)
        write = revision(ref.sequencer or (recorded.sequencer if recorded else None), self._clock_ns())
        stored = self._store.get(ref)
        chunks = self._chunk(ref, stored, write)
        target.replace_document(ref.document_id, chunks, self._embedder.embed([chunk.text for chunk in chunks]))
        return len(chunks)

    def _read(self, ref: DocumentRef) -> tuple[StoredObject, str]:
        """The object and the sha256 of its bytes; an object over the size limit is refused before it is read."""
        size = ref.size if ref.size is not None else self._store.head_size(ref)
        if size > self._limits.max_object_bytes:
            raise DocumentTooLarge(
                f"{ref.key} is {size} bytes, over the limit of {self._limits.max_object_bytes} (MAX_OBJECT_BYTES)"
            )
        stored = self._store.get(ref)
        return stored, hashlib.sha256(stored.body).hexdigest()

    def _indexed_as_is(
        self, previous: DocumentRecord | None, digest: str, tags: tuple[str, ...]
    ) -> TypeGuard[DocumentRecord]:
        """Whether the record's chunks already stand for this content: same bytes, model, chunking and tags."""
        return (
            previous is not None
            # QUEUED too: a batch marks its later uploads queued before their turn. The hash is that of the chunks
            # in the index (a rejection or a deletion empties it), whichever status came before.
            and previous.status in (DocumentStatus.INDEXED, DocumentStatus.QUEUED)
            and previous.content_hash == digest
            and previous.embedding_model == self._embedder.model_id
            and previous.chunking == self._chunker.signature
            and (previous.tags or []) == list(tags)  # tags live in metadata: same bytes, new tags
        )

    def _prepare(self, ref: DocumentRef, previous: DocumentRecord | None) -> _Prepared:
        """The prefetch thread's work: read, and unless the content is indexed as it is, extract, chunk and embed."""
        stored, digest = self._read(ref)
        if self._indexed_as_is(previous, digest, stored.tags):
            return _Prepared(stored=stored, content_hash=digest, chunks=None)
        chunks = self._chunk(ref, stored, "")
        try:
            vectors = self._embedder.embed([chunk.text for chunk in chunks])
        except Exception:  # ingest embeds again, and reports any error as it would without prefetch
            logger.info("Embedding ahead failed; ingest will embed", extra={"key": ref.key}, exc_info=True)
            vectors = None
        return _Prepared(stored=stored, content_hash=digest, chunks=chunks, vectors=vectors)

    def _take_prefetched(self, ref: DocumentRef) -> _Prepared | None:
        """The prefetched work for this very version, waiting for it if need be; None if there is none or it failed
        (ingest then does it itself, and meets any error in its usual place)."""
        pending = self._prefetched.pop(ref, None)  # those for other documents stay for their own ingest
        if pending is None:
            return None
        try:
            return pending.result()
        except DocumentRejected:
            raise  # the content itself is refused: reading it again would only meet the same reason
        except Exception:
            logger.info("Prefetch failed; reading the document again", extra={"key": ref.key}, exc_info=True)
            return None

    def _chunk(self, ref: DocumentRef, stored: StoredObject, write: str) -> list[Chunk]:
        document = extract(stored.body, ref.key, stored.content_type)
        return self._chunker.chunk(
            document,
            document_id=ref.document_id,
            source_key=ref.key,
            version=ref.version_id or stored.version_id or ref.etag or stored.etag or "unversioned",
            markdown=PurePosixPath(ref.key).suffix.lower() in _MARKDOWN_SUFFIXES,
            max_chunks=self._limits.max_chunks_per_document,
            tags=stored.tags,
            revision=write,
        )

    def _ensure_index(self) -> None:
        if not self._index_ready:
            self._index.ensure_index(self._embedder.dimension)
            self._index_ready = True
