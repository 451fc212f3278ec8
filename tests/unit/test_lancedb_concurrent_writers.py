"""Writers that open the same LanceDB table at once, each through its own handle (threads here; processes over the
same folder alike): none fails, none loses another's rows, and the table ends with one full-text index and every
column."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import lancedb
import numpy as np
import pytest

from llmops.adapters.local.lancedb_index import TABLE_NAME, LanceDbVectorIndex
from tests.fakes import chunk_of
from tests.lancedb_history import first_release_schema

WRITERS = 4
DIMENSION = 3
ROUNDS = 8  # Lance refused a racing create_index in every round before the lock; an overwrite was rarer


def _at_once(work: Callable[[int], None]) -> list[Exception]:
    """Runs `work(0)`..`work(WRITERS - 1)` in threads released together; returns what they raised."""
    start = threading.Barrier(WRITERS)
    raised: list[Exception] = []

    def run(writer: int) -> None:
        start.wait()
        try:
            work(writer)
        except Exception as error:  # any failure is what the test reports
            raised.append(error)

    threads = [threading.Thread(target=run, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return raised


def _write_one_document(folder: Path, writer: int) -> None:
    index = LanceDbVectorIndex(folder)
    index.ensure_index(DIMENSION)
    chunks = [chunk_of(f"doc-{writer}", f"writer {writer} chunk {position}", position=position) for position in (0, 1)]
    index.replace_document(f"doc-{writer}", chunks, np.ones((len(chunks), DIMENSION), np.float32))


def _full_text_indexes(folder: Path) -> list[list[str]]:
    table = lancedb.connect(str(folder)).open_table(TABLE_NAME)
    return [list(index.columns) for index in table.list_indices() if index.index_type == "FTS"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_writers_creating_a_new_table_at_once_all_succeed_and_keep_every_row(tmp_path: Path, round_: int) -> None:
    raised = _at_once(lambda writer: _write_one_document(tmp_path, writer))

    assert raised == []
    assert LanceDbVectorIndex(tmp_path).count() == 2 * WRITERS
    assert _full_text_indexes(tmp_path) == [["fts_text"]]


def test_writers_opening_a_table_from_the_first_release_at_once_add_each_column_once(tmp_path: Path) -> None:
    table = lancedb.connect(str(tmp_path)).create_table(TABLE_NAME, schema=first_release_schema(DIMENSION))
    old_row = chunk_of("old", "written before tags, revisions and fts_text").model_dump(exclude={"tags", "revision"})
    table.add([{**old_row, "vector": np.ones(DIMENSION, np.float32)}])

    raised = _at_once(lambda writer: _write_one_document(tmp_path, writer))

    assert raised == []
    reopened = lancedb.connect(str(tmp_path)).open_table(TABLE_NAME)
    assert sorted(set(reopened.schema.names) - set(first_release_schema(DIMENSION).names)) == [
        "fts_text",
        "revision",
        "tags",
    ]
    assert reopened.count_rows() == 1 + 2 * WRITERS
    assert _full_text_indexes(tmp_path) == [["fts_text"]]
    assert [hit.chunk.document_id for hit in LanceDbVectorIndex(tmp_path).text_search("tags revisions", 5)] == ["old"]
