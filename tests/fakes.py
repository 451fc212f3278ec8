"""Test doubles for the ports that cannot run in a unit test. Each is named Fake and lives only here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from llmops.domain.models import Chunk, DocumentRef, DocumentStatus, ScoredChunk, Usage
from llmops.ports import Generation, GenerationRequest, StoredObject


class FakeObjectStore:
    def __init__(self, objects: dict[str, bytes] | None = None, content_types: dict[str, str] | None = None) -> None:
        self.objects = dict(objects or {})
        self.content_types = dict(content_types or {})

    def head_size(self, ref: DocumentRef) -> int:
        from llmops.domain.errors import DocumentNotFound

        if ref.key not in self.objects:
            raise DocumentNotFound(ref.key)
        return len(self.objects[ref.key])

    def get(self, ref: DocumentRef) -> StoredObject:
        from llmops.domain.errors import DocumentNotFound

        if ref.key not in self.objects:
            raise DocumentNotFound(ref.key)
        return StoredObject(
            body=self.objects[ref.key],
            content_type=self.content_types.get(ref.key),
            version_id=ref.version_id,
            etag=None,
        )


class FakeVectorIndex:
    """An in-memory, exact cosine index with the replace/delete semantics the real ones have."""

    def __init__(self) -> None:
        self.rows: list[tuple[Chunk, NDArray[np.float32]]] = []
        self.writes = 0

    def ensure_index(self, dimension: int) -> None:
        self.dimension = dimension

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        self.writes += 1
        versions = {chunk.version for chunk in chunks}
        self.rows = [(c, v) for c, v in self.rows if c.document_id != document_id or c.version in versions]
        self.rows.extend(zip(chunks, vectors, strict=True))

    def delete_document(self, document_id: str) -> int:
        before = len(self.rows)
        self.rows = [(c, v) for c, v in self.rows if c.document_id != document_id]
        return before - len(self.rows)

    def search(self, vector: NDArray[np.float32], k: int) -> list[ScoredChunk]:
        scored = [ScoredChunk(chunk=c, score=float(np.dot(v, vector))) for c, v in self.rows]
        return sorted(scored, key=lambda s: s.score, reverse=True)[:k]


@dataclass
class FakeLanguageModel:
    """Replies with a fixed text and records what it was asked."""

    reply: str = "Python uses indentation to group statements [1]."
    requests: list[GenerationRequest] = field(default_factory=list)

    @property
    def model_id(self) -> str:
        return "fake:echo"

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        return Generation(text=self.reply, usage=Usage(input_tokens=len(request.user.split()), output_tokens=7))


@dataclass
class FakeDocumentRegistry:
    history: list[tuple[str, DocumentStatus, str | None]] = field(default_factory=list)
    chunk_counts: dict[str, int] = field(default_factory=dict)

    def record(
        self,
        ref: DocumentRef,
        status: DocumentStatus,
        *,
        reason: str | None = None,
        chunk_count: int | None = None,
        embedding_model: str | None = None,
    ) -> None:
        self.history.append((ref.key, status, reason))
        if chunk_count is not None:
            self.chunk_counts[ref.key] = chunk_count

    def last(self, key: str) -> tuple[DocumentStatus, str | None]:
        status, reason = next((s, r) for k, s, r in reversed(self.history) if k == key)
        return status, reason
