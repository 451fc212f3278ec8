"""Through the local runtime: S3 -> EventBridge -> SQS -> ingest function -> LanceDB, and POST /query."""

from __future__ import annotations

import requests

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from llmops_local.documents import document_record, run_backfill
from llmops_local.platform import LocalPlatform
from tests.integration.conftest import wait_for_status, wait_until

LIGHTHOUSE_NOTE = b"""# Lighthouse keeping

The Skerryvore lighthouse keepers wound the clockwork of the lamp every two hours through the night.
The lamp's clockwork turned the lens so that the light flashed white once every ten seconds.
"""


def _put(endpoints: PlatformEndpoints, key: str, body: bytes, content_type: str = "text/plain") -> tuple[str, str]:
    bucket = endpoints.buckets["DocumentsBucket"]
    response = endpoints.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return document_id_for(bucket, key), response["VersionId"]


def _ask(endpoints: PlatformEndpoints, question: str) -> requests.Response:
    return requests.post(f"{endpoints.api_url}/query", json={"question": question}, timeout=300)


def test_given_an_uploaded_document_when_asked_about_it_then_the_answer_cites_it(endpoints: PlatformEndpoints) -> None:
    document_id, version = _put(endpoints, "documents/lighthouse.md", LIGHTHOUSE_NOTE, "text/markdown")

    record = wait_for_status(endpoints, document_id, version)
    response = _ask(endpoints, "How often did the Skerryvore lighthouse keepers wind the lamp's clockwork?")

    assert record["status"] == "indexed" and int(record["chunk_count"]) >= 1
    assert record["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"
    assert response.status_code == 200
    answer = response.json()
    assert answer["grounded"] is True, answer
    assert {c["source_key"] for c in answer["citations"]} == {"documents/lighthouse.md"}
    assert answer["prompt_id"] and answer["model_id"].startswith("local:")


def test_given_a_question_the_documents_cannot_answer_then_it_says_it_does_not_know(
    endpoints: PlatformEndpoints,
) -> None:
    response = _ask(endpoints, "What was the final score of the 1998 football World Cup final?")

    assert response.status_code == 200
    assert response.json()["grounded"] is False
    assert response.json()["citations"] == []


def test_given_a_corrupt_pdf_then_it_fails_with_a_reason_and_a_good_document_still_indexes(
    endpoints: PlatformEndpoints,
) -> None:
    bad_id, bad_version = _put(endpoints, "documents/broken.pdf", b"%PDF-1.7 truncated", "application/pdf")
    good_id, good_version = _put(endpoints, "documents/fine.txt", b"Otters hold hands while they sleep.")

    bad = wait_for_status(endpoints, bad_id, bad_version)
    good = wait_for_status(endpoints, good_id, good_version)

    assert bad["status"] == "failed" and "not a readable PDF" in bad["reason"]
    assert good["status"] == "indexed"


def test_given_a_new_version_then_only_its_chunks_remain_and_a_deletion_removes_them(
    endpoints: PlatformEndpoints, platform: LocalPlatform, embedder: OnnxMiniLmEmbedder
) -> None:
    key = "documents/policy.txt"
    _put(endpoints, key, b"The office coffee machine is descaled every Monday by the facilities team.")
    document_id, version = _put(endpoints, key, b"The office coffee machine is descaled every Friday by the barista.")
    assert wait_for_status(endpoints, document_id, version)["status"] == "indexed"
    index = LanceDbVectorIndex(platform.config.home / "vectors")
    question = embedder.embed(["coffee machine descaled"])[0]

    chunks = [hit.chunk for hit in index.search(question, 10)]
    assert [c.text for c in chunks if c.source_key == key] == [
        "The office coffee machine is descaled every Friday by the barista."
    ]

    endpoints.client("s3").delete_object(Bucket=endpoints.buckets["DocumentsBucket"], Key=key)

    wait_until(lambda: (document_record(endpoints, document_id) or {}).get("status") == "deleted")
    assert all(hit.chunk.source_key != key for hit in index.search(question, 10))


def test_given_the_current_version_deleted_then_the_version_now_current_answers_again(
    endpoints: PlatformEndpoints, platform: LocalPlatform, embedder: OnnxMiniLmEmbedder
) -> None:
    key = "documents/ferry.txt"
    _, first = _put(endpoints, key, b"The island ferry leaves the harbour at nine every morning.")
    document_id, second = _put(endpoints, key, b"The island ferry leaves the harbour at ten every morning.")
    assert wait_for_status(endpoints, document_id, second)["status"] == "indexed"

    endpoints.client("s3").delete_object(Bucket=endpoints.buckets["DocumentsBucket"], Key=key, VersionId=second)

    assert wait_for_status(endpoints, document_id, first)["status"] == "indexed"
    index = LanceDbVectorIndex(platform.config.home / "vectors")
    hits = index.search(embedder.embed(["when does the island ferry leave"])[0], 10)
    assert [hit.chunk.text for hit in hits if hit.chunk.source_key == key] == [
        "The island ferry leaves the harbour at nine every morning."
    ]


def test_given_bad_requests_then_the_api_answers_with_client_errors(endpoints: PlatformEndpoints) -> None:
    empty = requests.post(f"{endpoints.api_url}/query", json={"question": ""}, timeout=30)
    malformed = requests.post(f"{endpoints.api_url}/query", data=b"{not json", timeout=30)
    form = requests.post(f"{endpoints.api_url}/query", data={"question": "How do I install it?"}, timeout=30)
    unknown = requests.get(f"{endpoints.api_url}/nowhere", timeout=30)

    assert empty.status_code == 422
    assert malformed.status_code == 422 and malformed.json()["message"] == "The request body is not valid JSON"
    assert form.status_code == 415 and "application/x-www-form-urlencoded" in form.json()["message"]
    assert unknown.status_code == 404


def test_given_objects_outside_the_watched_prefix_when_backfilled_then_the_state_machine_queues_them(
    endpoints: PlatformEndpoints,
) -> None:
    document_id, _ = _put(endpoints, "archive/2019/minutes.txt", b"The board approved the new bicycle shed in 2019.")

    execution = run_backfill(endpoints, "archive/")

    assert execution["status"] == "SUCCEEDED", execution
    record = wait_for_status(endpoints, document_id)
    assert record["status"] == "indexed"
