"""Handlers with the domain services replaced: parsing, batch failure reporting and error mapping."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.answering import AnsweringPolicy, QuestionAnsweringService
from llmops.domain.chunking import Chunker
from llmops.domain.errors import AnswerPromptUnusable, ModelInvocationError, UnsupportedParameters
from llmops.domain.guardrails import Guardrails
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import DocumentStatus, ExtractedDocument, SearchMode, Section
from llmops.domain.prompts import PromptCatalog
from llmops.domain.retrieval import RetrievalSettings, Retriever
from llmops.ports import Generation, GenerationRequest, PiiSpan
from tests.fakes import (
    FakeDocumentRegistry,
    FakeLanguageModel,
    FakeObjectStore,
    FakePromptStore,
    FakeVectorIndex,
)
from tests.handler_events import lambda_context
from tests.template.handler_modules import load_handler_module

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(autouse=True)
def _no_idempotency_table(handler_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # Redelivery protection needs its DynamoDB table; the integration tests run it against the emulator.
    monkeypatch.setenv("POWERTOOLS_IDEMPOTENCY_DISABLED", "true")


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    """A record handled outside lambda_handler leaves its metrics unflushed; the next test must not publish them."""
    yield
    from llmops.observability import metrics  # imported late: Metrics reads its namespace from the env when created

    metrics.clear_metrics()


def _event(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


@pytest.fixture
def ingest_app(
    embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> tuple[ModuleType, FakeDocumentRegistry]:
    module = load_handler_module("ingest")
    registry = FakeDocumentRegistry()
    service = IngestionService(
        store=FakeObjectStore({"documents/guides/getting-started.md": b"# Start\n\nInstall the tool, then run it."}),
        embedder=embedder,
        index=FakeVectorIndex(),
        registry=registry,
        chunker=Chunker(embedder.tokenizer, 250, 32, embedder.model_id),
        limits=IngestionLimits(max_object_bytes=10_000, max_chunks_per_document=100),
    )
    monkeypatch.setattr(module, "ingestion_service", lambda: service)
    return module, registry


def test_ingest_handler_indexes_created_objects_and_reports_no_failures(
    ingest_app: tuple[ModuleType, FakeDocumentRegistry],
) -> None:
    module, registry = ingest_app

    response = module.lambda_handler(_event("ingest_object_created.json"), lambda_context())

    assert response == {"batchItemFailures": []}
    assert registry.last("documents/guides/getting-started.md") == (DocumentStatus.INDEXED, None)


def test_ingest_handler_removes_deleted_objects(ingest_app: tuple[ModuleType, FakeDocumentRegistry]) -> None:
    module, registry = ingest_app
    module.ingestion_service()._store.objects.clear()  # the deletion the event reports

    module.lambda_handler(_event("ingest_object_deleted.json"), lambda_context())

    assert registry.last("documents/guides/getting-started.md")[0] is DocumentStatus.DELETED


def test_ingest_handler_reports_only_the_malformed_record_as_failed(
    ingest_app: tuple[ModuleType, FakeDocumentRegistry],
) -> None:
    module, _ = ingest_app
    event = _event("ingest_object_created.json")
    good = event["Records"][0]
    bad = {**good, "messageId": "poison", "body": '{"not": "an S3 event"}'}
    event["Records"] = [good, bad]

    response = module.lambda_handler(event, lambda_context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "poison"}]}


def _upload_of(record: dict[str, Any], key: str, message_id: str) -> dict[str, Any]:
    body = json.loads(record["body"])
    body["detail"]["object"]["key"] = key
    return {**record, "messageId": message_id, "body": json.dumps(body)}


def test_ingest_handler_ignores_a_folder_marker_and_indexes_the_rest_of_its_batch(
    ingest_app: tuple[ModuleType, FakeDocumentRegistry],
) -> None:
    module, registry = ingest_app
    event = _event("ingest_object_created.json")
    record = event["Records"][0]
    event["Records"] = [_upload_of(record, "documents/guides/", "marker"), record]

    response = module.lambda_handler(event, lambda_context())

    assert response == {"batchItemFailures": []}
    assert all(key != "documents/guides/" for key, _, _ in registry.history)  # no document, failed or otherwise
    assert registry.last("documents/guides/getting-started.md") == (DocumentStatus.INDEXED, None)


def test_ingest_handler_reads_the_next_upload_of_its_batch_while_processing_the_current_one(
    embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from llmops.domain.models import DocumentRef
    from llmops.ports import StoredObject

    class WatchedStore(FakeObjectStore):
        def __init__(self, objects: dict[str, bytes]) -> None:
            super().__init__(objects)
            self.reads: list[tuple[str, str]] = []

        def get(self, ref: DocumentRef) -> StoredObject:
            self.reads.append((ref.key, threading.current_thread().name))
            return super().get(ref)

    keys = ("documents/a.md", "documents/b.md", "documents/c.md")
    store = WatchedStore(dict.fromkeys(keys, b"# Guide\n\nInstall the tool, then run it."))
    registry = FakeDocumentRegistry()
    service = IngestionService(
        store=store,
        embedder=embedder,
        index=FakeVectorIndex(),
        registry=registry,
        chunker=Chunker(embedder.tokenizer, 250, 32, embedder.model_id),
        limits=IngestionLimits(max_object_bytes=10_000, max_chunks_per_document=100),
    )
    module = load_handler_module("ingest")
    monkeypatch.setattr(module, "ingestion_service", lambda: service)
    created = _event("ingest_object_created.json")["Records"][0]
    deleted = _event("ingest_object_deleted.json")["Records"][0]
    event = {
        "Records": [
            _upload_of(created, "documents/a.md", "first"),
            {**deleted, "messageId": "between"},
            _upload_of(created, "documents/b.md", "second"),
            _upload_of(created, "documents/c.md", "third"),
        ]
    }

    response = module.lambda_handler(event, lambda_context())

    assert response == {"batchItemFailures": []}
    assert all(registry.last(key) == (DocumentStatus.INDEXED, None) for key in keys)
    assert next(status for key, status, _ in registry.history if key == "documents/b.md") is DocumentStatus.QUEUED
    # every upload after the first was read in the background while the one before it was processed
    assert sorted(store.reads) == [
        ("documents/a.md", "MainThread"),
        ("documents/b.md", "ingest-prefetch"),
        ("documents/c.md", "ingest-prefetch"),
    ]


def _older_version_of(event: dict[str, Any], version_id: str, sequencer: str) -> dict[str, Any]:
    """The same sample event for an earlier version of its object: S3 made it before, it arrives after."""
    record = dict(event["Records"][0])
    body = json.loads(record["body"])
    body["detail"]["object"].update({"version-id": version_id, "sequencer": sequencer})
    record.update(messageId="late", body=json.dumps(body))
    return {"Records": [record]}


def test_ingest_handler_skips_an_event_older_than_the_applied_change_and_counts_it(
    ingest_app: tuple[ModuleType, FakeDocumentRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    module, registry = ingest_app
    created = _event("ingest_object_created.json")
    module.lambda_handler(created, lambda_context())
    capsys.readouterr()
    history = list(registry.history)
    late = _older_version_of(created, "0lderVersi0nId", "617f08299329d100")

    response = module.lambda_handler(late, lambda_context())
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    result = module.handle_record(SQSRecord(late["Records"][0]))

    assert response == {"batchItemFailures": []}
    assert registry.history == history
    assert [[d["Name"] for d in m["_aws"]["CloudWatchMetrics"][0]["Metrics"]] for m in metrics] == [
        ["StaleEventsSkipped"]
    ]
    assert metrics[0]["StaleEventsSkipped"] == [1.0]
    assert result["superseded"] is True and result["status"] == "indexed"
    assert "a newer change (sequencer 617F08299329D189" in result["reason"]


class _FailingModel(FakeLanguageModel):
    def generate(self, request: Any) -> Any:
        raise ModelInvocationError("endpoint llm-dev is not in service")


@pytest.fixture
def query_app() -> ModuleType:
    return load_handler_module("query")


def _answering(
    embedder: OnnxMiniLmEmbedder, llm: FakeLanguageModel, prompts: bool = False, guardrails: Guardrails | None = None
) -> QuestionAnsweringService:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    text = "Python uses indentation for grouping of statements, which keeps programs readable."
    chunks = chunker.chunk(
        ExtractedDocument(title="FAQ", sections=[Section(text=text)]), document_id="d", source_key="k", version="v"
    )
    index.replace_document("d", chunks, embedder.embed([c.text for c in chunks]))
    policy = AnsweringPolicy(
        top_k=3,
        min_relevance_score=0.3,
        min_answer_support=0.7,
        max_context_tokens=500,
        max_new_tokens=32,
        temperature=0,
    )
    retriever = Retriever(embedder, index, RetrievalSettings())
    catalog = PromptCatalog(FakePromptStore()) if prompts else None
    return QuestionAnsweringService(embedder, retriever, llm, policy, prompts=catalog, guardrails=guardrails)


def test_query_handler_answers_the_sample_event_with_citations(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = FakeLanguageModel(reply="Python uses indentation to group statements, keeping programs readable.")
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, llm))

    response = query_app.lambda_handler(_event("query_post.json"), lambda_context())

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["grounded"] is True
    assert body["citations"][0]["source_key"] == "k"


class _EveryAddressIsPii:
    """A PII detector finding each e-mail address of the fake corpus's kind (name@example.com)."""

    name = "fake"

    def find_pii(self, text: str, entity_types: object) -> list[PiiSpan]:
        return [PiiSpan("EMAIL_ADDRESS", m.start(), m.end(), 0.99) for m in re.finditer(r"\S+@example\.com", text)]


