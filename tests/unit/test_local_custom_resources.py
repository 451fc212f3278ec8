"""Local mode runs the template's custom resources as CloudFormation does: a failure stops the start with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_local.custom_resources import CustomResourceFailed, run_custom_resources
from llmops_local.deployment import Deployment, FunctionSpec
from llmops_local.functions import LocalFunction


def _deployment_with(function: FunctionSpec) -> tuple[Deployment, dict[str, LocalFunction]]:
    deployment = Deployment(stack_name="llmops-local", region="us-east-1")
    deployment.custom_resources["PromptCatalogSync"] = (
        "Custom::PromptCatalogSync",
        {"ServiceToken": function.arn, "Alias": "prod", "OnlyWhereMissing": "true"},
    )
    environment = {"PROMPTS_TABLE": "prompts", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    return deployment, {function.logical_id: LocalFunction(function, environment)}


def _function(code_dir: Path, handler: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id="PromptFilesFunction",
        name="llmops-local-promptfilesfunction",
        code_dir=code_dir,
        handler=handler,
        environment={},
        timeout=120,
        memory_mb=512,
    )


def test_given_a_bad_prompt_file_then_the_layer_handler_answers_failed_and_the_start_stops_naming_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "answer.yaml").write_text("name: answer\nauthor: a\nuser: hi\ntemprature: 0.2\n")
    # The handler is not in the code package (the prompt files): it is found in the layer, as Lambda finds it.
    deployment, functions = _deployment_with(
        _function(tmp_path, "llmops.entrypoints.prompt_catalog_sync.lambda_handler")
    )

    with pytest.raises(CustomResourceFailed, match=r"PromptCatalogSync .* failed: .*answer\.yaml.*temprature"):
        run_custom_resources(deployment, functions, "Create")


def test_given_a_function_that_returns_without_answering_then_the_start_stops(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def lambda_handler(event, context):\n    return {'Status': 'SUCCESS'}\n")
    deployment, functions = _deployment_with(_function(tmp_path, "app.lambda_handler"))

    with pytest.raises(CustomResourceFailed, match="returned without answering"):
        run_custom_resources(deployment, functions, "Update")
