"""Chunks in an embedded, persistent LanceDB table: local mode's stand-in for OpenSearch Serverless."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from llmops.domain.models import Chunk, ScoredChunk

TABLE_NAME = "chunks"


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
        ]
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class LanceDbVectorIndex:
    def __init__(self, uri: str | Path, table_name: str = TABLE_NAME) -> None:
        self._db = lancedb.connect(str(uri))
        self._table_name = table_name
        self._table: Any = None

    def ensure_index(self, dimension: int) -> None:
        self._table = self._db.create_table(self._table_name, schema=_schema(dimension), exist_ok=True)

    def _opened(self) -> Any:
        if self._table is None:
            self._table = self._db.open_table(self._table_name)
        return self._table

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        table = self._opened()
        rows = [{**chunk.model_dump(), "vector": vector} for chunk, vector in zip(chunks, vectors, strict=True)]
        # New chunks go in before old ones go out: a reader may briefly see both versions, never neither.
        if rows:
            table.add(rows)
        versions = ", ".join(_quoted(v) for v in sorted({chunk.version for chunk in chunks}))
        condition = f"document_id = {_quoted(document_id)}"
        table.delete(f"{condition} AND version NOT IN ({versions})" if versions else condition)

    def delete_document(self, document_id: str) -> int:
        table = self._opened()
        condition = f"document_id = {_quoted(document_id)}"
        removed = int(table.count_rows(condition))
        table.delete(condition)
        return removed

    def search(self, vector: NDArray[np.float32], k: int) -> list[ScoredChunk]:
        if self._table is None and not self._exists():
            return []
        table = self._opened()
        table.checkout_latest()  # another process (the ingest function) may have written since we opened it
        rows = table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine").limit(k).to_list()
        return [
            ScoredChunk(
                chunk=Chunk.model_validate({name: row[name] for name in Chunk.model_fields}),
                score=1.0 - float(row["_distance"]),
            )
            for row in rows
        ]

    def count(self) -> int:
        return int(self._opened().count_rows()) if self._exists() else 0

    def _exists(self) -> bool:
        return self._table_name in self._db.list_tables().tables
