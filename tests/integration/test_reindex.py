"""Blue/green re-index through the local runtime: the state machine builds a new index while readers stay on the
old one, uploads during the build reach both, the switch happens when the build is complete, rollback works."""

from __future__ import annotations

import time
from collections import Counter

import requests

from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from llmops_local.platform import LocalPlatform
from tests.integration.conftest import wait_for_status


def _index_status(endpoints: PlatformEndpoints) -> dict:  # type: ignore[type-arg]
    response = requests.get(f"{endpoints.api_url}/index", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _failure_of(endpoints: PlatformEndpoints, execution: str) -> str:
    """Why a re-index execution failed: its own error, and the failure events of its history."""
    stepfunctions = endpoints.client("stepfunctions")
    described = stepfunctions.describe_execution(executionArn=execution)
    history = stepfunctions.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    failures = [
        {key: value for key, value in event.items() if key.endswith("EventDetails")}
        for event in history
        if "Failed" in event["type"] or "Aborted" in event["type"]
    ]
    return f"the re-index failed: {described.get('error')}: {described.get('cause')}; failures: {failures}"


def test_a_reindex_switches_readers_only_when_complete_and_can_be_rolled_back(
    endpoints: PlatformEndpoints, platform: LocalPlatform
) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    before = s3.put_object(Bucket=bucket, Key="documents/reindex/before.txt", Body=b"Puffins nest in burrows.")
    wait_for_status(endpoints, document_id_for(bucket, "documents/reindex/before.txt"), before["VersionId"])
    original = _index_status(endpoints)
    vectors = platform.config.home / "vectors"

    started = requests.post(f"{endpoints.api_url}/index/reindex", timeout=30)
    conflict = requests.post(f"{endpoints.api_url}/index/reindex", timeout=30)
    during = s3.put_object(Bucket=bucket, Key="documents/reindex/during.txt", Body=b"Gannets dive for fish.")

    active_counts = []
    deadline = time.monotonic() + 240
    while (status := _index_status(endpoints))["building"] or status["active"] == original["active"]:
        # The build claimed the pointer before the 202: if it is released with readers still on the old index, the
        # workflow failed and aborted (waiting would only reach the deadline).
        assert status["building"], _failure_of(endpoints, started.json()["execution_id"])
        active_counts.append(LanceDbVectorIndex(vectors, status["active"]).count())
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    wait_for_status(endpoints, document_id_for(bucket, "documents/reindex/during.txt"), during["VersionId"])

    assert started.status_code == 202 and started.json()["target"].startswith("chunks-")
    assert conflict.status_code == 409
    assert min(active_counts, default=1) > 0, "readers saw an empty index during the re-index"
    assert status["active"] == started.json()["target"] and status["previous"] == original["active"]

    # The rebuild covers the bucket's watched prefix (documents/): per document, as many chunks as the old index
    # holds, once each, though `during` was written to both indexes by its upload and to the new one by the build.
    def chunks_per_key(index_name: str) -> Counter[str]:
        rows = LanceDbVectorIndex(vectors, index_name)._opened().to_arrow().to_pylist()
        return Counter(
            row["source_key"]
            for row in rows
            if row["source_key"].startswith("documents/")
            and row["document_id"] == document_id_for(bucket, row["source_key"])
        )

    rebuilt, old = chunks_per_key(status["active"]), chunks_per_key(original["active"])
    assert rebuilt == old and rebuilt["documents/reindex/during.txt"] == 1
    assert status["chunk_counts"][status["active"]] == sum(rebuilt.values())

    rolled_back = requests.post(f"{endpoints.api_url}/index/rollback", timeout=30).json()

    assert (rolled_back["active"], rolled_back["previous"]) == (original["active"], status["active"])
