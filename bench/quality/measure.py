"""What the quality benchmark's scripts share: the FAQ index they search, and the figures of a retriever on it."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import ndcg_score

from bench.quality.faq import FaqPair
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.composition import build_chunker
from llmops.domain.models import ExtractedDocument, ScoredChunk, SearchMode, Section, document_id_for
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
    ranks: list[int | None]  # per question, the rank of its answer in the top 10 (None: not there)


def _ranked_documents(hits: list[ScoredChunk]) -> list[str]:
    """Documents in the order of their best chunk (a document counts once)."""
    seen: list[str] = []
    for hit in hits:
        if hit.chunk.document_id not in seen:
            seen.append(hit.chunk.document_id)
    return seen


def _ndcg_at_10(ranked: list[str], relevant: str) -> float:
    # sklearn's nDCG over the retrieved list; a relevant document missing from the top 10 scores 0.
    if relevant not in ranked[:10]:
        return 0.0
    truth = np.asarray([[1.0 if doc == relevant else 0.0 for doc in ranked[:10]]])
    scores = np.asarray([[float(len(ranked) - i) for i in range(len(ranked[:10]))]])
    return float(ndcg_score(truth, scores, k=10)) if truth.shape[1] > 1 else 1.0


def evaluate(retriever: Retriever, pairs: list[FaqPair], mode: SearchMode) -> ModeFigures:
    hits_at = dict.fromkeys(CUTOFFS, 0)
    reciprocal_ranks, ndcgs, seconds = [], [], []
    ranks: list[int | None] = []
    for pair in pairs:
        started = time.perf_counter()
        ranked = _ranked_documents(retriever.retrieve(pair.question, 30, mode=mode))[:10]
        seconds.append(time.perf_counter() - started)
        relevant = document_id_for(BUCKET, pair.key)
        rank = ranked.index(relevant) + 1 if relevant in ranked else None
        ranks.append(rank)
        for k in CUTOFFS:
            hits_at[k] += int(rank is not None and rank <= k)
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        ndcgs.append(_ndcg_at_10(ranked, relevant))
    return ModeFigures(
        recall={k: hits_at[k] / len(pairs) for k in CUTOFFS},
        mrr=statistics.fmean(reciprocal_ranks),
        ndcg10=statistics.fmean(ndcgs),
        ms_per_query=statistics.median(seconds) * 1000,
        ranks=ranks,
    )


def best_of_both_ndcg(vector: ModeFigures, text: ModeFigures) -> float:
    """nDCG@10 if every question took whichever of the two rankings placed its answer higher: a bound on what
    choosing between the two lists can reach (fusion can exceed it only by lifting an answer above both ranks)."""
    best = [
        min((r for r in pair if r is not None), default=None) for pair in zip(vector.ranks, text.ranks, strict=True)
    ]
    return statistics.fmean(ndcg_at_rank(rank) for rank in best)


def ndcg_at_rank(rank: int | None) -> float:
    """nDCG@10 of a ranking whose one relevant document is at `rank` (None: not in the top 10)."""
    return 1 / math.log2(rank + 1) if rank else 0.0


def build_index(pairs: list[FaqPair], folder: Path, embedder: OnnxMiniLmEmbedder) -> LanceDbVectorIndex:
    settings = Settings()
    index = LanceDbVectorIndex(folder, "faq")
    index.ensure_index(embedder.dimension)
    chunker = build_chunker(settings, embedder)
    for pair in pairs:
        document_id = document_id_for(BUCKET, pair.key)
        chunks = chunker.chunk(
            ExtractedDocument(title=pair.page, sections=[Section(text=pair.answer)]),
            document_id=document_id,
            source_key=pair.key,
            version="1",
        )
        index.replace_document(document_id, chunks, embedder.embed([c.text for c in chunks]))
    index.optimize()
    return index