class _RecordedEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.published.append((detail_type, detail))

    def publish_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.published.extend(events)


def test_query_handler_names_the_api_request_in_every_guardrail_event(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _RecordedEvents()
    guardrails = Guardrails(pii=_EveryAddressIsPii(), events=events)
    llm = FakeLanguageModel(reply="Python uses indentation to group statements, keeping programs readable.")
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, llm, guardrails=guardrails))
    event = _event("query_post.json")
    event["body"] = json.dumps({"question": "How does Python group statements? Reply to ana@example.com"})

    response = query_app.lambda_handler(event, lambda_context())

    assert response["statusCode"] == 200
    assert [detail["check"] for _, detail in events.published] == ["pii"]
    assert {detail["request_id"] for _, detail in events.published} == {event["requestContext"]["requestId"]}


def test_query_handler_rejects_invalid_bodies_with_422(query_app: ModuleType) -> None:
    event = _event("query_post.json")
    event["body"] = json.dumps({"question": "", "top_k": 500})

    response = query_app.lambda_handler(event, lambda_context())

    assert response["statusCode"] == 422
    body = json.loads(response["body"])
    assert "body.question: String should have at least 1 character" in body["message"]
    assert "body.top_k: Input should be less than or equal to 50" in body["message"]
    assert {tuple(d["loc"]) for d in body["detail"]} == {("body", "question"), ("body", "top_k")}


