"""LanceDB's full-text search ranks a filtered search as OpenSearch does: the filter picks rows, never rescores them."""

from __future__ import annotations

from pathlib import Path

import lancedb
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


# Rows folded into the full-text index and rows written since (a known difference from OpenSearch, in the README's
# "Retrieval and answers"): LanceDB scores the rows its index holds with the statistics (row count, mean length,
# rows per term) the index took when it was last built or optimized, and the rows written since, which it scans,
# with those of the whole table. `optimize` makes them agree. Folding in after every write would cost more than the
# write does (`python -m bench.lancedb_costs --writes`), so the adapter folds every `_OPTIMIZE_EVERY_ROWS` rows.
FOLDED = {doc: text for doc, (text, _) in DOCUMENTS.items()}
WRITTEN_SINCE = {
    "new-1": "python python python",
    "new-2": "kotlin coroutines and flows",
    "new-3": "ownership rules in rust list",
    "new-4": "haskell monads explained",
}


def _text_scores(folder: Path, *writes: dict[str, str], fold_between: bool = False) -> dict[str, float]:
    index = LanceDbVectorIndex(folder)
    index.ensure_index(2)
    for documents in writes:
        index.add_chunks([chunk_of(d, t) for d, t in documents.items()], np.ones((len(documents), 2), np.float32))
        if fold_between:
            index.optimize()
            fold_between = False
    return _scores(index, 20)


def test_until_optimize_folded_rows_keep_the_statistics_of_the_fold_and_rows_written_since_take_the_tables(
    tmp_path: Path,
) -> None:
    split = _text_scores(tmp_path / "split", FOLDED, WRITTEN_SINCE, fold_between=True)
    folded_alone = _text_scores(tmp_path / "folded", FOLDED)
    whole = _text_scores(tmp_path / "whole", FOLDED, WRITTEN_SINCE)  # all scanned: whole-table statistics

    assert {doc: split[doc] for doc in folded_alone} == pytest.approx(folded_alone)
    since = [doc for doc in whole if doc in WRITTEN_SINCE]  # those that match
    assert since and {doc: split[doc] for doc in since} == pytest.approx({doc: whole[doc] for doc in since})
    assert all(split[doc] < whole[doc] * 0.9 for doc in folded_alone)  # "hr-1": 1.74 against 2.05
    assert list(split)[:3] == ["hr-1", "new-1", "hr-2"] and list(whole)[:3] == ["hr-1", "hr-2", "new-1"]
    index = LanceDbVectorIndex(tmp_path / "split")
    index.optimize()
    assert _scores(index, 20) == pytest.approx(whole)


def _unindexed_rows(folder: Path) -> int:
    table = lancedb.connect(str(folder)).open_table("chunks")
    return sum(index.num_unindexed_rows for index in table.list_indices() if index.index_type == "FTS")


def test_rows_written_through_earlier_handles_count_towards_the_next_fold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmops.adapters.local.lancedb_index._OPTIMIZE_EVERY_ROWS", 5)
    documents = list(DOCUMENTS.items())

    # Three writers (three `llmops ingest` runs, say), none of which writes 5 rows itself.
    for part in (documents[:3], documents[3:5], documents[5:]):
        writer = LanceDbVectorIndex(tmp_path)
        writer.ensure_index(2)
        writer.add_chunks([chunk_of(d, t, tags=g) for d, (t, g) in part], np.ones((len(part), 2), np.float32))
        if part is documents[3:5]:
            assert _unindexed_rows(tmp_path) == 0  # 3 + 2 rows written: folded by the second writer

    assert _unindexed_rows(tmp_path) == 2  # the third writer's rows, until 5 are waiting
