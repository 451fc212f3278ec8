"""What the quality benchmark's scripts share: the FAQ index they search, and the figures of a retriever on it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.quality.faq import FaqPair
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.composition import build_chunker
from llmops.domain.evaluation.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from llmops.domain.models import Chunk, ExtractedDocument, ScoredChunk, SearchMode, Section, document_id_for
from llmops.domain.retrieval import Retriever
from llmops.settings import Settings

BUCKET = "bench"
CUTOFFS = (1, 5, 10)


@dataclass
class ModeFigures:
    recall: dict[int, float]
    mrr: float
    ndcg10: float
    ms_per_query: float
    per_question_ndcg10: list[float]  # in the order of the questions

    def summary(self) -> dict[str, object]:
        return {"recall": self.recall, "mrr": self.mrr, "ndcg10": self.ndcg10, "ms_per_query": self.ms_per_query}


def _ranked_documents(hits: list[ScoredChunk]) -> list[str]:
    """Documents in the order of their best chunk (a document counts once)."""
    seen: list[str] = []
    for hit in hits:
        if hit.chunk.document_id not in seen:
            seen.append(hit.chunk.document_id)
    return seen


def evaluate(retriever: Retriever, pairs: list[FaqPair], mode: SearchMode) -> ModeFigures:
    """The retriever's figures over the questions, by the platform's own retrieval metrics (those of `llmops eval`)."""
    recalls: dict[int, list[float]] = {k: [] for k in CUTOFFS}
    reciprocal_ranks, ndcgs, seconds = [], [], []
    for pair in pairs:
        started = time.perf_counter()
        ranked = _ranked_documents(retriever.retrieve(pair.question, 30, mode=mode))[:10]
        seconds.append(time.perf_counter() - started)
        answer = [document_id_for(BUCKET, pair.key)]
        for k in CUTOFFS:
            recalls[k].append(recall_at_k(ranked, answer, k))
        reciprocal_ranks.append(reciprocal_rank(ranked, answer))
        ndcgs.append(ndcg_at_k(ranked, answer, 10))
    return ModeFigures(
        recall={k: statistics.fmean(values) for k, values in recalls.items()},
        mrr=statistics.fmean(reciprocal_ranks),
        ndcg10=statistics.fmean(ndcgs),
        ms_per_query=statistics.median(seconds) * 1000,
        per_question_ndcg10=ndcgs,
    )


def best_of_both_ndcg(vector: ModeFigures, text: ModeFigures) -> float:
    """nDCG@10 if every question took whichever of the two rankings placed its answer higher (with one relevant
    document, the higher nDCG): a bound on what choosing between the two lists can reach (fusion can exceed it only
    by lifting an answer above both ranks)."""
    pairs = zip(vector.per_question_ndcg10, text.per_question_ndcg10, strict=True)
    return statistics.fmean(max(pair) for pair in pairs)


def faq_documents(pairs: list[FaqPair], embedder: OnnxMiniLmEmbedder) -> list[tuple[list[Chunk], NDArray[np.float32]]]:
    """Each FAQ answer as a document of its own: its chunks, as ingestion makes them, and their vectors."""
    chunker = build_chunker(Settings(), embedder)
    documents = []
    for pair in pairs:
        chunks = chunker.chunk(
            ExtractedDocument(title=pair.page, sections=[Section(text=pair.answer)]),
            document_id=document_id_for(BUCKET, pair.key),
            source_key=pair.key,
            version="1",
        )
        documents.append((chunks, embedder.embed([c.text for c in chunks])))
    return documents


def build_index(pairs: list[FaqPair], folder: Path, embedder: OnnxMiniLmEmbedder) -> LanceDbVectorIndex:
    index = LanceDbVectorIndex(folder, "faq")
    index.ensure_index(embedder.dimension)
    for chunks, vectors in faq_documents(pairs, embedder):
        index.replace_document(chunks[0].document_id, chunks, vectors)
    index.optimize()
    return index
