"""boto3 clients for botocore Stubber tests: real request validation, fixed region and credentials, no network."""

from __future__ import annotations

from typing import Any

import boto3


def stubbable_client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # type: ignore[call-overload]
