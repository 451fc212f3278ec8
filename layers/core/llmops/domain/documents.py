"""What operators ask of the document registry: list, look up, and re-drive what was dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass

from llmops.domain.errors import DocumentNotFound
from llmops.domain.models import DocumentRecord, DocumentStatus
from llmops.ports import DeadLetters, DocumentRegistry, Page

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class RedriveResult:
    moved: int
    remaining: int


class DocumentCatalog:
    def __init__(self, registry: DocumentRegistry, dead_letters: DeadLetters) -> None:
        self._registry = registry
        self._dead_letters = dead_letters

    def list(self, *, status: DocumentStatus | None, prefix: str | None, limit: int, cursor: str | None) -> Page:
        return self._registry.list(status=status, prefix=prefix, limit=min(limit, MAX_PAGE_SIZE), cursor=cursor)

    def get(self, document_id: str) -> DocumentRecord:
        record = self._registry.get(document_id)
        if record is None:
            raise DocumentNotFound(f"no document with id {document_id}")
        return record

    def redrive(self, limit: int) -> RedriveResult:
        moved = self._dead_letters.redrive(limit)
        return RedriveResult(moved=moved, remaining=self._dead_letters.count())
