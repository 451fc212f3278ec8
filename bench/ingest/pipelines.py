"""The three things the benchmark times, each run over a list of corpus documents.

(a) `OurPipeline`: the platform's IngestionService itself (extraction, token-sized chunking, the ONNX embedder,
    LanceDbVectorIndex.add_chunks per document, then the removal of older chunks), with files on disk in place of
    S3 and no status table; it takes a batch as the ingest function does, prefetching the next document.
(b) `ModelOnly`: the same embedder on exactly the chunk texts (a) embeds, one embed() call per document as (a).
(c) `NaivePipeline`: what a typical tutorial does: the same extracted text split by LangChain's
    RecursiveCharacterTextSplitter(1000, 200), embedded by SentenceTransformer.encode two texts at a time, each
    pair upserted into a LanceDB table by its own table.add().
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lancedb
import numpy as np
from numpy.typing import NDArray

from bench.ingest.corpus import CorpusDocument, DiskObjectStore, document_ref
from bench.ingest.report import NO_TOKENS, TokenCount
from llmops.adapters.embedding.onnx_minilm import MAX_SEQUENCE_TOKENS
from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from llmops.domain.chunking import Chunker
from llmops.domain.extraction import extract
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import Chunk, DocumentRecord, DocumentRef, DocumentStatus
from llmops.ports import Embedder, Page, RecordUpdate

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

# Word pieces all-MiniLM-L6-v2 reads of one text, [CLS] and [SEP] aside: the ONNX embedder's window for (a) and
# (b); the set-up checks that sentence-transformers' max_seq_length for (c) is the same.
MODEL_WINDOW = MAX_SEQUENCE_TOKENS - 2
NAIVE_CHUNK_SIZE = 1000
NAIVE_CHUNK_OVERLAP = 200
NAIVE_ROWS_PER_ADD = 2
NAIVE_TABLE = "naive_chunks"


class BenchmarkError(RuntimeError):
    pass


class StageClock:
    """When each named stage ran; what is left of a pipeline's time is reading, extraction and chunking.

    Stages may run on several threads at once ((a) embeds the next document in the background while it writes the
    current one), so each stage is credited only with the time in which none of the stages named before it ran:
    the figures add up to the time in which any stage ran, and never to more than the pipeline's own time.
    """

    def __init__(self, *stages: str) -> None:
        self._stages = stages
        self._intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if name not in self._stages:
            raise ValueError(f"unknown stage {name!r}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self._intervals[name].append((started, time.perf_counter()))

    @property
    def seconds(self) -> dict[str, float]:
        seconds: dict[str, float] = {}
        covered: list[tuple[float, float]] = []
        for name in self._stages:
            before = _covered_seconds(covered)
            covered += self._intervals[name]
            seconds[name] = _covered_seconds(covered) - before
        return seconds


def _covered_seconds(intervals: list[tuple[float, float]]) -> float:
    """The length of the union of the intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


