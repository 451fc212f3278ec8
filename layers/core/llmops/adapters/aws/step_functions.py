"""Starting a Step Functions state machine."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

# Execution names allow letters, digits, - and _ (other characters break CloudWatch Logs), 80 at most.
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME_CHARS = 80


class StepFunctionsWorkflow:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        if not state_machine_arn:
            raise ValueError("the state machine ARN is not configured")
        self._client = client
        self._arn = state_machine_arn

    def start(self, payload: dict[str, object], name: str) -> str:
        # Named after what it works on, so that the console lists runs by their ids; the local emulator also needs a
        # name, since it calls every unnamed execution "None" and refuses the second while the first runs.
        execution_name = _NOT_IN_NAMES.sub("-", name)[:MAX_NAME_CHARS]
        started = self._client.start_execution(
            stateMachineArn=self._arn, name=execution_name, input=json.dumps(payload)
        )
        return started["executionArn"]
