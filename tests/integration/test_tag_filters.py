"""Tag filters through the local runtime: tags from S3 user metadata reach the index, POST /search honours them."""

from __future__ import annotations

import requests

from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from tests.integration.conftest import wait_for_status


def test_search_returns_only_documents_with_every_requested_tag(endpoints: PlatformEndpoints) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    documents = {
        "documents/tags/leave.txt": (b"Staff may take twenty days of annual leave each year.", "HR, policy"),
        "documents/tags/travel.txt": (b"Staff may book annual travel through the finance desk.", "finance"),
    }
    for key, (body, tags) in documents.items():
        version = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"tags": tags})["VersionId"]
        record = wait_for_status(endpoints, document_id_for(bucket, key), version)
        assert record["status"] == "indexed", record

    def search(tags: list[str]) -> list[dict]:  # type: ignore[type-arg]
        body = {"query": "staff annual", "top_k": 10, "mode": "hybrid", "filters": {"tags": tags}}
        response = requests.post(f"{endpoints.api_url}/search", json=body, timeout=60)
        assert response.status_code == 200, response.text
        return list(response.json()["results"])

    hr = search(["hr", "POLICY"])
    finance = search(["finance"])
    none = search(["hr", "finance"])
    invalid = requests.post(
        f"{endpoints.api_url}/search", json={"query": "x", "filters": {"tags": ["no spaces"]}}, timeout=30
    )

    assert {r["chunk"]["source_key"] for r in hr} == {"documents/tags/leave.txt"}
    assert hr[0]["chunk"]["tags"] == ["hr", "policy"]
    assert {r["chunk"]["source_key"] for r in finance} == {"documents/tags/travel.txt"}
    assert none == []
    assert invalid.status_code == 422


def test_empty_items_in_the_tags_metadata_are_ignored_rather_than_failing_the_document(
    endpoints: PlatformEndpoints,
) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    key = "documents/tags/trailing-comma.txt"
    body = b"Ferry tickets are refunded in full up to a day before sailing."
    version = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"tags": "ferry, refunds,,"})["VersionId"]

    record = wait_for_status(endpoints, document_id_for(bucket, key), version)
    found = requests.post(
        f"{endpoints.api_url}/search",
        json={"query": "ferry refunds", "top_k": 5, "filters": {"tags": ["refunds"]}},
        timeout=60,
    )

    assert record["status"] == "indexed", record
    assert found.status_code == 200, found.text
    assert [(r["chunk"]["source_key"], r["chunk"]["tags"]) for r in found.json()["results"]] == [
        (key, ["ferry", "refunds"])
    ]
