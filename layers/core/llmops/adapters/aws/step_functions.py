"""Starting a Step Functions state machine."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StepFunctionsWorkflow:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        if not state_machine_arn:
            raise ValueError("the state machine ARN is not configured")
        self._client = client
        self._arn = state_machine_arn

    def start(self, payload: dict[str, object]) -> str:
        return self._client.start_execution(stateMachineArn=self._arn, input=json.dumps(payload))["executionArn"]
