"""Schemas of the local chunks table as earlier releases made it, frozen here on purpose (not read from the adapter,
whose schema moves on): tests open such tables to show that this release reads them and brings them up to date."""

from __future__ import annotations

import pyarrow as pa


def first_release_schema(dimension: int) -> pa.Schema:
    """The chunks table as the first release made it: no `tags`, `revision` or `fts_text`."""
    return pa.schema(
        [
            pa.field("vector", pa.list_(pa.float32(), dimension)),
            *(pa.field(n, pa.string()) for n in ("document_id", "source_key", "version", "title")),
            pa.field("position", pa.int32()),
            pa.field("page", pa.int32()),
            pa.field("section", pa.string()),
            pa.field("text", pa.string()),
            pa.field("content_hash", pa.string()),
            pa.field("token_count", pa.int32()),
            pa.field("embedding_model", pa.string()),
        ]
    )


def before_fts_text_schema(dimension: int) -> pa.Schema:
    """The chunks table as it was made after chunks gained tags and revisions, before full-text search read
    `fts_text`."""
    return pa.schema(
        [*first_release_schema(dimension), pa.field("tags", pa.list_(pa.string())), pa.field("revision", pa.string())]
    )
