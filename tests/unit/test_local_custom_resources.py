"""Local mode runs the template's custom resources as CloudFormation does: a failure stops the start with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_local.custom_resources import CustomResourceFailed, run_custom_resources
from llmops_local.deployment import Deployment, FunctionSpec, code_version
from llmops_local.functions import LocalFunction
from llmops_local.platform import LocalPlatform

# The custom resource's handler lives in the layer, not in its code package (the prompt files), as Lambda finds it.
SYNC_HANDLER = "llmops.entrypoints.prompt_catalog_sync.lambda_handler"
# The properties a restored stack's PromptCatalogSync was last applied with: other than today's, so it is updated.
EARLIER = {"PromptCatalogSync": {"FilesVersion": "earlier"}}
# A custom resource's function that keeps the request it got and answers SUCCESS.
RECORDING_HANDLER = """
import json, pathlib, urllib.request

def lambda_handler(event, context):
    pathlib.Path(__file__).with_name("request.json").write_text(json.dumps(event))
    answer = {"Status": "SUCCESS", "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"]}
    urllib.request.urlopen(urllib.request.Request(event["ResponseURL"], json.dumps(answer).encode(), method="PUT"))
"""


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
    deployment, functions = _deployment_with(_function(tmp_path, SYNC_HANDLER))

    with pytest.raises(CustomResourceFailed, match=r"PromptCatalogSync .* failed: .*answer\.yaml.*temprature"):
        run_custom_resources(deployment, functions)


def test_given_a_function_that_returns_without_answering_then_the_start_stops(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def lambda_handler(event, context):\n    return {'Status': 'SUCCESS'}\n")
    deployment, functions = _deployment_with(_function(tmp_path, "app.lambda_handler"))

    with pytest.raises(CustomResourceFailed, match="returned without answering"):
        run_custom_resources(deployment, functions, EARLIER)


def test_at_deployment_two_files_for_one_prompt_fail_it_naming_both(tmp_path: Path) -> None:
    for file_name in ("greet.yaml", "greet.yml"):
        (tmp_path / file_name).write_text(f"name: greet\nauthor: ana\nuser: from {file_name}\n")

    with pytest.raises(CustomResourceFailed, match=r"failed: greet is defined by both .*greet\.yaml and .*greet\.yml"):
        run_custom_resources(*_deployment_with(_function(tmp_path, SYNC_HANDLER)), EARLIER)


def test_at_deployment_no_prompt_files_publish_nothing_and_the_deployment_goes_on(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("prompts go here")

    responses = run_custom_resources(*_deployment_with(_function(tmp_path, SYNC_HANDLER)))

    assert responses["PromptCatalogSync"]["Status"] == "SUCCESS"


def _recording_deployment(tmp_path: Path) -> tuple[Deployment, dict[str, LocalFunction]]:
    (tmp_path / "app.py").write_text(RECORDING_HANDLER)
    return _deployment_with(_function(tmp_path, "app.lambda_handler"))


def test_on_a_new_stack_a_custom_resource_is_created(tmp_path: Path) -> None:
    responses = run_custom_resources(*_recording_deployment(tmp_path))

    assert responses["PromptCatalogSync"]["Status"] == "SUCCESS"
    assert json.loads((tmp_path / "request.json").read_text())["RequestType"] == "Create"


def test_on_a_restored_stack_a_custom_resource_with_changed_properties_is_updated_with_its_old_ones(
    tmp_path: Path,
) -> None:
    responses = run_custom_resources(*_recording_deployment(tmp_path), EARLIER)

    request = json.loads((tmp_path / "request.json").read_text())
    assert responses["PromptCatalogSync"]["Status"] == "SUCCESS"
    assert (request["RequestType"], request["OldResourceProperties"]) == ("Update", EARLIER["PromptCatalogSync"])


def test_on_a_restored_stack_a_custom_resource_with_unchanged_properties_is_not_called(tmp_path: Path) -> None:
    deployment, functions = _recording_deployment(tmp_path)
    applied = {logical: properties for logical, (_, properties) in deployment.custom_resources.items()}

    assert run_custom_resources(deployment, functions, applied) == {}
    assert not (tmp_path / "request.json").exists()


def test_a_published_function_version_changes_exactly_when_its_code_does(tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_text("name: greet\nauthor: ana\nuser: hello\n")
    first = code_version(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_bytes(b"cache")

    assert code_version(tmp_path) == first
    (tmp_path / "greet.yaml").write_text("name: greet\nauthor: ana\nuser: hello there\n")
    assert code_version(tmp_path) != first


def test_an_unreadable_record_of_applied_properties_makes_the_start_create_the_resources_again(tmp_path: Path) -> None:
    record = tmp_path / "custom_resources.json"
    record.write_text('{"PromptCatalogSync": {"Alias": "pr')  # cut short

    assert LocalPlatform._applied_custom_resources(record) is None
    assert LocalPlatform._applied_custom_resources(tmp_path / "absent.json") is None
    record.write_text(json.dumps(EARLIER))
    assert LocalPlatform._applied_custom_resources(record) == EARLIER
