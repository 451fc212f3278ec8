"""Starting an evaluation run: what is refused before anything is written, and what a failed start leaves behind."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.domain.errors import DeploymentMisconfigured
from llmops.domain.evaluation.datasets import DatasetVersion
from llmops.domain.evaluation.errors import InvalidDataset, InvalidEvaluation
from llmops.domain.evaluation.pricing import PriceTable
from llmops.domain.evaluation.runs import EvaluationRequest, EvaluationRun, EvaluationService, RunStatus
from llmops.domain.prompts import PromptCatalog, PromptSpec
from tests.fakes import FakePromptStore


class _Runs:
    """The evaluation repository's runs, in memory (starting a run touches nothing else)."""

    def __init__(self) -> None:
        self.runs: dict[str, EvaluationRun] = {}

    def put_run(self, run: EvaluationRun) -> None:
        self.runs[run.run_id] = run

    def get_run(self, run_id: str) -> EvaluationRun | None:
        return self.runs.get(run_id)


class _Datasets:
    def get(self, name: str, version: int | None) -> DatasetVersion:
        return DatasetVersion(
            name=name, version=version or 1, object_key=f"datasets/{name}.jsonl", row_count=3, sha256="0" * 64,
            created_at="2026-11-22T10:00:00+00:00",
        )  # fmt: skip


class _Answerer:
    def check(self, candidate: Any) -> None:
        pass


class _Workflow:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.names: list[str] = []

    def start(self, payload: dict[str, object], name: str) -> str:
        if self.error:
            raise self.error
        self.names.append(name)
        return f"arn:aws:states:eu-west-1:123456789012:execution:evaluation:{name}"


def _service(runs: _Runs, workflow: _Workflow | None) -> EvaluationService:
    prompts = PromptCatalog(FakePromptStore())
    spec = PromptSpec(author="tests", system_template="Passages:\n{context}", user_template="{question}",
                      variables=("context", "question"))  # fmt: skip
    prompts.publish("rag-answer", spec)
    return EvaluationService(
        runs, blobs=None, datasets=_Datasets(), workflow=workflow, answerer=_Answerer(), prompts=prompts,  # type: ignore[arg-type]
        judge=None, prices=PriceTable,
    )  # fmt: skip


def _request(prompt: str = "rag-answer@1", dataset: str = "faq", **options: Any) -> EvaluationRequest:
    return EvaluationRequest(dataset=dataset, candidates=[{"prompt": prompt}], options={"judge": False, **options})


def test_a_started_run_is_recorded_with_an_execution_named_after_it() -> None:
    runs, workflow = _Runs(), _Workflow()

    run = _service(runs, workflow).start(_request())

    assert workflow.names == [run.run_id]
    assert runs.runs[run.run_id].execution_id is not None and runs.runs[run.run_id].execution_id.endswith(run.run_id)


def test_a_run_asked_for_without_a_workflow_is_the_deployments_fault_and_nothing_is_recorded() -> None:
    runs = _Runs()

    with pytest.raises(DeploymentMisconfigured, match=r"^no evaluation workflow is configured") as raised:
        _service(runs, None).start(_request())

    assert not isinstance(raised.value, InvalidEvaluation)  # not the request's: the API answers it 500, not 422
    assert runs.runs == {}  # no run left pending for ever


def test_a_run_whose_workflow_cannot_start_is_recorded_failed_with_the_reason_not_left_pending() -> None:
    runs = _Runs()

    with pytest.raises(ConnectionError):
        _service(runs, _Workflow(ConnectionError("states endpoint unreachable"))).start(_request())

    [run] = runs.runs.values()
    assert run.status is RunStatus.FAILED
    assert run.error == "the evaluation workflow could not start: states endpoint unreachable"


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        ({"prompt": "rag-answer@0"}, "version 0 is out of range"),
        ({"prompt": "rag-answer@-1"}, "version -1 is out of range"),
        ({"prompt": "RAG@prod"}, "RAG"),
        ({"prompt": "rag-answer@²"}, "alias '²' is not a slug"),  # '²'.isdigit() is true, and int() refuses it
        ({"weights": {"cost": float("inf")}}, "ranking weights must be finite numbers up to 1,000,000"),
        ({"weights": {"cost": 1e308, "quality": 1e308}}, "ranking weights must be finite numbers up to 1,000,000"),
        ({"quality_metric": "rouge-l"}, "unknown quality metric 'rouge-l': use one of exact_match, token_f1"),
    ],
)
def test_a_request_that_cannot_run_is_refused_as_invalid_and_nothing_is_recorded(
    request_: dict[str, Any], reason: str
) -> None:
    runs = _Runs()

    with pytest.raises(InvalidEvaluation, match=reason):
        _service(runs, _Workflow()).start(_request(**request_))

    assert runs.runs == {}


def test_a_dataset_version_that_is_not_a_plain_number_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidDataset, match="the version after @ must be a number"):
        _service(_Runs(), _Workflow()).start(_request(dataset="faq@²"))