class NullRegistry:
    """The DocumentRegistry port remembering nothing: the status table (DynamoDB) is not part of this benchmark,
    and as it knows no earlier version, every document is ingested in full (no skip of unchanged uploads)."""

    def record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> None:
        return None

    def get(self, document_id: str) -> DocumentRecord | None:
        return None

    def list(
        self,
        *,
        status: DocumentStatus | None = None,
        prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        return Page(records=[], next_cursor=None)


class ClockedEmbedder:
    """Delegates to the real embedder, timing embed() and keeping the texts it was given (to check (b))."""

    def __init__(self, inner: Embedder, clock: StageClock) -> None:
        self._inner = inner
        self._clock = clock
        self.texts: list[str] = []

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def tokenizer(self) -> Tokenizer:
        return self._inner.tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts.extend(texts)
        with self._clock.stage("embed"):
            return self._inner.embed(texts)


class ClockedIndex:
    """Delegates to the real LanceDB index, timing its writes."""

    def __init__(self, inner: LanceDbVectorIndex, clock: StageClock) -> None:
        self._inner = inner
        self._clock = clock

    def ensure_index(self, dimension: int) -> None:
        with self._clock.stage("store"):
            self._inner.ensure_index(dimension)

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        with self._clock.stage("store"):
            self._inner.add_chunks(chunks, vectors)

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        with self._clock.stage("store"):
            return self._inner.delete_document(document_id, before, revision, keep)

    def __getattr__(self, name: str) -> Any:  # the rest of the port (search, delete, count) as it is
        return getattr(self._inner, name)


def table_writes(store_dir: Path, table_name: str) -> int:
    """Write calls a LanceDB table has taken: each create, add() or delete() commits one new table version."""
    db = lancedb.connect(str(store_dir))
    if table_name not in db.list_tables().tables:
        return 0
    return int(db.open_table(table_name).version)


def stored_texts(store_dir: Path, table_name: str) -> list[str]:
    table = lancedb.connect(str(store_dir)).open_table(table_name)
    return [str(text) for text in table.to_arrow().column("text").to_pylist()]


class OurPipeline:
    store_table = TABLE_NAME

    def __init__(
        self,
        embedder: Embedder,
        chunker: Chunker,
        limits: IngestionLimits,
        documents: list[CorpusDocument],
        store_dir: Path,
    ) -> None:
        self.clock = StageClock("embed", "store")
        self.store_dir = store_dir
        self.embedder = ClockedEmbedder(embedder, self.clock)
        self._service = IngestionService(
            store=DiskObjectStore(documents),
            embedder=self.embedder,
            index=ClockedIndex(LanceDbVectorIndex(store_dir), self.clock),
            registry=NullRegistry(),
            chunker=chunker,
            limits=limits,
        )

    def run(self, documents: list[CorpusDocument]) -> None:
        """One batch, as the ingest function takes an SQS batch: the next document is prefetched (read, extracted,
        chunked and embedded in the background) while the current one is embedded and written."""
        refs = [document_ref(document) for document in documents]
        for position, (document, ref) in enumerate(zip(documents, refs, strict=True)):
            if position + 1 < len(refs):
                self._service.prefetch(refs[position + 1])
            result = self._service.ingest(ref)
            if result.status is not DocumentStatus.INDEXED:
                raise BenchmarkError(f"{document.key} was not indexed: {result.status} {result.reason}")


class ModelOnly:
    def __init__(self, embedder: Embedder, chunk_texts: dict[str, list[str]]) -> None:
        self._embedder = embedder
        self._chunk_texts = chunk_texts

    def run(self, documents: list[CorpusDocument]) -> None:
        for document in documents:
            self._embedder.embed(self._chunk_texts[document.key])


class NaivePipeline:
    store_table = NAIVE_TABLE

    def __init__(self, model: SentenceTransformer, store_dir: Path) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.clock = StageClock("embed", "store")
        self.store_dir = store_dir
        self.texts: list[str] = []
        self._model = model
        self._splitter = RecursiveCharacterTextSplitter(chunk_size=NAIVE_CHUNK_SIZE, chunk_overlap=NAIVE_CHUNK_OVERLAP)
        self._db = lancedb.connect(str(store_dir))
        self._table: Any = None

    def run(self, documents: list[CorpusDocument]) -> None:
        for document in documents:
            extracted = extract(document.path.read_bytes(), document.key)
            texts = [piece for section in extracted.sections for piece in self._splitter.split_text(section.text)]
            self.texts.extend(texts)
            for start in range(0, len(texts), NAIVE_ROWS_PER_ADD):
                pair = texts[start : start + NAIVE_ROWS_PER_ADD]
                with self.clock.stage("embed"):
                    vectors = self._model.encode(pair, show_progress_bar=False)
                rows = [
                    {"vector": vector, "text": text, "source": document.key, "position": start + offset}
                    for offset, (text, vector) in enumerate(zip(pair, vectors, strict=True))
                ]
                with self.clock.stage("store"):
                    if self._table is None:
                        self._table = self._db.create_table(NAIVE_TABLE, data=rows)
                    else:
                        self._table.add(rows)


def chunk_texts(documents: list[CorpusDocument], chunker: Chunker) -> tuple[dict[str, list[str]], int]:
    """The chunk texts (a) produces for each document, by the same extraction and chunker outside any timing,
    and the number of characters extracted."""
    texts: dict[str, list[str]] = {}
    characters = 0
    for document in documents:
        ref = document_ref(document)
        extracted = extract(document.path.read_bytes(), document.key)
        characters += sum(len(section.text) for section in extracted.sections)
        chunks = chunker.chunk(extracted, document_id=ref.document_id, source_key=ref.key, version="bench")
        texts[document.key] = [chunk.text for chunk in chunks]
    return texts, characters


def word_pieces(tokenizer: Tokenizer, texts: Sequence[str]) -> TokenCount:
    """One count for all three pipelines, by the same tokenizer."""
    if not texts:
        return NO_TOKENS
    counts = [len(encoding.ids) for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False)]
    return TokenCount(handed_in=sum(counts), embedded=sum(min(count, MODEL_WINDOW) for count in counts))