def _query_with(content_type: str, body: str) -> dict[str, Any]:
    event = _event("query_post.json")
    event["headers"] = {"Host": event["headers"]["Host"], "Content-Type": content_type}
    event["body"] = body
    return event


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain; charset=utf-8"])
def test_query_handler_names_the_content_type_when_a_json_body_is_not_sent_as_json(
    query_app: ModuleType, content_type: str
) -> None:
    # curl -d sends a form: parsed as form fields, the question would be reported "missing" although it is there.
    event = _query_with(content_type, json.dumps({"question": "How do I install it?"}))

    response = query_app.lambda_handler(event, lambda_context())

    assert response["statusCode"] == 415
    message = json.loads(response["body"])["message"]
    assert "'content-type: application/json'" in message
    assert f"got '{content_type.split(';')[0]}'" in message


def test_query_handler_says_a_malformed_json_body_is_not_json(query_app: ModuleType) -> None:
    response = query_app.lambda_handler(_query_with("application/json", '{"question": '), lambda_context())

    assert response["statusCode"] == 422
    assert json.loads(response["body"])["message"] == "The request body is not valid JSON"


def _search(body: dict[str, Any]) -> dict[str, Any]:
    event = _query_with("application/json", json.dumps(body))
    event.update(resource="/search", path="/search")
    return event


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"query": "   "}, "body.query: it is blank"),
        ({"query": "indentation", "vector_weight": 0, "text_weight": 0}, "both 0"),
        ({"query": "indentation", "filters": {"tag": ["hr"]}}, "body.filters.tag: Extra inputs are not permitted"),
        (
            {"query": "indentation", "filters": {"document_ids": []}},
            "body.filters.document_ids: List should have at least 1",
        ),
        # A misspelt `filters` would have searched the whole corpus.
        ({"query": "indentation", "filter": {"prefix": "hr/"}}, "body.filter: Extra inputs are not permitted"),
        (
            {"query": "indentation", "vector_weight": float("inf")},
            "body.vector_weight: Input should be a finite number",
        ),
        ({"query": "indentation", "vector_weight": 1e308, "text_weight": 1e308}, "less than or equal to 1000000"),
        ({"query": "indentation", "top_k": True}, "body.top_k: Input should be a valid integer"),
        ({"query": "indentation", "top_k": "5"}, "body.top_k: Input should be a valid integer"),
    ],
)
def test_search_handler_refuses_a_request_that_cannot_rank_or_filter_as_asked(
    query_app: ModuleType, body: dict[str, Any], reason: str
) -> None:
    response = query_app.lambda_handler(_search(body), lambda_context())

    assert response["statusCode"] == 422
    assert reason in json.loads(response["body"])["message"]


