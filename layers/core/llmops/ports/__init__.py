"""Ports: what the domain needs from the outside world. Adapters for AWS and for local mode implement them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from llmops.domain.models import (
    Chunk,
    DocumentRecord,
    DocumentRef,
    DocumentStatus,
    IndexState,
    ScoredChunk,
    SearchFilters,
    TextMatch,
    Usage,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from tokenizers import Tokenizer

    from llmops.domain.evaluation.datasets import DatasetVersion
    from llmops.domain.evaluation.runs import EvaluationRun, ItemResult
    from llmops.domain.prompts import PromptSummary, PromptVersion


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    content_type: str | None
    version_id: str | None
    etag: str | None
    tags: tuple[str, ...] = ()  # parsed from the version's user metadata (llmops.domain.tags)


@dataclass(frozen=True)
class CurrentVersion:
    version_id: str | None
    etag: str | None
    size: int


class ObjectStore(Protocol):
    def head_size(self, ref: DocumentRef) -> int: ...

    def current_version(self, bucket: str, key: str) -> CurrentVersion | None:
        """What the key holds now; None when nothing (deleted, or a delete marker on top of its versions)."""
        ...

    def get(self, ref: DocumentRef) -> StoredObject: ...


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer that measures chunks against the model's window."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length vectors, one row per text."""
        ...


class VectorIndex(Protocol):
    def ensure_index(self, dimension: int) -> None: ...

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """Add chunks beside whatever the index holds (each carries its document and revision)."""
        ...

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        """Add `chunks` (all of one revision), then remove the document's chunks of earlier revisions.

        New chunks go in before old ones go out, so a reader may briefly see both, never neither. Chunks of a
        later revision stay.
        """
        ...

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        """Remove the document's chunks: all of them, or with `before` those whose revision sorts below it (chunks
        from before revisions existed included), or with `revision` those of that revision; never those of
        revision `keep`. Returns how many were removed."""
        ...

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        """k-NN: the k chunks most similar to `vector` (score = cosine similarity)."""
        ...

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        """Full-text (BM25): the k chunks whose text best matches `text`; with `query_vector`, each match also
        carries its cosine similarity to it (from the stored vector, without embedding anything)."""
        ...

    def count(self) -> int:
        """Chunks in the index (0 when it does not exist)."""
        ...


@dataclass(frozen=True)
class GenerationRequest:
    system: str
    user: str
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Generation:
    text: str
    usage: Usage


class LanguageModel(Protocol):
    @property
    def model_id(self) -> str: ...

    def generate(self, request: GenerationRequest) -> Generation: ...


@dataclass(frozen=True)
class RecordUpdate:
    """What changes in a document's registry record along with its status; None leaves a field as it is."""

    reason: str | None = None
    chunk_count: int | None = None
    content_hash: str | None = None
    embedding_model: str | None = None
    chunking: str | None = None
    tags: list[str] | None = None
    attempts: int | None = None
    duration_ms: float | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Page:
    records: list[DocumentRecord]
    next_cursor: str | None


