"""Chunks in an OpenSearch Serverless VECTORSEARCH collection, signed with SigV4 for the `aoss` service.

Serverless vector collections assign their own `_id` (a write with an id is refused), so chunks are found,
replaced and deleted through our own `document_id` and `version` fields. Serverless also has no refresh call: a
write becomes searchable some seconds later, so deletes page by excluding what they already deleted, and chunks
this process has just written are deleted by the ids their write returned.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from opensearchpy import OpenSearch, RequestsHttpConnection, helpers
from opensearchpy.exceptions import NotFoundError, RequestError

from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, TextMatch
from llmops.domain.sequencer import single_revision

_PAGE = 1000
_BULK_BYTES = 5 * 1024 * 1024  # well under Serverless' request size limit, with 1024-d vectors too
_REMEMBERED_WRITES = 64  # documents whose latest write's ids this process keeps, for withdrawing it


def index_body(dimension: int) -> dict[str, Any]:
    return {
        "settings": {"index": {"knn": True}},
        "mappings": {
            "properties": {
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    # Vectors are unit length, so inner product ranks exactly as cosine similarity.
                    "method": {"name": "hnsw", "engine": "faiss", "space_type": "innerproduct"},
                },
                # English stemming and stop words for BM25, as LanceDB's full-text index applies locally.
                "text": {"type": "text", "analyzer": "english"},
                "title": {"type": "text", "analyzer": "english"},
                "document_id": {"type": "keyword"},
                "source_key": {"type": "keyword"},
                "version": {"type": "keyword"},
                "position": {"type": "integer"},
                "page": {"type": "integer"},
                "section": {"type": "keyword"},
                "content_hash": {"type": "keyword"},
                "token_count": {"type": "integer"},
                "embedding_model": {"type": "keyword"},
                "tags": {"type": "keyword"},
                "revision": {"type": "keyword"},
            }
        },
    }


def connect(endpoint: str, region: str) -> OpenSearch:
    import boto3
    from opensearchpy import RequestsAWSV4SignerAuth

    host = endpoint.removeprefix("https://").rstrip("/")
    credentials = boto3.Session().get_credentials()
    return OpenSearch(
        hosts=[{"host": host, "port": 443}],
        http_auth=RequestsAWSV4SignerAuth(credentials, region, "aoss"),
        use_ssl=True,
        verify_certs=True,
        connection_class=RequestsHttpConnection,
        timeout=30,
        max_retries=3,
        retry_on_timeout=True,
    )


class OpenSearchVectorIndex:
    def __init__(self, client: OpenSearch, index_name: str) -> None:
        self._client = client
        self._index = index_name
        self._written: OrderedDict[tuple[str, str], list[str]] = OrderedDict()  # (document, revision) -> ids

    def ensure_index(self, dimension: int) -> None:
        if not self._client.indices.exists(index=self._index):
            try:
                self._client.indices.create(index=self._index, body=index_body(dimension))
                return
            except RequestError as error:
                # Concurrent cold starts race to make the first index: the one that loses finds it made.
                if error.error != "resource_already_exists_exception":
                    raise
        # An index made before chunks had revisions gains the field before the first chunk carrying one arrives
        # (left to dynamic mapping it would become text, which cannot be compared as a string). Idempotent.
        revision = {"revision": index_body(dimension)["mappings"]["properties"]["revision"]}
        self._client.indices.put_mapping(index=self._index, body={"properties": revision})

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        actions = (
            {"_index": self._index, "_source": {**chunk.model_dump(), "vector": vector.tolist()}}
            for chunk, vector in zip(chunks, vectors, strict=True)
        )
        results = helpers.streaming_bulk(
            self._client, actions, chunk_size=500, max_chunk_bytes=_BULK_BYTES, max_retries=3
        )
        ids = [item["index"]["_id"] for _, item in results]  # a failed write raises BulkIndexError
        written = {(chunk.document_id, chunk.revision) for chunk in chunks}
        if len(written) == 1:  # one document's write, which a later change may have to withdraw at once
            self._written[written.pop()] = ids
            while len(self._written) > _REMEMBERED_WRITES:
                self._written.popitem(last=False)

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        # New chunks go in before old ones go out: a reader may briefly see both versions, never neither.
        before = single_revision(chunks)
        self.add_chunks(chunks, vectors)
        self._delete_where(document_id, before=before)

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        return self._delete_where(document_id, before=before, revision=revision, keep=keep)

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        knn: dict[str, Any] = {"vector": vector.tolist(), "k": k}
        if clauses := _filter_clauses(filters):
            knn["filter"] = {"bool": {"filter": clauses}}  # faiss filters while searching, not after
        hits = self._hits({"size": k, "query": {"knn": {"vector": knn}}, "_source": {"excludes": ["vector"]}})
        # faiss inner-product scores arrive as 1 + ip when ip >= 0 and 1 / (1 - ip) otherwise; undo that.
        return [ScoredChunk(chunk=Chunk.model_validate(hit["_source"]), score=_cosine(hit["_score"])) for hit in hits]

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        query = {"bool": {"must": [{"match": {"text": text}}], "filter": _filter_clauses(filters)}}
        source: Any = True if query_vector is not None else {"excludes": ["vector"]}
        hits = self._hits({"size": k, "query": query, "_source": source})
        return [
            TextMatch(
                chunk=Chunk.model_validate(hit["_source"]),
                score=float(hit["_score"]),
                similarity=None if query_vector is None else float(np.dot(hit["_source"]["vector"], query_vector)),
            )
            for hit in hits
        ]

    def _hits(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            return list(self._client.search(index=self._index, body=body)["hits"]["hits"])
        except NotFoundError:
            return []

    def count(self) -> int:
        try:
            return int(self._client.count(index=self._index)["count"])
        except NotFoundError:
            return 0

    def _delete_where(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"document_id": document_id}}]}}
        if revision is not None:
            query["bool"]["filter"].append({"term": {"revision": revision}})
        if keep is not None:
            query["bool"]["must_not"] = [{"term": {"revision": keep}}]
        if before is not None:
            # Revisions are keyword strings, and a range on a keyword field compares them as strings, which is
            # their order. Chunks indexed before revisions existed have none and always count as older.
            query["bool"]["should"] = [
                {"range": {"revision": {"lt": before}}},
                {"bool": {"must_not": [{"exists": {"field": "revision"}}]}},
            ]
            query["bool"]["minimum_should_match"] = 1
        # Chunks written moments ago may not be searchable yet: those this process wrote go by their ids.
        deleted = self._written.pop((document_id, revision), []) if revision is not None else []
        removed = self._delete_ids(deleted)
        # Deleted chunks stay searchable until Serverless refreshes: each page leaves out those already gone.
        query["bool"].setdefault("must_not", []).append({"ids": {"values": deleted}})
        while True:
            try:
                hits = self._client.search(index=self._index, body={"size": _PAGE, "query": query, "_source": False})[
                    "hits"
                ]["hits"]
            except NotFoundError:
                return removed
            ids = [hit["_id"] for hit in hits]
            removed += self._delete_ids(ids)
            deleted.extend(ids)
            if len(hits) < _PAGE:
                return removed

    def _delete_ids(self, ids: Iterable[str]) -> int:
        """How many of these chunks this call deleted (one deleted by someone else meanwhile is not counted)."""
        actions = [{"_op_type": "delete", "_index": self._index, "_id": identifier} for identifier in ids]
        if not actions:
            return 0
        succeeded, _ = helpers.bulk(self._client, actions, raise_on_error=False, max_chunk_bytes=_BULK_BYTES)
        return int(succeeded)


def _filter_clauses(filters: SearchFilters | None) -> list[dict[str, Any]]:
    if filters is None:
        return []
    clauses: list[dict[str, Any]] = []
    if filters.prefix:
        clauses.append({"prefix": {"source_key": filters.prefix}})
    if filters.document_ids:
        clauses.append({"terms": {"document_id": list(filters.document_ids)}})
    # One term clause per tag: a chunk must carry every tag asked for (a single `terms` would match any of them).
    clauses.extend({"term": {"tags": tag}} for tag in filters.tags or ())
    return clauses


def _cosine(score: float) -> float:
    return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
