"""The quality benchmark's fusion ceiling: the best single setting against the best setting per question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import pytest
from numpy.typing import NDArray

from bench.quality.faq import FaqPair
from bench.quality.fusion_ceiling import fusion_ceilings
from bench.quality.measure import BUCKET
from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, TextMatch, document_id_for
from llmops.domain.retrieval import Fusion
from llmops.ports import Embedder, VectorIndex
from tests.fakes import chunk_of

# Each question's answer is second in one list and first in the other, the other way round for each question:
# no single setting ranks both answers first, but each question has a setting that does.
PAIRS = [FaqPair("faq", "vector-first", "first question?", ""), FaqPair("faq", "text-first", "second question?", "")]
OTHER = "the same distractor"


def _chunk(key: str) -> Chunk:
    return chunk_of(document_id_for(BUCKET, key), key, source_key=key)


class _QuestionVectors:
    """A fake embedder: question i is the i-th unit vector."""

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        questions = [pair.question for pair in PAIRS]
        return np.eye(len(PAIRS), dtype=np.float32)[[questions.index(text) for text in texts]]


class _ScriptedLists:
    """A fake index answering each question with fixed lists, and counting its searches."""

    def __init__(self) -> None:
        self.searches = 0

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        self.searches += 1
        pair = PAIRS[int(vector.argmax())]
        ranked = [pair.key, OTHER] if pair.slug == "vector-first" else [OTHER, pair.key]
        return [ScoredChunk(chunk=_chunk(key), score=score) for key, score in zip(ranked, (0.9, 0.8), strict=True)]

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        self.searches += 1
        pair = next(pair for pair in PAIRS if pair.question == text)
        ranked = [OTHER, pair.key] if pair.slug == "vector-first" else [pair.key, OTHER]
        return [
            TextMatch(chunk=_chunk(key), score=score, similarity=0.5)
            for key, score in zip(ranked, (12.0, 3.0), strict=True)
        ]


def test_the_ceiling_gives_each_question_its_best_setting_and_a_deployment_only_one() -> None:
    lists = _ScriptedLists()

    ceilings = {
        c.fusion: c for c in fusion_ceilings(cast(Embedder, _QuestionVectors()), cast(VectorIndex, lists), list(PAIRS))
    }

    second_place = 1 / np.log2(3)
    for fusion in Fusion:
        assert ceilings[fusion].per_question == pytest.approx(1.0)
        assert ceilings[fusion].best_fixed == pytest.approx((1 + second_place) / 2)
    # Every setting of both fusions re-ranked the same two lists per question, fetched once.
    assert lists.searches == 2 * len(PAIRS)
