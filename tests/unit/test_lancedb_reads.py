"""LanceDB searches read back only the columns a result needs, and return what reading every column returned: on a
table made now, and on one made before `tags`, `revision` and `fts_text` were added, which a reader leaves as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pytest
from lancedb.index import FTS

from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, TextMatch
from tests.fakes import chunk_of
from tests.lancedb_history import first_release_schema

TEXTS = {
    "pumps": "Centrifugal pumps move water through the pipes of the plant.",
    "valves": "Check valves stop water flowing back into the pumps.",
    "pipes": "Copper pipes carry hot water; plastic pipes carry cold water.",
    "hoses": "Garden hoses are not pipes, though they carry water too.",
    "manual": "The manual lists every pump, valve and pipe of the plant.",
}
VECTORS = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]], np.float32)
QUERY_VECTOR = np.array([0.6, 0.0, 0.8], dtype=np.float32)
QUERY = "water pipes for pumps"
FILTER = SearchFilters(prefix="documents/p")


def _chunks() -> list[Chunk]:
    return [
        chunk_of(
            doc,
            text,
            position=i,
            page=i if i % 2 else None,
            section=None if i % 2 else f"Section {i}",
            tags=["plant"] if i < 3 else [],
            revision=f"rev-{i}",
        )
        for i, (doc, text) in enumerate(TEXTS.items())
    ]


def _new_table(folder: Path) -> LanceDbVectorIndex:
    index = LanceDbVectorIndex(folder)
    index.ensure_index(3)
    index.add_chunks(_chunks(), VECTORS)
    return index


def _old_table(folder: Path) -> LanceDbVectorIndex:
    table = lancedb.connect(str(folder)).create_table(TABLE_NAME, schema=first_release_schema(3))
    rows = [chunk.model_dump(exclude={"tags", "revision"}) for chunk in _chunks()]
    table.add([{**row, "vector": vector} for row, vector in zip(rows, VECTORS, strict=True)])
    table.create_index("text", config=FTS(with_position=False))
    return LanceDbVectorIndex(folder)  # a reader: it writes nothing


# What reading every column gives: the rows as LanceDB returns them with no columns named.


def _whole_rows(folder: Path, query: Any, filters: SearchFilters | None, k: int) -> list[dict[str, Any]]:
    if filters is not None:
        query = query.where(f"starts_with(source_key, '{filters.prefix}')", prefilter=True)
    rows: list[dict[str, Any]] = query.limit(k).to_list()
    assert rows and "vector" in rows[0]  # every column came back
    return rows


def _chunk_of_row(row: dict[str, Any]) -> Chunk:
    fields = {name: row[name] for name in Chunk.model_fields if name in row}
    return Chunk(**{**fields, "tags": row.get("tags") or [], "revision": row.get("revision") or ""})


def _expected_hits(folder: Path, k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
    table = lancedb.connect(str(folder)).open_table(TABLE_NAME)
    rows = _whole_rows(folder, table.search(QUERY_VECTOR).distance_type("cosine"), filters, k)
    return [ScoredChunk(chunk=_chunk_of_row(row), score=1.0 - float(row["_distance"])) for row in rows]


def _expected_matches(folder: Path, k: int, with_vector: bool) -> list[TextMatch]:
    table = lancedb.connect(str(folder)).open_table(TABLE_NAME)
    column = "fts_text" if "fts_text" in table.schema.names else "text"  # the query has no Han or Hiragana
    rows = _whole_rows(folder, table.search(QUERY, query_type="fts", fts_columns=column), None, k)
    return [
        TextMatch(
            chunk=_chunk_of_row(row),
            score=float(row["_score"]),
            similarity=float(np.dot(row["vector"], QUERY_VECTOR)) if with_vector else None,
        )
        for row in rows
    ]


@pytest.fixture(params=["table made now", "table made before tags, revision and fts_text"])
def made(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[LanceDbVectorIndex, Path]:
    return (_new_table if request.param == "table made now" else _old_table)(tmp_path), tmp_path


def test_a_vector_search_returns_what_reading_every_column_returned(made: tuple[LanceDbVectorIndex, Path]) -> None:
    index, folder = made

    assert index.search(QUERY_VECTOR, 3) == _expected_hits(folder, 3)
    assert index.search(QUERY_VECTOR, 10, FILTER) == _expected_hits(folder, 10, FILTER)


@pytest.mark.parametrize("with_vector", [False, True], ids=["no query vector", "query vector"])
def test_a_text_search_returns_what_reading_every_column_returned(
    made: tuple[LanceDbVectorIndex, Path], with_vector: bool
) -> None:
    index, folder = made
    vector = QUERY_VECTOR if with_vector else None

    found = index.text_search(QUERY, 10, query_vector=vector)

    assert found == _expected_matches(folder, 10, with_vector)
    assert len(found) == len(TEXTS)
    assert all((match.similarity is None) is (vector is None) for match in found)


def test_a_filtered_text_search_keeps_the_rows_and_scores_of_the_unfiltered_one(
    made: tuple[LanceDbVectorIndex, Path],
) -> None:
    index, folder = made

    found = index.text_search(QUERY, 10, FILTER, query_vector=QUERY_VECTOR)

    expected = [m for m in _expected_matches(folder, 10, True) if m.chunk.source_key.startswith(FILTER.prefix or "")]
    assert found == expected and {m.chunk.document_id for m in found} == {"pumps", "pipes"}


def test_chunks_of_a_table_made_before_tags_and_revisions_come_back_with_none(tmp_path: Path) -> None:
    reader = _old_table(tmp_path)

    hits = reader.search(QUERY_VECTOR, 10)
    matches = reader.text_search(QUERY, 10, query_vector=QUERY_VECTOR)

    assert len(hits) == len(matches) == len(TEXTS)
    assert all(found.chunk.tags == [] and found.chunk.revision == "" for found in [*hits, *matches])
    assert reader.search(QUERY_VECTOR, 10, SearchFilters(tags=["plant"])) == []
    assert reader.text_search(QUERY, 10, SearchFilters(tags=["plant"])) == []
    names = lancedb.connect(str(tmp_path)).open_table(TABLE_NAME).schema.names
    assert not {"tags", "revision", "fts_text"} & set(names)  # a search adds no column


def test_a_reader_opened_on_an_old_table_reads_the_columns_a_writer_adds_later(tmp_path: Path) -> None:
    reader = _old_table(tmp_path)
    assert reader.search(QUERY_VECTOR, 1)[0].chunk.revision == ""  # read before the writer came
    assert reader.text_search("pumps", 1)[0].chunk.tags == []
    writer = LanceDbVectorIndex(tmp_path)
    writer.ensure_index(3)

    new = chunk_of("new", "pumps pumps pumps", tags=["new"], revision="r9")
    writer.replace_document("new", [new], QUERY_VECTOR[np.newaxis])  # the nearest row, and the best match

    hit, match = reader.search(QUERY_VECTOR, 1)[0], reader.text_search("pumps", 1, query_vector=QUERY_VECTOR)[0]
    assert (hit.chunk.document_id, hit.chunk.tags, hit.chunk.revision) == ("new", ["new"], "r9")
    assert (match.chunk.document_id, match.chunk.tags, match.chunk.revision) == ("new", ["new"], "r9")
    assert match.similarity == pytest.approx(1.0)
    assert [h.chunk.document_id for h in reader.search(QUERY_VECTOR, 10, SearchFilters(tags=["new"]))] == ["new"]
    assert reader.search(QUERY_VECTOR, 10) == _expected_hits(tmp_path, 10)
