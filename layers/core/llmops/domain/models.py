"""Domain value objects shared by ingestion and question answering."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.domain.sequencer import normalise_sequencer
from llmops.domain.tags import InvalidTags, normalise_tags


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class DocumentRef(Frozen):
    """Where a document version lives in the object store."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = Field(
        default=None,
        description="S3 sequencer of the change that named this version (normalised); None for backfill and re-index.",
    )

    @field_validator("sequencer")
    @classmethod
    def sequencer_in_comparable_form(cls, sequencer: str | None) -> str | None:
        return normalise_sequencer(sequencer)

    @property
    def document_id(self) -> str:
        """Stable id of the document across versions: its bucket and key."""
        return document_id_for(self.bucket, self.key)


def document_id_for(bucket: str, key: str) -> str:
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:32]


class Section(Frozen):
    """A run of text from one page (PDF), one part of a document, or one record (a CSV row, a JSON line)."""

    text: str
    page: int | None = None
    label: str | None = Field(default=None, description="Heading, row or record that names this section.")


class ExtractedDocument(Frozen):
    title: str
    sections: list[Section]


class Chunk(Frozen):
    document_id: str
    source_key: str
    version: str
    title: str
    position: int = Field(ge=0, description="Order of the chunk within its document, from 0.")
    page: int | None = None
    section: str | None = None
    text: str
    content_hash: str
    token_count: int
    embedding_model: str
    tags: list[str] = Field(default_factory=list, description="The document's tags (S3 metadata `tags`).")
    revision: str = Field(
        default="",
        description="The index write that stored the chunk (domain/sequencer.py `revision`); empty in chunks "
        "written before revisions existed, which every later write of the document replaces.",
    )


class ScoredChunk(Frozen):
    chunk: Chunk
    score: float = Field(description="Cosine similarity between the question and the chunk, -1 to 1.")
    text_score: float | None = Field(default=None, description="BM25 score, when full-text search found it.")
    fused_score: float | None = Field(
        default=None, description="Hybrid search's fused score (SEARCH_FUSION: min-max or reciprocal rank)."
    )


class TextMatch(Frozen):
    chunk: Chunk
    score: float = Field(description="BM25 relevance of the chunk's text to the query.")
    similarity: float | None = Field(default=None, description="Cosine similarity to the query vector, if given.")


class SearchMode(StrEnum):
    VECTOR = "vector"
    TEXT = "text"
    HYBRID = "hybrid"


class SearchFilters(Frozen):
    # A misspelt key ("tag") must not widen the search to the whole corpus: filters often scope to a team.
    model_config = ConfigDict(frozen=True, extra="forbid")

    prefix: str | None = Field(default=None, description="Only chunks of documents whose key starts with this.")
    # None: every document. An empty list would mean none, which no caller wants; it used to search everything.
    document_ids: list[str] | None = Field(default=None, min_length=1, description="Only chunks of these documents.")
    tags: list[str] | None = Field(default=None, description="Only chunks of documents that have all these tags.")

    @field_validator("tags")
    @classmethod
    def tags_in_stored_form(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        try:
            return list(normalise_tags(tags))
        except InvalidTags as invalid:
            raise ValueError(str(invalid)) from None

    @property
    def empty(self) -> bool:
        return not self.prefix and not self.document_ids and not self.tags


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    INDEXED = "indexed"
    FAILED = "failed"
    DELETED = "deleted"


class DocumentRecord(Frozen):
    """The registry's view of a document: the state of its latest version."""

    document_id: str
    bucket: str
    source_key: str
    version: str
    status: DocumentStatus
    reason: str | None = None
    size_bytes: int | None = None
    chunk_count: int | None = None
    content_hash: str | None = Field(default=None, description="sha256 of the object's bytes.")
    embedding_model: str | None = None
    chunking: str | None = Field(default=None, description="The chunker settings the chunks were made with.")
    tags: list[str] | None = Field(default=None, description="The tags the indexed chunks carry.")
    attempts: int = 0
    updated_at: str
    started_at: str | None = None
    duration_ms: float | None = None
    sequencer: str | None = Field(
        default=None, description="S3 sequencer of the latest change recorded; an older change is skipped."
    )
    revision: str | None = Field(
        default=None,
        description="Revision of the index write whose chunks are the document's indexed chunks (see Chunk).",
    )


class IngestionResult(Frozen):
    document_id: str
    source_key: str
    status: DocumentStatus
    chunk_count: int = 0
    reason: str | None = None
    unchanged: bool = Field(
        default=False, description="Same content, tags, model and chunking as indexed: no work done."
    )
    superseded: bool = Field(
        default=False, description="A newer change to the same key had already been applied: this one was skipped."
    )


class Citation(Frozen):
    number: int = Field(description="The [n] marker that refers to this source in the answer text.")
    source_key: str
    position: int
    page: int | None = None
    score: float
    excerpt: str


class Usage(Frozen):
    input_tokens: int = 0
    output_tokens: int = 0


class Abstention(StrEnum):
    NO_RELEVANT_CONTEXT = "no_relevant_context"
    MODEL_DECLINED = "model_declined"
    NOT_SUPPORTED_BY_CONTEXT = "not_supported_by_context"


class Answer(Frozen):
    question: str
    answer: str
    grounded: bool = Field(description="False when the platform declined to answer from the retrieved context.")
    abstention: Abstention | None = Field(default=None, description="Why the platform declined, when it did.")
    guardrails: list[dict[str, Any]] = Field(
        default_factory=list, description="Guardrail hits on the question and the answer (check, stage, action)."
    )
    citations: list[Citation]
    support: float | None = Field(
        default=None,
        description="Lowest similarity between a kept answer sentence and its supporting passage (low for a terse "
        "answer, which is kept because every word it adds to the question is in the passage).",
    )
    model_id: str
    prompt_id: str = Field(description="name@version of the prompt that produced the answer.")
    prompt_name: str
    prompt_version: int | None = Field(description="The catalog version; None for the built-in fallback prompt.")
    latency_ms: float
    usage: Usage


class IndexState(Frozen):
    active: str
    building: str | None = None
    previous: str | None = None
    building_since: str | None = None
    switched_at: str | None = None
