"""How far can fusing the same two ranked lists go on the FAQ benchmark?

For each of the platform's fusions this sweeps its settings (the text list's share of the weight, 0 to 1, and for
reciprocal rank fusion its k) through the platform's own Retriever and reports two figures:

- the best single setting, used for every question: what a deployment, which fixes its settings, can reach
  (chosen on the benchmark itself, so it flatters);
- the best setting per question: each question keeps the setting that ranks its answer highest. That needs the
  answer to be known, so no deployment can have it; it is a ceiling for any way of choosing settings per query.

Both lists are fetched once per question and reused for every setting, so the sweep costs fusion only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from bench.quality.faq import FaqPair
from bench.quality.measure import evaluate
from llmops.domain.models import ScoredChunk, SearchFilters, SearchMode, TextMatch
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from llmops.ports import Embedder, VectorIndex

TEXT_SHARES = tuple(round(share, 2) for share in np.linspace(0.0, 1.0, 21))
RRF_KS = (1, 5, 10, 20, 60, 100)


@dataclass(frozen=True)
class FusionCeiling:
    fusion: Fusion
    best_fixed: float  # nDCG@10 of the best single setting
    best_fixed_setting: RetrievalSettings
    per_question: float  # nDCG@10 when every question has the setting best for it


class _ListsFetchedOnce:
    """The index's two searches, each answered once per query and then repeated from memory. It has only the two
    searches the Retriever calls, hence the cast to VectorIndex where it is handed over."""

    def __init__(self, index: VectorIndex) -> None:
        self._index = index
        self._by_vector: dict[tuple[bytes, int], list[ScoredChunk]] = {}
        self._by_text: dict[tuple[str, int], list[TextMatch]] = {}

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        key = (vector.tobytes(), k)
        if key not in self._by_vector:
            self._by_vector[key] = self._index.search(vector, k, filters)
        return self._by_vector[key]

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        key = (text, k)
        if key not in self._by_text:
            self._by_text[key] = self._index.text_search(text, k, filters, query_vector)
        return self._by_text[key]


class _EmbeddedOnce:
    """The embedder, each batch of texts embedded once (the Retriever embeds the question on every call)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[tuple[str, ...], NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        key = tuple(texts)
        if key not in self._vectors:
            self._vectors[key] = self._embedder.embed(texts)
        return self._vectors[key]


def _settings(fusion: Fusion) -> list[RetrievalSettings]:
    ks = RRF_KS if fusion is Fusion.RRF else (RetrievalSettings().rrf_k,)
    return [
        RetrievalSettings(fusion=fusion, vector_weight=1.0 - share, text_weight=share, rrf_k=k)
        for k in ks
        for share in TEXT_SHARES
    ]


def fusion_ceilings(embedder: Embedder, index: VectorIndex, pairs: list[FaqPair]) -> list[FusionCeiling]:
    lists = cast(VectorIndex, _ListsFetchedOnce(index))
    question_vectors = cast(Embedder, _EmbeddedOnce(embedder))
    ceilings = []
    for fusion in Fusion:
        grid = _settings(fusion)
        # rows: settings, columns: questions
        figures = [evaluate(Retriever(question_vectors, lists, s), pairs, SearchMode.HYBRID) for s in grid]
        gains = np.asarray([f.per_question_ndcg10 for f in figures])
        best = int(gains.mean(axis=1).argmax())
        ceilings.append(
            FusionCeiling(
                fusion=fusion,
                best_fixed=float(gains[best].mean()),
                best_fixed_setting=grid[best],
                per_question=float(gains.max(axis=0).mean()),
            )
        )
    return ceilings
