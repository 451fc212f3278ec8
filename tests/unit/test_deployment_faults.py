"""A deployment's own misconfiguration (DeploymentMisconfigured: a setting that is missing or cannot be read) is
answered as a server error, 500 with its message, and logged for the operators: nothing the client sends can fix it,
so it is never answered as the client's error (4xx). A bad EVALUATION_PRICES fails only what needs prices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from llmops.adapters.aws.evaluation_store import DynamoDbEvaluationRepository
from llmops.domain.errors import DeploymentMisconfigured
from llmops.domain.evaluation.datasets import DatasetVersion
from llmops.domain.evaluation.errors import InvalidEvaluation
from llmops.domain.evaluation.pricing import PriceTable
from llmops.domain.evaluation.runs import EvaluationRequest, EvaluationRun, RunOptions, RunStatus
from llmops_local.template import load_template
from tests.handler_events import api_event, call_handler, lambda_context
from tests.template.handler_modules import load_handler_module

pytestmark = pytest.mark.usefixtures("handler_env")

NO_WORKFLOW = "no evaluation workflow is configured (EVALUATION_STATE_MACHINE_ARN)"
BAD_PRICES = "EVALUATION_PRICES is not a valid price table: "
RUN_REQUEST = {"dataset": "faq", "candidates": [{"prompt": "rag-answer@1"}], "options": {"judge": False}}


@pytest.fixture
def error_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """What the handlers log with logger.error: (message, extra)."""
    from llmops.observability import logger

    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(logger, "error", lambda message, *_, **kwargs: logged.append((message, kwargs.get("extra"))))
    return logged


def _misconfigured() -> Any:
    raise DeploymentMisconfigured("SOME_SETTING is required")


# --- every API function ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "builder", "path"),
    [
        ("documents", "catalog", "/documents"),
        ("prompts", "catalog", "/prompts"),
        ("evaluation", "datasets", "/datasets"),
    ],
)
def test_every_api_function_answers_a_misconfigured_deployment_500_with_the_reason_and_logs_it(
    function: str, builder: str, path: str, monkeypatch: pytest.MonkeyPatch, error_log: list[Any]
) -> None:
    module = load_handler_module(function)
    monkeypatch.setattr(module, builder, _misconfigured)

    status, answer = call_handler(module, api_event("GET", path))

    assert (status, answer) == (500, {"message": "SOME_SETTING is required"})
    assert error_log == [("The deployment is misconfigured", {"reason": "SOME_SETTING is required"})]


# --- EVALUATION_PRICES ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("not JSON", "Expecting value"),
        ("[1, 2]", "EVALUATION_PRICES must be a JSON object of model id to price"),
        ('{"sagemaker:x": {"instance_type": "ml.nope"}}', "no hourly price known for ml.nope"),
        ('{"bedrock:x": {"input_per_1k": -1}}', "greater than or equal to 0"),
    ],
    ids=["not-json", "not-an-object", "instance-type", "negative"],
)
def test_a_price_table_that_cannot_be_read_is_the_deployments_fault(setting: str, reason: str) -> None:
    with pytest.raises(DeploymentMisconfigured, match=BAD_PRICES) as raised:
        PriceTable.from_json(setting)

    assert reason in str(raised.value)
    assert not isinstance(raised.value, InvalidEvaluation)


TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")


@pytest.fixture
def deployed_evaluation(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, DynamoDbEvaluationRepository]]:
    """The evaluation function as composed from its settings, on moto, with an EVALUATION_PRICES that is not JSON."""
    module = load_handler_module("evaluation")
    settings = {
        "EVALUATION_TABLE": "EvaluationTable",
        "EVALUATION_BUCKET": "evaluation-bucket",
        "PROMPTS_TABLE": "PromptsTable",
        "EVALUATION_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:evaluation",
        "EVALUATION_PRICES": "{bedrock:my-model: 0.001}",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    built = (module.settings, module.service, module.datasets)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        properties = TEMPLATE["Resources"]["EvaluationTable"]["Properties"]
        dynamodb.create_table(
            TableName="EvaluationTable",
            **{k: properties[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode")},
        )
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="evaluation-bucket")
        for cached in built:
            cached.cache_clear()
        try:
            yield module, DynamoDbEvaluationRepository(dynamodb, "EvaluationTable")
        finally:
            for cached in built:
                cached.cache_clear()


def test_a_bad_evaluation_prices_fails_what_needs_prices_500_and_leaves_datasets_and_runs_readable(
    deployed_evaluation: tuple[ModuleType, DynamoDbEvaluationRepository], error_log: list[Any]
) -> None:
    module, _ = deployed_evaluation

    uploaded, _ = call_handler(module, api_event("POST", "/datasets", {"name": "faq", "rows": [{"input": "Why?"}]}))
    listed, datasets = call_handler(module, api_event("GET", "/datasets"))
    started, answer = call_handler(module, api_event("POST", "/evaluations", RUN_REQUEST))

    assert (uploaded, listed) == (201, 200)
    assert [d["name"] for d in datasets["datasets"]] == ["faq"]
    assert started == 500
    assert answer["message"].startswith(BAD_PRICES) and "detail" not in answer
    assert error_log == [("The deployment is misconfigured", {"reason": answer["message"]})]
    runs = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="EvaluationTable")["Items"]
    assert [item["pk"]["S"] for item in runs if item["pk"]["S"].startswith("run#")] == []


def test_a_bad_evaluation_prices_fails_an_item_before_it_is_answered_and_the_run_can_still_be_marked_failed(
    deployed_evaluation: tuple[ModuleType, DynamoDbEvaluationRepository], error_log: list[Any]
) -> None:
    module, repository = deployed_evaluation
    dataset = DatasetVersion(
        name="faq", version=1, object_key="datasets/faq.jsonl", row_count=1, sha256="0" * 64,
        created_at="2026-11-22T10:00:00+00:00",
    )  # fmt: skip
    run = EvaluationRun(
        run_id="eval-1", dataset=dataset, candidates=EvaluationRequest.model_validate(RUN_REQUEST).candidates,
        options=RunOptions(judge=False), item_count=1, status=RunStatus.RUNNING, created_at=dataset.created_at,
    )  # fmt: skip
    repository.put_run(run)

    with pytest.raises(DeploymentMisconfigured, match=BAD_PRICES):  # raised, so the workflow retries, then fails
        module.lambda_handler(
            {"action": "evaluate_item", "run_id": "eval-1", "candidate": 0, "item": 0}, lambda_context()
        )
    failed = module.lambda_handler(
        {"action": "fail", "run_id": "eval-1", "error": {"Error": "DeploymentMisconfigured"}}, lambda_context()
    )

    assert [message for message, _ in error_log] == ["The deployment is misconfigured"]
    assert failed == {"run_id": "eval-1", "status": "failed"}
    assert repository.item_results("eval-1") == []


@pytest.mark.parametrize(
    ("function", "method", "path", "body"),
    [
        ("documents", "GET", "/documents", None),
        ("prompts", "GET", "/prompts", None),
        ("evaluation", "GET", "/datasets", None),
        ("query", "POST", "/search", {"query": "indentation"}),
    ],
)
def test_settings_that_cannot_be_read_are_answered_500_naming_the_variable_not_its_value(
    function: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    monkeypatch: pytest.MonkeyPatch,
    error_log: list[Any],
) -> None:
    module = load_handler_module(function)
    monkeypatch.setenv("RETRIEVAL_TOP_K", "0")
    monkeypatch.setenv("MIN_RELEVANCE_SCORE", "s3cr3t-looking")
    module.settings.cache_clear()
    try:
        status, answer = call_handler(module, api_event(method, path, body))
    finally:
        module.settings.cache_clear()

    # Without this, pydantic's ValidationError went unhandled: API Gateway's bare 502, nothing logged by the function.
    assert status == 500
    assert answer["message"].startswith("invalid settings: ")
    assert "RETRIEVAL_TOP_K: Input should be greater than 0" in answer["message"]
    assert "MIN_RELEVANCE_SCORE: Input should be a valid number" in answer["message"]
    assert "s3cr3t" not in answer["message"]
    assert error_log == [("The deployment is misconfigured", {"reason": answer["message"]})]


def test_a_setting_a_function_needs_and_lacks_is_answered_500_naming_it(
    monkeypatch: pytest.MonkeyPatch, error_log: list[Any]
) -> None:
    module = load_handler_module("prompts")
    monkeypatch.delenv("PROMPTS_TABLE", raising=False)
    for cached in (module.settings, module.catalog):
        cached.cache_clear()
    try:
        status, answer = call_handler(module, api_event("GET", "/prompts"))
    finally:
        for cached in (module.settings, module.catalog):
            cached.cache_clear()

    assert (status, answer) == (500, {"message": "PROMPTS_TABLE is required"})
    assert error_log == [("The deployment is misconfigured", {"reason": "PROMPTS_TABLE is required"})]
