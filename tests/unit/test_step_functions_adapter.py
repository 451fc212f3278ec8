"""StepFunctionsWorkflow against moto's state machine executor, the emulator local mode runs."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from llmops.adapters.aws.step_functions import MAX_NAME_CHARS, StepFunctionsWorkflow

WAITING = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}


def test_each_execution_is_named_as_asked_so_that_a_second_can_start_while_the_first_runs() -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="eu-west-1")
        arn = client.create_state_machine(
            name="evaluation", definition=json.dumps(WAITING), roleArn="arn:aws:iam::123456789012:role/states"
        )["stateMachineArn"]
        workflow = StepFunctionsWorkflow(client, arn)

        first = workflow.start({"run_id": "eval-1"}, name="eval-1")
        second = workflow.start({"run_id": "eval-2"}, name="eval-2")
        odd = workflow.start({}, name="chunks: 2026/11/22 " + "x" * 100)

    assert first.endswith(":evaluation:eval-1") and second.endswith(":evaluation:eval-2")
    odd_name = odd.rsplit(":", 1)[1]
    assert odd_name.startswith("chunks--2026-11-22-x") and len(odd_name) == MAX_NAME_CHARS
