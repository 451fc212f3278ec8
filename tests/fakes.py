"""Test doubles for the ports that cannot run in a unit test. Each is named Fake and lives only here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmops.domain.models import (
    Chunk,
    DocumentRecord,
    DocumentRef,
    DocumentStatus,
    ScoredChunk,
    SearchFilters,
    TextMatch,
    Usage,
)
from llmops.domain.sequencer import single_revision
from llmops.ports import CurrentVersion, Generation, GenerationRequest, Page, RecordUpdate, StoredObject


def chunk_of(document_id: str, text: str = "x", **fields: Any) -> Chunk:
    """A chunk for index tests, with plausible values for every field that `fields` does not set."""
    values: dict[str, Any] = {
        "document_id": document_id,
        "source_key": f"documents/{document_id}.txt",
        "version": "v1",
        "title": document_id,
        "position": 0,
        "text": text,
        "content_hash": text,
        "token_count": 3,
        "embedding_model": "m",
    }
    return Chunk(**{**values, **fields})


class FakeObjectStore:
    def __init__(
        self,
        objects: dict[str, bytes] | None = None,
        content_types: dict[str, str] | None = None,
        tags: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.objects = dict(objects or {})
        self.content_types = dict(content_types or {})
        self.tags = dict(tags or {})
        self.current_versions: dict[str, str] = {}  # the version id current_version reports, where a test sets one

    def head_size(self, ref: DocumentRef) -> int:
        from llmops.domain.errors import DocumentNotFound

        if ref.key not in self.objects:
            raise DocumentNotFound(ref.key)
        return len(self.objects[ref.key])

    def current_version(self, bucket: str, key: str) -> CurrentVersion | None:
        if key not in self.objects:
            return None
        return CurrentVersion(version_id=self.current_versions.get(key), etag=None, size=len(self.objects[key]))

    def get(self, ref: DocumentRef) -> StoredObject:
        from llmops.domain.errors import DocumentNotFound

        if ref.key not in self.objects:
            raise DocumentNotFound(ref.key)
        return StoredObject(
            body=self.objects[ref.key],
            content_type=self.content_types.get(ref.key),
            version_id=ref.version_id,
            etag=None,
            tags=self.tags.get(ref.key, ()),
        )


class FakeVectorIndex:
    """An in-memory, exact cosine index with the replace/delete semantics the real ones have."""

    def __init__(self) -> None:
        self.rows: list[tuple[Chunk, NDArray[np.float32]]] = []
        self.writes = 0

    def ensure_index(self, dimension: int) -> None:
        self.dimension = dimension

    def add_chunks(self, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        self.writes += 1
        self.rows.extend(zip(chunks, vectors, strict=True))

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: NDArray[np.float32]) -> None:
        before = single_revision(chunks)
        self.add_chunks(chunks, vectors)
        self._remove(document_id, before, None, None)

    def delete_document(
        self, document_id: str, before: str | None = None, revision: str | None = None, keep: str | None = None
    ) -> int:
        return self._remove(document_id, before, revision, keep)

    def _remove(self, document_id: str, before: str | None, revision: str | None, keep: str | None = None) -> int:
        def removed(chunk: Chunk) -> bool:
            return (
                chunk.document_id == document_id
                and (before is None or chunk.revision < before)
                and (revision is None or chunk.revision == revision)
                and (keep is None or chunk.revision != keep)
            )

        kept = [(c, v) for c, v in self.rows if not removed(c)]
        count, self.rows = len(self.rows) - len(kept), kept
        return count

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        scored = [ScoredChunk(chunk=c, score=float(np.dot(v, vector))) for c, v in self._visible(filters)]
        return sorted(scored, key=lambda s: s.score, reverse=True)[:k]

    def count(self) -> int:
        return len(self.rows)

    def text_search(
        self, text: str, k: int, filters: SearchFilters | None = None, query_vector: object = None
    ) -> list[TextMatch]:
        """Stands in for BM25 with a count of shared lowercase words."""
        words = set(text.lower().split())
        scored = [(len(words & set(c.text.lower().split())), c) for c, _ in self._visible(filters)]
        ranked = sorted((pair for pair in scored if pair[0]), key=lambda pair: pair[0], reverse=True)
        return [TextMatch(chunk=c, score=float(n)) for n, c in ranked[:k]]

    def _visible(self, filters: SearchFilters | None) -> list[tuple[Chunk, NDArray[np.float32]]]:
        if filters is None:
            return self.rows
        return [
            (c, v)
            for c, v in self.rows
            if (not filters.prefix or c.source_key.startswith(filters.prefix))
            and (not filters.document_ids or c.document_id in filters.document_ids)
            and set(filters.tags or ()) <= set(c.tags)
        ]


@dataclass
class FakeLanguageModel:
    """Replies with a fixed text and records what it was asked."""

    reply: str = "Python uses indentation to group statements [1]."
    requests: list[GenerationRequest] = field(default_factory=list)
    name: str = "fake:echo"

    @property
    def model_id(self) -> str:
        return self.name

    def generate(self, request: GenerationRequest) -> Generation:
        self.requests.append(request)
        return Generation(text=self.reply, usage=Usage(input_tokens=len(request.user.split()), output_tokens=7))


class FakeDocumentRegistry:
    """The registry's semantics in memory: one record per document, the latest state of its latest version; a
    write with a sequencer older than the stored one is refused, as the DynamoDB condition refuses it."""

    def __init__(self) -> None:
        self.records: dict[str, DocumentRecord] = {}
        self.history: list[tuple[str, DocumentStatus, str | None]] = []

    def record(self, ref: DocumentRef, status: DocumentStatus, update: RecordUpdate | None = None) -> None:
        from llmops.domain.errors import SupersededChange

        update = update or RecordUpdate()
        previous = self.records.get(ref.document_id)
        stored_sequencer = previous.sequencer if previous else None
        if ref.sequencer is not None and stored_sequencer is not None and stored_sequencer > ref.sequencer:
            raise SupersededChange(f"{ref.key}: a change later than sequencer {ref.sequencer} is already recorded")
        fields = previous.model_dump() if previous else {}
        changes = {name: value for name, value in vars(update).items() if value is not None}
        if update.reason is None and status is not DocumentStatus.FAILED:
            fields["reason"] = None
        self.records[ref.document_id] = DocumentRecord.model_validate(
            {
                **fields,
                **changes,
                "document_id": ref.document_id,
                "bucket": ref.bucket,
                "source_key": ref.key,
                "version": ref.version_id or ref.etag or "unversioned",
                "status": status,
                "updated_at": f"t{len(self.history)}",
                "sequencer": ref.sequencer if ref.sequencer is not None else stored_sequencer,
            }
        )
        self.history.append((ref.key, status, self.records[ref.document_id].reason))

    def get(self, document_id: str) -> DocumentRecord | None:
        return self.records.get(document_id)

    def list(
        self,
        *,
        status: DocumentStatus | None = None,
        prefix: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        matching = [
            r
            for r in sorted(self.records.values(), key=lambda r: r.source_key)
            if (status is None or r.status is status) and (prefix is None or r.source_key.startswith(prefix))
        ]
        start = int(cursor or 0)
        page = matching[start : start + limit]
        return Page(records=page, next_cursor=str(start + limit) if start + limit < len(matching) else None)

    def last(self, key: str) -> tuple[DocumentStatus, str | None]:
        status, reason = next((s, r) for k, s, r in reversed(self.history) if k == key)
        return status, reason

    @property
    def chunk_counts(self) -> dict[str, int]:
        return {r.source_key: r.chunk_count or 0 for r in self.records.values()}


class FakeEmbeddingCache:
    def __init__(self) -> None:
        self.vectors: dict[tuple[str, str], NDArray[np.float32]] = {}

    def get_many(self, model_id: str, content_hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        return {h: self.vectors[(model_id, h)] for h in content_hashes if (model_id, h) in self.vectors}

    def put_many(self, model_id: str, vectors: dict[str, NDArray[np.float32]]) -> None:
        self.vectors.update({(model_id, h): v for h, v in vectors.items()})


class FakeOpenSearchClient:
    """An in-memory stand-in for an OpenSearch Serverless collection, as far as the vector index adapter uses it:
    auto-assigned ids (a write with an id is refused, as Serverless does), bulk, term/terms/ids/bool filters and
    k-NN with faiss inner-product scoring. With `refresh_lag`, searches see the collection as it was at the last
    `refresh()`: Serverless makes writes and deletes searchable only some seconds later, and has no refresh call."""

    def __init__(self, refresh_lag: bool = False) -> None:
        from opensearchpy.serializer import JSONSerializer

        self.transport = SimpleNamespace(serializer=JSONSerializer())  # what opensearchpy.helpers.bulk reads
        self.documents: dict[str, dict[str, Any]] = {}
        self.indices = _FakeIndices()
        self.bulk_calls = 0
        self._refresh_lag = refresh_lag
        self._searchable: dict[str, dict[str, Any]] = {}

    def refresh(self) -> None:
        """What Serverless does by itself, some seconds after a write (test-only: no such call exists there)."""
        self._searchable = dict(self.documents)

    @property
    def searchable(self) -> dict[str, dict[str, Any]]:
        return self._searchable if self._refresh_lag else self.documents

    def bulk(self, body: Any, **_: Any) -> dict[str, Any]:
        self.bulk_calls += 1
        lines = [json.loads(line) for line in body.strip().splitlines()] if isinstance(body, str) else list(body)
        items = []
        iterator = iter(lines)
        for action in iterator:
            ((operation, meta),) = action.items()
            if operation == "index":
                if "_id" in meta:
                    raise ValueError("Document ID is not supported in create/index operation request")
                identifier = str(uuid.uuid4())
                self.documents[identifier] = next(iterator)
                items.append({operation: {"_id": identifier, "status": 201, "result": "created"}})
            elif operation == "delete":
                found = self.documents.pop(meta["_id"], None) is not None
                result = {"status": 200, "result": "deleted"} if found else {"status": 404, "result": "not_found"}
                items.append({operation: {"_id": meta["_id"], **result}})
        return {"errors": any(not 200 <= item[op]["status"] < 300 for item in items for op in item), "items": items}

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body["query"]
        if "knn" in query:
            vector = np.asarray(query["knn"]["vector"]["vector"])
            scored = []
            for identifier, document in self.searchable.items():
                inner = float(np.dot(vector, document["vector"]))
                scored.append((1 + inner if inner >= 0 else 1 / (1 - inner), identifier, document))
            scored.sort(reverse=True)
            hits = [{"_id": i, "_score": s, "_source": d} for s, i, d in scored[: body["size"]]]
        else:
            hits = [
                {"_id": i, "_score": 1.0, "_source": d} for i, d in self.searchable.items() if _matches(query, d, i)
            ]
            hits = hits[: body["size"]]
        return {"hits": {"hits": hits}}


class _FakeIndices:
    def __init__(self) -> None:
        self.created: dict[str, Any] = {}

    def exists(self, index: str) -> bool:
        return index in self.created

    def create(self, index: str, body: dict[str, Any]) -> None:
        self.created[index] = body

    def put_mapping(self, index: str, body: dict[str, Any]) -> None:
        properties = self.created[index].setdefault("mappings", {}).setdefault("properties", {})
        for name, mapping in body["properties"].items():
            if properties.get(name, mapping) != mapping:
                raise ValueError(f"mapper [{name}] cannot be changed")  # as OpenSearch refuses it
            properties[name] = mapping


def _matches(query: dict[str, Any], document: dict[str, Any], identifier: str = "") -> bool:
    if "ids" in query:
        return identifier in query["ids"]["values"]
    if "term" in query:
        ((field_name, value),) = query["term"].items()
        stored = document.get(field_name)
        return value in stored if isinstance(stored, list) else bool(stored == value)  # keyword arrays match any
    if "terms" in query:
        ((field_name, values),) = query["terms"].items()
        return document.get(field_name) in values
    if "range" in query:  # keyword ranges compare as strings, as OpenSearch does on keyword fields
        ((field_name, bounds),) = query["range"].items()
        stored = document.get(field_name)
        return stored is not None and all(
            {"lt": stored < bound, "lte": stored <= bound, "gt": stored > bound, "gte": stored >= bound}[operator]
            for operator, bound in bounds.items()
        )
    if "exists" in query:
        return document.get(query["exists"]["field"]) is not None
    boolean = query["bool"]
    should = boolean.get("should", [])
    return (
        all(_matches(q, document, identifier) for q in boolean.get("filter", []))
        and not any(_matches(q, document, identifier) for q in boolean.get("must_not", []))
        and (
            not should
            or sum(_matches(q, document, identifier) for q in should) >= boolean.get("minimum_should_match", 1)
        )
    )


def stored_by_an_earlier_release(spec: Any, name: str, version: int, **changes: Any) -> Any:
    """`spec` as version `version` of `name`, with `changes` the spec's checks would now refuse: what an earlier
    release of the platform may have stored (e.g. guardrails naming a PII entity type since refused)."""
    from llmops.domain.prompts import PromptVersion

    fields = spec.model_dump(mode="json") | changes
    stamp = {"name": name, "version": version, "created_at": "2026-01-01T00:00:00+00:00", "content_hash": "0" * 64}
    return PromptVersion.model_validate(fields | stamp)


class FakePromptStore:
    """The prompt store's semantics in memory: versions are never overwritten; an alias moves only to an existing
    version, and only from where the caller saw it."""

    def __init__(self) -> None:
        from llmops.domain.prompts import PromptVersion

        self.versions: dict[tuple[str, int], PromptVersion] = {}
        self.alias_targets: dict[tuple[str, str], int] = {}
        self.writes = 0

    def put_version(self, version: Any) -> None:
        from llmops.domain.errors import PromptVersionExists

        key = (version.name, version.version)
        if key in self.versions:
            raise PromptVersionExists(f"{version.name} already has version {version.version}")
        self.versions[key] = version
        self.writes += 1

    def get_version(self, name: str, version: int) -> Any:
        return self.versions.get((name, version))

    def latest_version(self, name: str) -> Any:
        mine = self.list_versions(name)
        return mine[-1] if mine else None

    def list_versions(self, name: str) -> list[Any]:
        return [v for (n, _), v in sorted(self.versions.items()) if n == name]

    def get_alias(self, name: str, alias: str) -> int | None:
        return self.alias_targets.get((name, alias))

    def aliases(self, name: str) -> dict[str, int]:
        return {a: v for (n, a), v in self.alias_targets.items() if n == name}

    def put_alias(self, name: str, alias: str, version: int, *, current: int | None) -> None:
        from llmops.domain.errors import PromptConflict, PromptNotFound

        if (name, version) not in self.versions:
            raise PromptNotFound(f"{name} has no version {version}")
        if self.alias_targets.get((name, alias)) != current:
            raise PromptConflict(f"{name}@{alias} no longer points at {current}")
        self.alias_targets[(name, alias)] = version
        self.writes += 1

    def delete_alias(self, name: str, alias: str, *, current: int) -> None:
        from llmops.domain.errors import PromptConflict

        if self.alias_targets.get((name, alias)) != current:
            raise PromptConflict(f"{name}@{alias} no longer points at {current}")
        del self.alias_targets[(name, alias)]
        self.writes += 1

    def list_prompts(self) -> list[Any]:
        from llmops.domain.prompts import PromptSummary

        names = sorted({n for n, _ in self.versions})
        return [
            PromptSummary(
                name=n,
                latest_version=self.latest_version(n).version,
                description=self.latest_version(n).description,
                author=self.latest_version(n).author,
                updated_at=self.latest_version(n).created_at,
                aliases=self.aliases(n),
            )
            for n in names
        ]
