"""Ingestion: one document version in, its chunks indexed, its status recorded."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import PurePosixPath

from aws_lambda_powertools import Logger

from llmops.domain.chunking import Chunker
from llmops.domain.errors import DocumentNotFound, DocumentRejected, DocumentTooLarge
from llmops.domain.extraction import extract
from llmops.domain.models import DocumentRef, DocumentStatus, IngestionResult
from llmops.ports import DocumentRegistry, Embedder, ObjectStore, VectorIndex

logger = Logger(child=True)

_MARKDOWN_SUFFIXES = {".md", ".markdown"}


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
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._index = index
        self._registry = registry
        self._chunker = chunker
        self._limits = limits
        self._index_ready = False

    def ingest(self, ref: DocumentRef) -> IngestionResult:
        """Index one document version, replacing the chunks of its earlier version.

        A document the platform cannot ingest as it is ends `failed` with the reason; any other error is
        recorded and raised again so that the message is retried and, in the end, dead-lettered.
        """
        started = time.perf_counter()
        self._registry.record(ref, DocumentStatus.PROCESSING)
        try:
            chunk_count = self._index_document(ref)
        except DocumentNotFound:
            logger.info("Object is gone before it could be ingested", extra={"key": ref.key})
            return IngestionResult(document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.DELETED)
        except DocumentRejected as rejection:
            logger.warning("Document rejected", extra={"key": ref.key, "reason": str(rejection)})
            self._registry.record(ref, DocumentStatus.FAILED, reason=str(rejection))
            return IngestionResult(
                document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.FAILED, reason=str(rejection)
            )
        except Exception as error:
            self._registry.record(ref, DocumentStatus.FAILED, reason=f"internal error, will retry: {error!r}")
            raise
        self._registry.record(
            ref, DocumentStatus.INDEXED, chunk_count=chunk_count, embedding_model=self._embedder.model_id
        )
        logger.info(
            "Document indexed",
            extra={"key": ref.key, "chunks": chunk_count, "seconds": round(time.perf_counter() - started, 3)},
        )
        return IngestionResult(
            document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.INDEXED, chunk_count=chunk_count
        )

    def remove(self, ref: DocumentRef) -> IngestionResult:
        self._ensure_index()
        removed = self._index.delete_document(ref.document_id)
        self._registry.record(ref, DocumentStatus.DELETED, chunk_count=0)
        logger.info("Document removed", extra={"key": ref.key, "chunks_removed": removed})
        return IngestionResult(document_id=ref.document_id, source_key=ref.key, status=DocumentStatus.DELETED)

    def _index_document(self, ref: DocumentRef) -> int:
        size = ref.size if ref.size is not None else self._store.head_size(ref)
        if size > self._limits.max_object_bytes:
            raise DocumentTooLarge(
                f"{ref.key} is {size} bytes, over the limit of {self._limits.max_object_bytes} (MAX_OBJECT_BYTES)"
            )
        stored = self._store.get(ref)
        document = extract(stored.body, ref.key, stored.content_type)
        chunks = self._chunker.chunk(
            document,
            document_id=ref.document_id,
            source_key=ref.key,
            version=ref.version_id or stored.version_id or ref.etag or stored.etag or "unversioned",
            markdown=PurePosixPath(ref.key).suffix.lower() in _MARKDOWN_SUFFIXES,
            max_chunks=self._limits.max_chunks_per_document,
        )
        vectors = self._embedder.embed([chunk.text for chunk in chunks])
        self._ensure_index()
        self._index.replace_document(ref.document_id, chunks, vectors)
        return len(chunks)

    def _ensure_index(self) -> None:
        if not self._index_ready:
            self._index.ensure_index(self._embedder.dimension)
            self._index_ready = True
