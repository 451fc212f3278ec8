"""Chunks in an embedded, persistent LanceDB table: local mode's stand-in for OpenSearch Serverless."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from filelock import FileLock
from lancedb.index import FTS
from numpy.typing import NDArray

from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, TextMatch
from llmops.domain.sequencer import single_revision

TABLE_NAME = "chunks"
# Rows written since the full-text index was last built or optimized are scanned by searches and scored with the
# BM25 statistics of the whole table, while the rows the index holds keep the statistics of that fold, until the
# next one (tests/unit/test_lancedb_full_text.py). Folding in after every write would end that, but costs more than
# the write (on 3,105 rows: optimize 380 ms, growing with the table's versions of the last 7 days; rebuilding the
# full-text index 180 ms, growing with its rows; against 17 ms; `python -m bench.lancedb_costs --writes`), so it
# happens once this many rows wait unfolded (a writer counts those it finds when it opens the table).
_OPTIMIZE_EVERY_ROWS = 2000
# The first fetch of a filtered full-text search: a filter that most rows meet needs no second one.
_MIN_OVERFETCH = 200
_TAGS_FIELD = pa.field("tags", pa.list_(pa.string()))
_REVISION_FIELD = pa.field("revision", pa.string())
# Columns added after the first release: tables made before them gain them (null in old rows) on first open.
_ADDED_FIELDS = (_TAGS_FIELD, _REVISION_FIELD)

# What full-text search indexes and matches: `text` with every Han ideograph and Hiragana character set apart by
# spaces, as OpenSearch's standard tokenizer (Unicode word segmentation, UAX #29, in Lucene's grammar) makes each of
# them a token of its own. LanceDB's "simple" tokenizer splits only at whitespace and punctuation, so a Chinese or
# Japanese sentence would be one over-long token that no word inside it matches. Katakana runs and Hangul words stay
# whole in both; text without these characters is left exactly as it is, so its tokens and BM25 scores are those of
# `text`. `text` itself stays what search returns.
_FTS_TEXT_FIELD = pa.field("fts_text", pa.string())
_SET_APART = (  # Unicode's Han and Hiragana scripts, less the radicals and symbols LanceDB's tokenizer drops anyway
    (0x3005, 0x3005),  # 々, iteration mark
    (0x3007, 0x3007),  # 〇, ideographic zero
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3038, 0x303B),
    (0x3041, 0x3096),  # Hiragana
    (0x309D, 0x309F),
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x1B001, 0x1B11F),  # Hiragana in Kana Supplement and Extended-A (hentaigana)
    (0x1B132, 0x1B132),
    (0x1B150, 0x1B152),
    (0x20000, 0x323AF),  # Extensions B to H and the compatibility supplement
)
_SET_APART_RE = re.compile("([" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in _SET_APART) + "])")
# The same rewrite in LanceDB's SQL (DataFusion's regexp_replace, Rust's regex syntax): it fills the column of rows
# written before it existed.
_FTS_TEXT_SQL = (
    "regexp_replace(text, '(["
    + "".join(f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in _SET_APART)
    + "])', ' \\1 ', 'g')"
)


def _fts_text(text: str) -> str:
    """`text` as the full-text index reads it (and a query as it is matched against that)."""
    return _SET_APART_RE.sub(r" \1 ", text)


def _schema(dimension: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("vector", pa.list_(pa.float32(), dimension)),
            pa.field("document_id", pa.string()),
            pa.field("source_key", pa.string()),
            pa.field("version", pa.string()),
            pa.field("title", pa.string()),
            pa.field("position", pa.int32()),
            pa.field("page", pa.int32()),
            pa.field("section", pa.string()),
            pa.field("text", pa.string()),
            pa.field("content_hash", pa.string()),
            pa.field("token_count", pa.int32()),
            pa.field("embedding_model", pa.string()),
            *_ADDED_FIELDS,
            _FTS_TEXT_FIELD,
        ]
    )


# Every column a table made by this release has. Tables only ever gain columns (`_ADDED_FIELDS`, `fts_text`).
_COLUMNS = tuple(_schema(1).names)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _where(filters: SearchFilters | None) -> str | None:
    if filters is None or filters.empty:
        return None
    conditions = []
    if filters.prefix:
        conditions.append(f"starts_with(source_key, {_quoted(filters.prefix)})")
    if filters.document_ids:
        conditions.append(f"document_id IN ({', '.join(_quoted(d) for d in filters.document_ids)})")
    if filters.tags:
        conditions.append(f"array_has_all(tags, [{', '.join(_quoted(t) for t in filters.tags)}])")
    return " AND ".join(conditions)


def _chunks_of(
    document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
) -> str:
    """The document's rows; with `before`, those of revisions sorting below it (rows written before the revision
    column existed hold null there and always count as older); with `revision`, those of that revision; without
    those of revision `keep`."""
    condition = f"document_id = {_quoted(document_id)}"
    if before is not None:
        condition += f" AND (revision IS NULL OR revision < {_quoted(before)})"
    if revision is not None:
        condition += f" AND revision = {_quoted(revision)}"
    if keep is not None:
        condition += f" AND (revision IS NULL OR revision != {_quoted(keep)})"
    return condition


def _filtered(query: Any, filters: SearchFilters | None) -> Any:
    condition = _where(filters)
    return query.where(condition, prefilter=True) if condition else query


def _chunk(row: dict[str, Any]) -> Chunk:
    # Rows written before a column was added read back as null there.
    fields = {name: row.get(name) for name in Chunk.model_fields}
    return Chunk.model_validate({**fields, "tags": row.get("tags") or [], "revision": row.get("revision") or ""})


def _read_back(columns: Sequence[str], *extra: str) -> list[str]:
    """What a search reads of each row: the fields of a chunk that the table has (one made before a column was
    added lacks it until a writer opens it, and `_chunk` takes it as null), then `extra`. Neither `vector` (384
    floats a row), which only a text match's similarity needs, nor `fts_text`, which only the full-text index reads.
    Naming the score column (`_distance`, `_score`) keeps it in the result."""
    present = set(columns)
    return [name for name in Chunk.model_fields if name in present] + list(extra)


def _is_full_text_index_on(index: Any, column: str) -> bool:
    return bool(index.index_type == "FTS" and list(index.columns) == [column])


def _unanswerable(columns: Sequence[str], filters: SearchFilters | None) -> bool:
    """A tag filter on a table that has no tags column yet (nothing has been indexed since it was added there)."""
    return bool(filters and filters.tags) and _TAGS_FIELD.name not in columns


class LanceDbVectorIndex:
    def __init__(self, uri: str | Path, table_name: str = TABLE_NAME) -> None:
        self._db = lancedb.connect(str(uri))
        self._table_name = table_name
        # Held while a table is created or its columns or indexes are changed. Lance commits those optimistically,
        # and writers opening a new table at once through separate handles (threads, or processes over the same
        # folder) race: a second `create_table(exist_ok=True)` can commit an overwrite that drops the first writer's
        # rows, and all but one `create_index` fail (tests/unit/test_lancedb_concurrent_writers.py). LanceDB's
        # folder is local, so a lock file beside its tables serializes these, across processes too.
        self._schema_lock = FileLock(Path(uri).expanduser() / f"{table_name}.lock")  # `connect` made the folder
        self._table: Any = None
        self._pending_rows = 0
        self._full_text_indexed: set[str] = set()  # columns seen with a full-text index: searches look no more
        self._complete = False  # the table has been seen with every column in `_COLUMNS`

    def ensure_index(self, dimension: int) -> None:
        with self._schema_lock:
            if self._exists():
                # Opened, not created with exist_ok: that refuses a table whose schema predates a column added since.
                self._table = self._db.open_table(self._table_name)
                self._ensure_added_columns(self._table)
                self._ensure_fts_text(self._table)
            else:
                self._table = self._db.create_table(self._table_name, schema=_schema(dimension))
            indexes = list(self._table.list_indices())  # listed once for both steps
            self._ensure_full_text_index(self._table, _FTS_TEXT_FIELD.name, indexes)
            self._drop_other_full_text_indexes(self._table, indexes)
        # Rows other handles wrote (earlier `llmops ingest` runs, another process) and left unfolded count towards the
        # next fold too: counted per handle only, a table always written in smaller pieces was never folded, and every
        # text search scanned all of its rows.
        self._pending_rows = sum(
            index.num_unindexed_rows for index in indexes if _is_full_text_index_on(index, _FTS_TEXT_FIELD.name)
        )

    @staticmethod
    def _ensure_added_columns(table: Any) -> None:
        """A table made before a column was added gains it (null in its rows: no tags, no revision)."""
        missing = [field for field in _ADDED_FIELDS if field.name not in table.schema.names]
        if missing:
            table.add_columns(missing)

    @staticmethod
    def _ensure_fts_text(table: Any) -> None:
        """A table made before full-text search read `fts_text` gains it, computed from `text` for every row."""
        if _FTS_TEXT_FIELD.name not in table.schema.names:
            table.add_columns({_FTS_TEXT_FIELD.name: _FTS_TEXT_SQL})

    def _ensure_full_text_index(self, table: Any, column: str, indexes: Sequence[Any] | None = None) -> None:
        """Rows added after the index is built are still searched (unindexed data is scanned), so it is built once.

        A search looks for it until it has seen it (`indexes` None): only a writer's `ensure_index`, which always
        looks (given `indexes`), drops an index, and never one that searches still read (the one on `text` goes
        once `fts_text` exists, which they then read instead)."""
        if indexes is None:
            if column in self._full_text_indexed:
                return
            indexes = list(table.list_indices())
        if not any(_is_full_text_index_on(index, column) for index in indexes):
            with self._schema_lock:  # a writer's ensure_index holds it already (it is reentrant)
                table.checkout_latest()  # what was listed before the lock may be out of date
                if not any(_is_full_text_index_on(index, column) for index in table.list_indices()):
                    table.create_index(column, config=FTS(with_position=False))
        self._full_text_indexed.add(column)

    @staticmethod
    def _drop_other_full_text_indexes(table: Any, indexes: Sequence[Any]) -> None:
        """The index on `text` that tables made before `fts_text` have: nothing searches it once `fts_text` is
        indexed, and `optimize` would go on updating it."""
        for index in indexes:
            if index.index_type == "FTS" and not _is_full_text_index_on(index, _FTS_TEXT_FIELD.name):
                table.drop_index(index.name)

    def _opened(self) -> Any:
        if self._table is None:
            self._table = self._db.open_table(self._table_name)
        return self._table

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        rows = [
            {**chunk.model_dump(), _FTS_TEXT_FIELD.name: _fts_text(chunk.text), "vector": vector}
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        if not rows:
            return
        self._opened().add(rows)
        self._pending_rows += len(rows)
        if self._pending_rows >= _OPTIMIZE_EVERY_ROWS:
            self.optimize()

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        # New chunks go in before old ones go out: a reader may briefly see both versions, never neither.
        before = single_revision(chunks)  # checked before anything is written
        self.add_chunks(chunks, vectors)
        self._opened().delete(_chunks_of(document_id, before=before))

    def optimize(self) -> None:
        """Fold rows added since the indexes were built into them (full-text search scans unindexed rows)."""
        self._opened().optimize()
        self._pending_rows = 0

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        table = self._opened()
        condition = _chunks_of(document_id, before, revision, keep)
        removed = int(table.count_rows(condition))
        if removed:
            table.delete(condition)
        return removed

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        table = self._readable()
        if table is None:
            return []
        columns = self._columns(table)
        if _unanswerable(columns, filters):
            return []
        query = table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
        rows = _filtered(query, filters).select(_read_back(columns, "_distance")).limit(k).to_list()
        return [ScoredChunk(chunk=_chunk(row), score=1.0 - float(row["_distance"])) for row in rows]

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        table = self._readable()
        if table is None or not text.strip():
            return []
        columns = self._columns(table)
        if _unanswerable(columns, filters):
            return []
        if _FTS_TEXT_FIELD.name in columns:
            column, text = _FTS_TEXT_FIELD.name, _fts_text(text)
        else:  # a table made before `fts_text`, not yet opened for writing since: searched as it was
            column = "text"
        self._ensure_full_text_index(table, column)
        read_back = _read_back(columns, *(() if query_vector is None else ("vector",)), "_score")
        rows = self._text_rows(table, text, k, _where(filters), column, read_back)
        return [
            TextMatch(
                chunk=_chunk(row),
                score=float(row["_score"]),
                similarity=None if query_vector is None else float(np.dot(row["vector"], query_vector)),
            )
            for row in rows
        ]

    @staticmethod
    def _text_rows(
        table: Any, text: str, k: int, condition: str | None, column: str, read_back: list[str]
    ) -> list[dict[str, Any]]:
        """The k best BM25 matches among the rows meeting `condition`, scored as if unfiltered.

        A filter must not change a score (it does not in OpenSearch, whose filter clause leaves scoring to the whole
        index). LanceDB scans the rows its full-text index does not hold yet, which locally is every row until
        enough have been written, and a prefilter would compute their BM25 statistics over the filtered rows only.
        So the filter is applied after scoring; as LanceDB applies the limit first, the search over-fetches until
        it has as many rows as a prefiltered search finds, which is the number that meet the filter."""

        def matches(limit: int, prefilter: bool | None = None, only: list[str] | None = None) -> list[dict[str, Any]]:
            query = table.search(text, query_type="fts", fts_columns=column).select(only or read_back)
            if prefilter is not None and condition is not None:
                query = query.where(condition, prefilter=prefilter)
            return list(query.limit(limit).to_list())

        if condition is None:
            return matches(k)
        wanted = len(matches(k, prefilter=True, only=["_score"]))  # only counted
        limit, total = max(k, _MIN_OVERFETCH), int(table.count_rows())
        while True:
            rows = matches(limit, prefilter=False)
            if len(rows) >= wanted or limit >= total:
                return rows[:k]
            limit *= 4

    def _columns(self, table: Any) -> Sequence[str]:
        """The table's columns: read from it until it has all those of `_COLUMNS`, which it then keeps."""
        if self._complete:
            return _COLUMNS
        columns = table.schema.names
        self._complete = all(name in columns for name in _COLUMNS)
        return columns

    def _readable(self) -> Any:
        if self._table is None and not self._exists():
            return None
        table = self._opened()
        table.checkout_latest()  # another process (the ingest function) may have written since we opened it
        return table

    def count(self) -> int:
        # From the latest version: a re-index's progress is written through other handles (the map's items).
        table = self._readable()
        return 0 if table is None else int(table.count_rows())

    def _exists(self) -> bool:
        return self._table_name in self._db.list_tables().tables
