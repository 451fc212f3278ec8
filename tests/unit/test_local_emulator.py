"""Local mode's mends to moto: where the emulator must behave as AWS does for the platform to be correct."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws

from llmops_local.emulator_patches import make_dynamodb_requests_atomic


def test_given_two_concurrent_dynamodb_writes_then_the_emulator_runs_them_one_after_the_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    make_dynamodb_requests_atomic()
    put_item = DynamoDBBackend.put_item
    inside, most_inside = 0, 0
    counting = threading.Lock()
    second_arrived = threading.Event()

    def slow_put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        # The first writer lingers until the second arrives (or 0.5 s pass): unserialised, both would be inside.
        nonlocal inside, most_inside
        with counting:
            inside += 1
            most_inside = max(most_inside, inside)
            first = inside == 1 and not second_arrived.is_set()
        if first:
            second_arrived.wait(0.5)
        else:
            second_arrived.set()
        try:
            return put_item(self, *args, **kwargs)
        finally:
            with counting:
                inside -= 1

    monkeypatch.setattr(DynamoDBBackend, "put_item", slow_put_item)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def write(n: int) -> None:
            dynamodb.put_item(
                TableName="t",
                Item={"pk": {"S": "same"}, "n": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )

        failures: list[Exception] = []

        def attempt(n: int) -> None:
            try:
                write(n)
            except dynamodb.exceptions.ConditionalCheckFailedException as error:
                failures.append(error)

        writers = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()

    assert most_inside == 1
    assert len(failures) == 1  # the conditional write that came second saw the first one's item
