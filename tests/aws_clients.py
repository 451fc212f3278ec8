"""boto3 clients for tests: for botocore Stubber (real request validation, fixed region and credentials, no
network), and on moto in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from llmops_local.emulator_patches import make_dynamodb_requests_atomic
from llmops_local.template import load_template

TEMPLATE = load_template(Path(__file__).resolve().parents[1] / "template.yaml")
PROMPTS_TABLE = "PromptsTable"


def stubbable_client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # type: ignore[call-overload]


@contextmanager
def moto_prompts_table() -> Iterator[Any]:
    """A DynamoDB client (moto, in-process) holding PromptsTable, made from template.yaml's own properties."""
    # DynamoDB applies a conditional write atomically; moto does not unless local mode's mend is applied.
    make_dynamodb_requests_atomic()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        properties = TEMPLATE["Resources"][PROMPTS_TABLE]["Properties"]
        dynamodb.create_table(
            TableName=PROMPTS_TABLE,
            **{k: v for k, v in properties.items() if k in ("AttributeDefinitions", "KeySchema", "BillingMode")},
        )
        yield dynamodb
