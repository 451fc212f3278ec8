"""Retrieval: k-NN, full-text (BM25) or both fused (min-max normalised scores or weighted reciprocal rank fusion),
with metadata filters.

Fusion happens here, the same for OpenSearch Serverless and LanceDB; stores only answer the two kinds of search.
Every returned chunk carries its cosine similarity to the question, which the answering service's abstention
threshold reads whatever the mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from llmops.domain.errors import InvalidSearch
from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, SearchMode, TextMatch
from llmops.ports import Embedder, VectorIndex

# The most results one search returns, wherever it is asked for (POST /search's top_k, the LangChain retriever's k):
# a hybrid search asks each store for up to candidates_factor times as many.
MAX_TOP_K = 100
MAX_QUERY_CHARS = 2000


class Fusion(StrEnum):
    RRF = "rrf"  # weighted reciprocal rank fusion: robust, ignores score scales
    CONVEX = "convex"  # min-max normalised scores, combined by the weights


@dataclass(frozen=True)
class RetrievalSettings:
    # The same defaults as the platform's settings (SEARCH_FUSION, SEARCH_*_WEIGHT): the best measured on the quality
    # benchmark (bench/quality/REPORT.md).
    mode: SearchMode = SearchMode.HYBRID
    fusion: Fusion = Fusion.CONVEX
    vector_weight: float = 1.0
    text_weight: float = 0.5
    # 60 is the constant of the original RRF paper (Cormack et al., 2009): it damps the weight of the top ranks.
    rrf_k: int = 60
    candidates_factor: int = 4  # each search returns this many times top_k candidates for fusion ...
    # ... and never fewer than this: fused scores are relative to the pool (min-max) and a deeper pool adds rank
    # contributions (RRF), so a pool that followed top_k would reorder the first results when more are asked for.
    # With a fixed pool, top_k up to min_candidates / candidates_factor only cuts one and the same ranking.
    min_candidates: int = 100


class Retriever:
    def __init__(self, embedder: Embedder, index: VectorIndex, settings: RetrievalSettings) -> None:
        self._embedder = embedder
        self._index = index
        self._settings = settings

    def retrieve(
        self,
        query: str,
        top_k: int,
        mode: SearchMode | None = None,
        filters: SearchFilters | None = None,
        vector_weight: float | None = None,
        text_weight: float | None = None,
    ) -> list[ScoredChunk]:
        mode = mode or self._settings.mode
        # Checked here as well as at the API: the LangChain retriever and other callers come straight here.
        if not query.strip():
            raise InvalidSearch("the query is blank")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidSearch(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if mode is not SearchMode.HYBRID and (vector_weight is not None or text_weight is not None):
            raise InvalidSearch(
                f"vector_weight and text_weight weigh the two lists of a hybrid search; this search is {mode.value}: "
                "leave them out, or ask for mode hybrid"
            )
        weights = (
            self._settings.vector_weight if vector_weight is None else vector_weight,
            self._settings.text_weight if text_weight is None else text_weight,
        )
        if mode is SearchMode.HYBRID and (min(weights) < 0 or max(weights) == 0):
            raise InvalidSearch(
                f"fusion weights {weights[0]:g} (vector) and {weights[1]:g} (text), with the configured ones for any "
                "left out, must be 0 or more and not both 0"
            )
        vector = self._embedder.embed([query])[0]
        candidates = (
            max(top_k * self._settings.candidates_factor, self._settings.min_candidates)
            if mode is SearchMode.HYBRID
            else top_k
        )
        by_vector = self._index.search(vector, candidates, filters) if mode is not SearchMode.TEXT else []
        if mode is SearchMode.VECTOR:
            return by_vector[:top_k]
        by_text = self._index.text_search(query, candidates, filters, query_vector=vector)
        fuse = _fuse_convex if self._settings.fusion is Fusion.CONVEX else _fuse
        ranked = (
            fuse(by_vector, by_text, weights, self._settings.rrf_k)
            if mode is SearchMode.HYBRID
            else [_Candidate(chunk=m.chunk, similarity=m.similarity, text_score=m.score) for m in by_text]
        )
        chosen = ranked[:top_k]
        self._measure_similarity(vector, [c for c in chosen if c.similarity is None])
        return [
            ScoredChunk(chunk=c.chunk, score=c.similarity or 0.0, text_score=c.text_score, fused_score=c.fused_score)
            for c in chosen
        ]

    def _measure_similarity(self, vector: NDArray[np.float32], candidates: list[_Candidate]) -> None:
        """Chunks found only by full text get their cosine similarity to the question as well."""
        if candidates:
            similarities = self._embedder.embed([c.chunk.text for c in candidates]) @ vector
            for candidate, similarity in zip(candidates, similarities, strict=True):
                candidate.similarity = float(similarity)


@dataclass
class _Candidate:
    chunk: Chunk
    similarity: float | None = None
    text_score: float | None = None
    fused_score: float | None = None


def _fuse(
    by_vector: list[ScoredChunk], by_text: list[TextMatch], weights: tuple[float, float], rrf_k: int
) -> list[_Candidate]:
    """Weighted reciprocal rank fusion: each list adds weight / (rrf_k + rank) to a chunk's score."""
    candidates: dict[tuple[str, str, int], _Candidate] = {}

    def candidate(chunk: Chunk) -> _Candidate:
        return candidates.setdefault((chunk.document_id, chunk.version, chunk.position), _Candidate(chunk=chunk))

    for rank, hit in enumerate(by_vector, start=1):
        found = candidate(hit.chunk)
        found.similarity = hit.score
        found.fused_score = (found.fused_score or 0.0) + weights[0] / (rrf_k + rank)
    for rank, match in enumerate(by_text, start=1):
        found = candidate(match.chunk)
        found.text_score = match.score
        if found.similarity is None:
            found.similarity = match.similarity
        found.fused_score = (found.fused_score or 0.0) + weights[1] / (rrf_k + rank)
    return sorted(candidates.values(), key=lambda c: c.fused_score or 0.0, reverse=True)


def _fuse_convex(
    by_vector: list[ScoredChunk], by_text: list[TextMatch], weights: tuple[float, float], rrf_k: int
) -> list[_Candidate]:
    """Each list's scores min-max normalised to 0..1, then combined as a weighted average."""
    candidates: dict[tuple[str, str, int], _Candidate] = {}
    total = (weights[0] + weights[1]) or 1.0

    def normalised(scores: list[float]) -> list[float]:
        low, high = min(scores, default=0.0), max(scores, default=0.0)
        return [1.0 if high == low else (score - low) / (high - low) for score in scores]

    ranked: list[tuple[float, list[ScoredChunk | TextMatch], list[float]]] = [
        (weights[0], list(by_vector), normalised([h.score for h in by_vector])),
        (weights[1], list(by_text), normalised([m.score for m in by_text])),
    ]
    for weight, hits, scores in ranked:
        for hit, score in zip(hits, scores, strict=True):
            key = (hit.chunk.document_id, hit.chunk.version, hit.chunk.position)
            found = candidates.setdefault(key, _Candidate(chunk=hit.chunk))
            if isinstance(hit, TextMatch):
                found.text_score = hit.score
                found.similarity = found.similarity if found.similarity is not None else hit.similarity
            else:
                found.similarity = hit.score
            found.fused_score = (found.fused_score or 0.0) + weight / total * score
    return sorted(candidates.values(), key=lambda c: c.fused_score or 0.0, reverse=True)