@pytest.mark.parametrize(
    ("body", "located"),
    [
        ({"mode": "text", "text_weight": 2}, {("body", "text_weight")}),
        (
            {"mode": "vector", "vector_weight": 1, "text_weight": 0.5},
            {("body", "vector_weight"), ("body", "text_weight")},
        ),
    ],
    ids=["text", "vector"],
)
def test_search_handler_refuses_fusion_weights_for_a_search_that_fuses_nothing_naming_each_field_in_detail(
    query_app: ModuleType,
    embedder: OnnxMiniLmEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    body: dict[str, Any],
    located: set[tuple[str, ...]],
) -> None:
    monkeypatch.setattr(query_app, "retriever", lambda: Retriever(embedder, FakeVectorIndex(), RetrievalSettings()))

    response = query_app.lambda_handler(_search({"query": "indentation", **body}), lambda_context())

    assert response["statusCode"] == 422
    answer = json.loads(response["body"])
    assert f"this search is {body['mode']}" in answer["message"]
    assert {tuple(d["loc"]) for d in answer["detail"]} == located  # as for any other field the body gets wrong
    assert all(f"this search is {body['mode']}" in d["msg"] for d in answer["detail"])


def test_search_handler_refuses_fusion_weights_when_the_configured_mode_fuses_nothing_with_a_detail(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No mode in the body: SEARCH_MODE decides, which the request model cannot know; the retriever refuses.
    vector_only = RetrievalSettings(mode=SearchMode.VECTOR)
    monkeypatch.setattr(query_app, "retriever", lambda: Retriever(embedder, FakeVectorIndex(), vector_only))

    response = query_app.lambda_handler(_search({"query": "indentation", "text_weight": 2}), lambda_context())

    assert response["statusCode"] == 422
    answer = json.loads(response["body"])
    assert answer["message"].startswith("body: ") and "this search is vector" in answer["message"]
    assert [(d["loc"], d["type"]) for d in answer["detail"]] == [(["body"], "value_error")]
    assert answer["detail"][0]["msg"] in answer["message"]


class _RefusingModel(FakeLanguageModel):
    def generate(self, request: GenerationRequest) -> Generation:
        raise UnsupportedParameters("temperature 1.5 is above 1, the most Bedrock models take")


def test_query_handler_answers_500_with_what_to_change_for_parameters_of_the_configured_prompt_the_model_refuses(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, _RefusingModel()))

    response = query_app.lambda_handler(_event("query_post.json"), lambda_context())

    # The body chose no prompt: the parameters are the deployment's (its prompt's or its settings'), not the client's.
    assert response["statusCode"] == 500
    assert "temperature 1.5 is above 1" in json.loads(response["body"])["message"]


def test_query_handler_answers_500_naming_the_setting_when_the_configured_answer_prompt_cannot_answer(
    query_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    class _Unusable:
        def answer(self, *_: Any, **__: Any) -> None:
            raise AnswerPromptUnusable("the platform's answer prompt rag-answer@prod (ANSWER_PROMPT_NAME, ...) ...")

    monkeypatch.setattr(query_app, "answering_service", _Unusable)

    response = query_app.lambda_handler(_event("query_post.json"), lambda_context())

    assert response["statusCode"] == 500
    assert "ANSWER_PROMPT_NAME" in json.loads(response["body"])["message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"question": "   "}, "body.question: it is blank"),
        ({"question": "Why indentation?", "prompt": ""}, "body.prompt: String should have at least 1 character"),
        (
            {"question": "Why indentation?", "prompt_versoin": "2"},
            "body.prompt_versoin: Extra inputs are not permitted",
        ),
    ],
)
def test_query_handler_refuses_a_question_it_would_otherwise_answer_other_than_asked(
    query_app: ModuleType, body: dict[str, Any], reason: str
) -> None:
    response = query_app.lambda_handler(_query_with("application/json", json.dumps(body)), lambda_context())

    assert response["statusCode"] == 422
    assert reason in json.loads(response["body"])["message"]


def test_query_handler_takes_a_prompt_version_given_as_a_number(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, FakeLanguageModel(), prompts=True))
    event = _query_with("application/json", json.dumps({"question": "Why indentation?", "prompt_version": 7}))

    response = query_app.lambda_handler(event, lambda_context())

    # The catalog was asked for version 7 (it is empty), not told that 7 is not a string.
    assert json.loads(response["body"])["message"] == "no prompt named rag-answer"


def test_query_handler_answers_422_for_a_prompt_version_that_cannot_be_parsed(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, FakeLanguageModel(), prompts=True))
    event = _event("query_post.json")
    event["body"] = json.dumps({"question": "Why indentation?", "prompt_version": "Prod"})

    response = query_app.lambda_handler(event, lambda_context())

    assert response["statusCode"] == 422
    assert "Prod" in json.loads(response["body"])["message"]


def test_query_handler_maps_model_failures_to_502(
    query_app: ModuleType, embedder: OnnxMiniLmEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query_app, "answering_service", lambda: _answering(embedder, _FailingModel()))

    response = query_app.lambda_handler(_event("query_post.json"), lambda_context())

    assert response["statusCode"] == 502
    assert "not in service" in json.loads(response["body"])["message"]
