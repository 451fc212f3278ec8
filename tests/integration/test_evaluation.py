"""An evaluation run through the local runtime: a dataset uploaded through the API, two candidates (two retrieval
modes) answered, scored and judged by the evaluation state machine in the emulator, aggregates and report stored."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from llmops.domain.models import document_id_for
from llmops_local.connection import PlatformEndpoints
from tests.integration.conftest import wait_for_status

pytestmark = pytest.mark.slow

NOTES = (
    "Atlantic puffins nest in burrows on cliff tops. A puffin pair lays a single egg each year. "
    "Puffins eat small fish such as sand eels, which they carry crosswise in their beaks."
)
ROWS = [
    {"id": "nest", "input": "Where do Atlantic puffins nest?", "reference": "Atlantic puffins nest in burrows on "
     "cliff tops.", "expected_sources": ["evaluation/puffins.txt"], "tags": ["birds"]},
    {"id": "eggs", "input": "How many eggs does a puffin pair lay each year?", "reference": "A puffin pair lays a "
     "single egg each year.", "expected_sources": ["evaluation/puffins.txt"]},
    {"id": "food", "input": {"question": "What do puffins eat?"}, "reference": "Puffins eat small fish such as sand "
     "eels.", "expected_sources": ["evaluation/puffins.txt"]},
]  # fmt: skip


def _wait_for_run(endpoints: PlatformEndpoints, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """Polls the table, not the API: locally one function invocation runs at a time, and the API would wait for
    the items queued by the state machine. The final state is read through the API."""
    dynamodb, table = endpoints.client("dynamodb"), endpoints.tables["EvaluationTable"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"run#{run_id}"}, "sk": {"S": "run"}})["Item"]
        if item["status"]["S"] in {"succeeded", "failed"}:
            return dict(requests.get(f"{endpoints.api_url}/evaluations/{run_id}", timeout=120).json())
        time.sleep(1)
    raise AssertionError(f"evaluation {run_id} did not finish in {timeout} s")


def test_invalid_dataset_rows_are_reported_by_line(endpoints: PlatformEndpoints) -> None:
    jsonl = '{"input": "fine"}\n{"input": ""}\n{oops\n'

    response = requests.post(f"{endpoints.api_url}/datasets", json={"name": "broken", "jsonl": jsonl}, timeout=30)

    assert response.status_code == 422
    assert [p["line"] for p in response.json()["problems"]] == [2, 3]


def test_two_candidates_are_evaluated_through_the_state_machine(endpoints: PlatformEndpoints) -> None:
    s3, bucket = endpoints.client("s3"), endpoints.buckets["DocumentsBucket"]
    put = s3.put_object(Bucket=bucket, Key="documents/evaluation/puffins.txt", Body=NOTES.encode())
    wait_for_status(endpoints, document_id_for(bucket, "documents/evaluation/puffins.txt"), put["VersionId"])
    api = endpoints.api_url

    uploaded = requests.post(f"{api}/datasets", json={"name": "puffins", "rows": ROWS}, timeout=30)
    again = requests.post(f"{api}/datasets", json={"name": "puffins", "rows": ROWS}, timeout=30)
    # Before the run starts: meanwhile the local evaluation function is busy with its items.
    not_an_answer_prompt = requests.post(
        f"{api}/evaluations", json={"dataset": "puffins", "candidates": [{"prompt": "judge-answer@prod"}]}, timeout=30
    )
    started = requests.post(
        f"{api}/evaluations",
        json={
            "dataset": "puffins",
            "candidates": [
                {"prompt": "rag-answer@prod", "mode": "hybrid"},
                {"prompt": "rag-answer@prod", "mode": "vector"},
            ],
            "options": {"judge": True},
        },
        timeout=60,
    )
    unknown_prompt = requests.post(
        f"{api}/evaluations", json={"dataset": "puffins", "candidates": [{"prompt": "nope@prod"}]}, timeout=30
    )

    assert uploaded.status_code == 201 and uploaded.json()["dataset"]["version"] == 1
    assert again.status_code == 200 and again.json()["created"] is False
    assert started.status_code == 202, started.text
    assert unknown_prompt.status_code == 422
    assert not_an_answer_prompt.status_code == 422
    assert "judge-answer@1 cannot answer questions" in not_an_answer_prompt.json()["message"]
    run = _wait_for_run(endpoints, started.json()["run_id"])
    assert run["status"] == "succeeded", run.get("error")

    report = run["report"]
    assert {c["label"] for c in report["candidates"]} == {"rag-answer@prod hybrid", "rag-answer@prod vector"}
    assert [r["rank"] for r in report["ranking"]] == [1, 2]
    for summary in report["candidates"]:
        assert summary["items"] == 3 and summary["errors"] == 0
        assert {"token_f1", "rougeL", "bleu", "chrf", "meteor", "recall_at_k", "mrr", "ndcg_at_k"} <= set(
            summary["metrics"]
        )
        assert summary["metrics"]["recall_at_k"] == 1.0  # the one document holds every answer
        assert summary["latency_p50_ms"] > 0 and summary["cost_per_1000_queries_usd"] == 0.0  # the local model
        assert summary["judged"] == 3  # every answer went to the judge: parsed or counted as a failure
        parsed = 3 - summary["judge_parse_failures"]
        assert ("judge_overall" in summary["metrics"]) == (parsed > 0)

    results = requests.get(f"{api}/evaluations/{run['run_id']}/results", timeout=30).json()["results"]
    assert len(results) == 6 and all(r["prompt_id"].startswith("rag-answer@") for r in results)
    assert all(r["judge"]["prompt_id"].startswith("judge-answer@") for r in results)
    html = requests.get(f"{api}/evaluations/{run['run_id']}/report", params={"format": "html"}, timeout=30)
    assert html.headers["Content-Type"].startswith("text/html") and "<svg" in html.text
    reranked = requests.get(
        f"{api}/evaluations/{run['run_id']}/report",
        params={"weights": "quality=1", "quality_metric": "rougeL"},
        timeout=30,
    ).json()
    assert reranked["weights"] == {"cost": 0.0, "quality": 1.0, "speed": 0.0}
    stored = endpoints.client("s3").get_object(
        Bucket=endpoints.buckets["EvaluationBucket"], Key=f"reports/{run['run_id']}/report.json"
    )
    assert b'"ranking"' in stored["Body"].read()

    # A second run on the same platform: each execution is named after its run (the emulator used to name every
    # unnamed execution "None" and refuse the next one while one was on record).
    second = requests.post(
        f"{api}/evaluations",
        json={
            "dataset": "puffins",
            "candidates": [{"prompt": "rag-answer@prod"}],
            "options": {"judge": False, "limit": 1},
        },
        timeout=60,
    )
    assert second.status_code == 202, second.text
    second_run = _wait_for_run(endpoints, second.json()["run_id"])
    assert second_run["status"] == "succeeded", second_run.get("error")
    assert run["execution_id"].endswith(f":{run['run_id']}")
    assert second_run["execution_id"].endswith(f":{second_run['run_id']}")
