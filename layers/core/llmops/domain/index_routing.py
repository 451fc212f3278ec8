"""Blue/green vector indexes: readers follow the active index; writers also feed the index being built, so
documents uploaded during a re-index are in the new index when it becomes active.

The previous index (kept for a rollback) gets no new chunks: it was built with the chunking and embedding model
being replaced. It does get every removal, so a rollback never brings back a deleted document or the replaced
version of one; documents added or changed since the switch are missing from it until it is rebuilt."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from llmops.domain.models import Chunk, IndexState, ScoredChunk, SearchFilters, TextMatch
from llmops.ports import IndexPointer, VectorIndex


class RoutedVectorIndex:
    def __init__(
        self,
        pointer: IndexPointer,
        open_index: Callable[[str], VectorIndex],
        refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pointer = pointer
        self._open_index = open_index
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._indexes: dict[str, VectorIndex] = {}
        self._state: IndexState | None = None
        self._read_at = 0.0
        self._dimension: int | None = None

    def state(self) -> IndexState:
        # Readers may keep an old pointer for up to `refresh_seconds`: the old index stays whole meanwhile.
        if self._state is None or self._clock() - self._read_at > self._refresh_seconds:
            self._state = self._pointer.current()
            self._read_at = self._clock()
        return self._state

    def index(self, name: str) -> VectorIndex:
        if name not in self._indexes:
            self._indexes[name] = self._open_index(name)
            if self._dimension is not None:
                self._indexes[name].ensure_index(self._dimension)
        return self._indexes[name]

    def _writable(self) -> list[VectorIndex]:
        state = self.state()
        names = [state.active] + ([state.building] if state.building else [])
        return [self.index(name) for name in names]

    def ensure_index(self, dimension: int) -> None:
        self._dimension = dimension
        for index in self._writable():
            index.ensure_index(dimension)

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        for index in self._writable():
            index.replace_document(document_id, chunks, vectors)

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        for index in self._writable():
            index.add_chunks(chunks, vectors)

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        removed = [index.delete_document(document_id, before, revision, keep) for index in self._writable()]
        state = self.state()
        if state.previous and state.previous not in (state.active, state.building):
            self.index(state.previous).delete_document(document_id, before, revision, keep)
        return max(removed, default=0)

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        return self.index(self.state().active).search(vector, k, filters)

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        return self.index(self.state().active).text_search(text, k, filters, query_vector)

    def count(self) -> int:
        return self.index(self.state().active).count()