class DocumentRegistry(Protocol):
    """Visible state of every document version (queued, processing, indexed, failed, deleted)."""

    def record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> None:
        """Set the document's status. With `ref.sequencer`, only if the record holds no sequencer or one not newer
        (a single conditional write), and the record keeps `ref.sequencer`; otherwise raises SupersededChange and
        changes nothing. Without one, the write is unconditional and the stored sequencer stays as it is."""
        ...

    def get(self, document_id: str) -> DocumentRecord | None: ...

    def list(
        self,
        *,
        status: DocumentStatus | None = None,
        prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page: ...


class EmbeddingCache(Protocol):
    """Vectors already computed, keyed by embedding model and chunk content hash."""

    def get_many(self, model_id: str, content_hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]: ...

    def put_many(self, model_id: str, vectors: dict[str, NDArray[np.float32]]) -> None: ...


class DeadLetters(Protocol):
    """Messages that failed every attempt, parked until someone re-drives them."""

    def redrive(self, limit: int) -> int:
        """Move up to `limit` messages back to their source queue; returns how many moved."""
        ...

    def count(self) -> int: ...


class IndexPointer(Protocol):
    """Which vector index readers use, which one a re-index is building, and which one a rollback returns to."""

    def current(self) -> IndexState: ...

    def begin(self, target: str) -> IndexState:
        """Start building `target`; raises ReindexInProgress when another build has not finished."""
        ...

    def switch(self, target: str) -> IndexState:
        """Make the finished `target` the active index; the old one becomes `previous`. Switching to the index that is
        already active, with nothing building, changes nothing (a retried switch)."""
        ...

    def abort(self, target: str) -> IndexState: ...

    def rollback(self) -> IndexState:
        """Swap active and previous; raises NothingToRollBack when there is no previous index."""
        ...


class Workflow(Protocol):
    """A long-running workflow (a Step Functions state machine)."""

    def start(self, payload: dict[str, object], name: str) -> str:
        """Start one execution named after what it works on (unique per workflow); returns its id."""
        ...


class PromptStore(Protocol):
    """Prompt versions, which are never overwritten, and aliases, which name one version of a prompt each."""

    def put_version(self, version: PromptVersion) -> None:
        """Store a new version; raises PromptVersionExists when that number is taken, even by a concurrent writer."""
        ...

    def get_version(self, name: str, version: int) -> PromptVersion | None: ...

    def latest_version(self, name: str) -> PromptVersion | None:
        """The highest-numbered version (strongly consistent); None when the prompt does not exist."""
        ...

    def list_versions(self, name: str) -> list[PromptVersion]: ...

    def get_alias(self, name: str, alias: str) -> int | None: ...

    def aliases(self, name: str) -> dict[str, int]: ...

    def put_alias(self, name: str, alias: str, version: int, *, current: int | None) -> None:
        """Point `alias` at `version` if that version exists (else PromptNotFound) and the alias still points at
        `current`, None meaning it does not exist yet (else PromptConflict)."""
        ...

    def delete_alias(self, name: str, alias: str, *, current: int) -> None:
        """Remove `alias` if it still points at `current` (else PromptConflict; PromptNotFound if it is gone)."""
        ...

    def list_prompts(self) -> list[PromptSummary]: ...


@dataclass(frozen=True)
class PiiSpan:
    """Personal data found in a text: its entity type (Presidio's names, e.g. EMAIL_ADDRESS), where, how sure."""

    entity_type: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class ToxicityScore:
    score: float
    categories: tuple[str, ...] = ()


class InjectionDetector(Protocol):
    """Tells whether a text tries to override the assistant's instructions (prompt injection, jailbreak)."""

    @property
    def name(self) -> str: ...

    def injection_score(self, text: str) -> float:
        """Probability, 0 to 1, that the text is a prompt injection. Raises GuardrailUnavailable on failure."""
        ...


class PiiDetector(Protocol):
    @property
    def name(self) -> str: ...

    def find_pii(self, text: str, entity_types: Sequence[str]) -> list[PiiSpan]:
        """Spans of personal data; at least those of `entity_types` (more may come back, the caller filters).
        Offsets are character offsets into `text`. Raises GuardrailUnavailable on failure."""
        ...


class ToxicityDetector(Protocol):
    @property
    def name(self) -> str: ...

    def toxicity(self, text: str) -> ToxicityScore:
        """Probability, 0 to 1, that the text is abusive, hateful or obscene, with the categories found when the
        detector names them. Raises GuardrailUnavailable on failure."""
        ...


class EventPublisher(Protocol):
    """Publishes platform events (EventBridge). Never raises: an event that cannot be sent is logged."""

    def publish(self, detail_type: str, detail: dict[str, object]) -> None: ...

    def publish_many(self, events: Sequence[tuple[str, dict[str, object]]]) -> None:
        """Publish (detail type, detail) pairs, batched as the bus allows."""
        ...


class BlobStore(Protocol):
    """Text objects under keys (the evaluation bucket: dataset versions, reports)."""

    def put_text(self, key: str, text: str, content_type: str) -> None: ...

    def get_text(self, key: str) -> str:
        """Raises KeyError when there is no object under `key`."""
        ...


class EvaluationRepository(Protocol):
    """The registry of dataset versions, evaluation runs and their per-item results."""

    def put_dataset(self, version: DatasetVersion) -> None: ...

    def get_dataset(self, name: str, version: int) -> DatasetVersion | None: ...

    def latest_dataset(self, name: str) -> DatasetVersion | None: ...

    def list_datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset."""
        ...

    def put_run(self, run: EvaluationRun) -> None: ...

    def get_run(self, run_id: str) -> EvaluationRun | None: ...

    def put_item_result(self, result: ItemResult) -> None:
        """Store (or overwrite, on a retry) the result of one candidate on one dataset row."""
        ...

    def item_results(self, run_id: str) -> list[ItemResult]: ...
