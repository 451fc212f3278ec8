"""POST /search through the local runtime: LanceDB's k-NN and full-text search fused, with filters."""

from __future__ import annotations

import requests

from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from tests.integration.conftest import wait_for_status


def _search(endpoints: PlatformEndpoints, **body: object) -> list[dict]:  # type: ignore[type-arg]
    response = requests.post(f"{endpoints.api_url}/search", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def test_search_ranks_by_every_mode_and_honours_filters(endpoints: PlatformEndpoints) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    documents = {
        "documents/search/codes.txt": b"Fault code ZX-7734 means the coolant pump has stalled.",
        "documents/search/pumps.txt": b"Coolant pumps circulate fluid through the engine block.",
        "documents/other/pumps.txt": b"Coolant pumps in older engines were belt driven.",
    }
    for key, body in documents.items():
        version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        wait_for_status(endpoints, document_id_for(bucket, key), version)

    text = _search(endpoints, query="ZX-7734", top_k=1, mode="text")
    hybrid = _search(endpoints, query="what does ZX-7734 mean", top_k=3, mode="hybrid")
    filtered = _search(endpoints, query="coolant pumps", top_k=5, filters={"prefix": "documents/search/"})
    invalid = requests.post(f"{endpoints.api_url}/search", json={"query": "x", "mode": "fuzzy"}, timeout=30)

    assert text[0]["chunk"]["source_key"] == "documents/search/codes.txt"
    assert hybrid[0]["chunk"]["source_key"] == "documents/search/codes.txt"
    assert hybrid[0]["fused_score"] > 0 and -1 <= hybrid[0]["score"] <= 1
    assert filtered and {r["chunk"]["source_key"] for r in filtered} <= set(list(documents)[:2])
    assert invalid.status_code == 422


def test_fusion_weights_for_a_search_that_fuses_nothing_get_a_422_that_names_the_field_in_detail(
    endpoints: PlatformEndpoints,
) -> None:
    body = {"query": "coolant pumps", "mode": "vector", "vector_weight": 2}

    response = requests.post(f"{endpoints.api_url}/search", json=body, timeout=30)

    assert response.status_code == 422
    answer = response.json()
    assert answer["message"].startswith("body.vector_weight: ") and "this search is vector" in answer["message"]
    assert [detail["loc"] for detail in answer["detail"]] == [["body", "vector_weight"]]
