"""Through the local runtime: a batch of bad documents uploaded together with two good ones."""

from __future__ import annotations

import requests

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from llmops_local.platform import LocalPlatform
from tests.bad_documents import BAD_INPUTS, PREFIX
from tests.document_builders import handbook_docx
from tests.integration.conftest import wait_for_status

FOGHORN_FAQ = b"""Question,Answer
How often is the foghorn tested?,Every Sunday at noon.
How long must the foghorn compressor rest between blasts?,"Ninety seconds, or the valve overheats."
Who keeps the foghorn log?,The second keeper.
"""
FOGHORN_QUESTION = "How long does the foghorn compressor need to rest between blasts?"


def test_given_bad_documents_uploaded_with_good_ones_then_each_bad_one_fails_with_its_reason_and_the_good_ones_index(
    endpoints: PlatformEndpoints,
) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    docx_key, faq_key = PREFIX + "handbook.docx", PREFIX + "foghorn-faq.csv"
    bodies = {bad.key: bad.body for bad in BAD_INPUTS} | {docx_key: handbook_docx(), faq_key: FOGHORN_FAQ}

    versions = {key: s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"] for key, body in bodies.items()}
    records = {
        key: wait_for_status(endpoints, document_id_for(bucket, key), version, timeout=60)
        for key, version in versions.items()
    }

    not_failed_as_expected = {
        bad.name: (records[bad.key]["status"], records[bad.key].get("reason"))
        for bad in BAD_INPUTS
        if records[bad.key]["status"] != "failed" or not bad.matches(records[bad.key].get("reason", ""))
    }
    assert not_failed_as_expected == {}
    assert {key: (records[key]["status"], int(records[key]["chunk_count"])) for key in (docx_key, faq_key)} == {
        docx_key: ("indexed", 3),  # one chunk per heading section
        faq_key: ("indexed", 3),  # one chunk per question
    }


def test_given_an_indexed_faq_csv_when_asked_one_of_its_questions_then_its_row_is_retrieved(
    endpoints: PlatformEndpoints, platform: LocalPlatform, embedder: OnnxMiniLmEmbedder
) -> None:
    bucket = endpoints.buckets["DocumentsBucket"]
    key = PREFIX + "foghorn-faq.csv"
    version = endpoints.client("s3").put_object(Bucket=bucket, Key=key, Body=FOGHORN_FAQ)["VersionId"]
    assert wait_for_status(endpoints, document_id_for(bucket, key), version, timeout=60)["status"] == "indexed"

    response = requests.post(f"{endpoints.api_url}/query", json={"question": FOGHORN_QUESTION}, timeout=120)
    top = LanceDbVectorIndex(platform.config.home / "vectors").search(embedder.embed([FOGHORN_QUESTION])[0], 1)[0]

    assert response.status_code == 200
    assert response.json()["abstention"] != "no_relevant_context", response.json()
    assert (top.chunk.source_key, top.chunk.section, top.chunk.text) == (
        key,
        "row 3",
        "Q: How long must the foghorn compressor rest between blasts?\nA: Ninety seconds, or the valve overheats.",
    )
