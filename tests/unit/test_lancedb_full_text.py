"""LanceDB's full-text search ranks a filtered search as OpenSearch does: the filter picks rows, never rescores them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.models import SearchFilters
from tests.fakes import chunk_of

# Rows the full-text index does not hold yet are scanned, and a prefilter would take their BM25 statistics over the
# filtered rows alone: "python" is in every HR document but rare in the whole table, so its weight would change.
DOCUMENTS = {
    "hr-1": ("python list tips", ["hr"]),
    "hr-2": ("python list comprehension tutorial", ["hr"]),
    "hr-3": ("python decorators explained", ["hr"]),
    "eng-1": ("list list list of rust crates", ["eng"]),
    "eng-2": ("java streams and collectors", ["eng"]),
    "eng-3": ("go channels and goroutines", ["eng"]),
    "eng-4": ("ownership rules in rust", ["eng"]),
}


@pytest.fixture
def index(tmp_path: Path) -> LanceDbVectorIndex:
    index = LanceDbVectorIndex(tmp_path)
    index.ensure_index(2)
    chunks = [chunk_of(doc, text, tags=tags) for doc, (text, tags) in DOCUMENTS.items()]
    index.add_chunks(chunks, np.ones((len(chunks), 2), dtype=np.float32))
    return index


def _scores(
    index: LanceDbVectorIndex, k: int, filters: SearchFilters | None = None, query: str = "python list"
) -> dict[str, float]:
    return {match.chunk.document_id: match.score for match in index.text_search(query, k, filters)}


def test_a_filter_keeps_the_unfiltered_scores_of_the_rows_it_keeps(index: LanceDbVectorIndex) -> None:
    everything = _scores(index, 10)
    hr_only = _scores(index, 10, SearchFilters(tags=["hr"]))

    assert set(hr_only) == {"hr-1", "hr-2", "hr-3"}
    assert hr_only == pytest.approx({doc: everything[doc] for doc in hr_only})


def test_a_filtered_search_fills_k_from_rows_ranked_below_those_it_drops(index: LanceDbVectorIndex) -> None:
    # eng-1 has the best score for "list"; the one HR row the search may return is found below it.
    best = index.text_search("list", 1)
    filtered = index.text_search("list", 1, SearchFilters(tags=["hr"]))

    assert [m.chunk.document_id for m in best] == ["eng-1"]
    assert len(filtered) == 1 and filtered[0].chunk.document_id in {"hr-1", "hr-2"}
    assert filtered[0].score == pytest.approx(_scores(index, 10, query="list")[filtered[0].chunk.document_id])


def test_a_filter_no_row_meets_finds_nothing(index: LanceDbVectorIndex) -> None:
    assert index.text_search("python", 5, SearchFilters(tags=["finance"])) == []
