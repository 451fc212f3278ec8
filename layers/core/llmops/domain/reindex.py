"""Re-indexing the whole corpus into a new index (new chunking or embedding model), then switching readers over
only once it is complete. The old index is kept for rollback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from llmops.domain.errors import DocumentNotFound, DocumentRejected, IndexNotReady
from llmops.domain.ingestion import IngestionService
from llmops.domain.models import DocumentRef, IndexState
from llmops.ports import IndexPointer, VectorIndex, Workflow

logger = logging.getLogger(__name__)


class ReindexService:
    def __init__(
        self,
        pointer: IndexPointer,
        open_index: Callable[[str], VectorIndex],
        ingestion: IngestionService,
        dimension: int,
    ) -> None:
        self._pointer = pointer
        self._open_index = open_index
        self._ingestion = ingestion
        self._dimension = dimension

    def prepare(self, target: str) -> str:
        """Create the new, empty index the pointer says is being built."""
        if self._pointer.current().building != target:
            raise IndexNotReady(f"{target} is not being built (aborted or already switched)")
        self._open_index(target).ensure_index(self._dimension)
        logger.info("Re-index started", extra={"target": target})
        return target

    def index_object(self, target: str, bucket: str, key: str, size: int | None) -> int:
        if self._pointer.current().building != target:
            raise IndexNotReady(f"{target} is not being built (aborted or already switched)")
        try:
            return self._ingestion.index_into(DocumentRef(bucket=bucket, key=key, size=size), self._open_index(target))
        except (DocumentRejected, DocumentNotFound) as skipped:
            # Its registry record already says why; the re-index goes on without it.
            logger.info("Skipped in re-index", extra={"key": key, "reason": str(skipped)})
            return 0

    def switch(self, target: str) -> IndexState:
        state = self._pointer.switch(target)
        logger.info("Readers switched to the new index", extra={"active": state.active, "previous": state.previous})
        return state

    def abort(self, target: str) -> IndexState:
        return self._pointer.abort(target)


class IndexAdmin:
    """What operators do with indexes: look at them, start a re-index, roll back to the previous index."""

    def __init__(
        self,
        pointer: IndexPointer,
        open_index: Callable[[str], VectorIndex],
        workflow: Workflow,
        base_name: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._pointer = pointer
        self._open_index = open_index
        self._workflow = workflow
        self._base_name = base_name
        self._clock = clock

    def status(self) -> dict[str, object]:
        state = self._pointer.current()
        names = sorted(n for n in (state.active, state.building, state.previous) if n)
        return {**state.model_dump(), "chunk_counts": {name: self._open_index(name).count() for name in names}}

    def start_reindex(self) -> tuple[str, str]:
        """Claim the pointer for a new index (at most one build at a time), then start the workflow that fills it.
        Returns the new index's name and the workflow execution's id.

        Writers feed the new index from this moment, so nothing uploaded during the build is missed.
        """
        target = f"{self._base_name}-{self._clock():%Y%m%d%H%M%S}"
        self._pointer.begin(target)
        try:
            return target, self._workflow.start({"target": target}, name=target)
        except Exception:
            self._pointer.abort(target)
            raise

    def rollback(self) -> IndexState:
        return self._pointer.rollback()
