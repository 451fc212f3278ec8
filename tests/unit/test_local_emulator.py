"""Local mode's mends to moto: where the emulator must behave as AWS does for the platform to be correct."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from llmops_local import emulator_patches
from llmops_local.emulator_patches import make_dynamodb_requests_atomic

KEY = "documents/notes.txt"
# The ETag of zero bytes: what AWS reports for a delete marker, which has no content
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html, "Object deleted (using DeleteObject)").
EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"


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


S3Events = tuple[Any, Callable[[], list[dict[str, Any]]]]


@pytest.fixture
def deletion_events() -> Iterator[S3Events]:
    """moto with local mode's mends, a versioned bucket ("versioned") and an unversioned one ("unversioned") that send
    their events to EventBridge, and a rule that copies every "Object Deleted" and "Object Created" event to a queue.
    Yields the S3 client and a function returning the details of the events of one type (deletions unless told)
    sent since it was last called, oldest first."""
    emulator_patches.apply()
    with mock_aws():
        s3, sqs, events = (boto3.client(name, region_name="us-east-1") for name in ("s3", "sqs", "events"))
        for bucket in ("versioned", "unversioned"):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
        queue_url = sqs.create_queue(QueueName="deletions")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name="deletions",
            EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Deleted", "Object Created"]}),
        )
        events.put_targets(Rule="deletions", Targets=[{"Id": "queue", "Arn": queue_arn}])

        def sent(detail_type: str = "Object Deleted") -> list[dict[str, Any]]:
            details = []
            while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
                for message in messages:
                    event = json.loads(message["Body"])
                    if event["detail-type"] == detail_type:
                        details.append(event["detail"])
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            # Sequencers grow with each change (see next_sequencer): they give the order the changes were made in.
            return sorted(details, key=lambda detail: detail["object"]["sequencer"])

        yield s3, sent


def _described(detail: dict[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    """What a deletion event says happened: its reason, deletion type and object, less the object's sequencer (there,
    but read from the clock)."""
    described = dict(detail["object"])
    assert described.pop("sequencer")
    return detail.get("reason"), detail.get("deletion-type"), described


def test_given_a_versioned_bucket_when_an_object_is_deleted_without_a_version_then_the_event_names_the_delete_marker(
    deletion_events: S3Events,
) -> None:
    s3, sent = deletion_events
    s3.put_object(Bucket="versioned", Key=KEY, Body=b"first")
    s3.put_object(Bucket="versioned", Key=KEY, Body=b"second")

    deleted = s3.delete_object(Bucket="versioned", Key=KEY)

    assert deleted["DeleteMarker"] is True
    marker = {"key": KEY, "etag": EMPTY_ETAG, "version-id": deleted["VersionId"]}
    assert [_described(detail) for detail in sent()] == [("DeleteObject", "Delete Marker Created", marker)]


def test_given_a_versioned_bucket_when_versions_are_deleted_then_each_event_names_its_version_permanently_deleted(
    deletion_events: S3Events,
) -> None:
    s3, sent = deletion_events
    first = s3.put_object(Bucket="versioned", Key=KEY, Body=b"first")["VersionId"]
    second = s3.put_object(Bucket="versioned", Key=KEY, Body=b"second")["VersionId"]

    s3.delete_object(Bucket="versioned", Key=KEY, VersionId=first)
    s3.delete_object(Bucket="versioned", Key=KEY, VersionId=second)  # the last one: the key is gone with it

    assert [_described(detail) for detail in sent()] == [
        ("DeleteObject", "Permanently Deleted", {"key": KEY, "version-id": first}),
        ("DeleteObject", "Permanently Deleted", {"key": KEY, "version-id": second}),
    ]


def test_given_a_delete_marker_when_it_is_deleted_then_the_event_names_the_marker_permanently_deleted(
    deletion_events: S3Events,
) -> None:
    # Deleting the marker makes the version beneath it current again: the ingest function has to hear of it.
    s3, sent = deletion_events
    s3.put_object(Bucket="versioned", Key=KEY, Body=b"first")
    marker = s3.delete_object(Bucket="versioned", Key=KEY)["VersionId"]

    s3.delete_object(Bucket="versioned", Key=KEY, VersionId=marker)

    assert [_described(detail) for detail in sent()] == [
        ("DeleteObject", "Delete Marker Created", {"key": KEY, "etag": EMPTY_ETAG, "version-id": marker}),
        ("DeleteObject", "Permanently Deleted", {"key": KEY, "version-id": marker}),
    ]


def test_given_an_unversioned_bucket_when_an_object_is_deleted_then_the_event_names_no_version(
    deletion_events: S3Events,
) -> None:
    s3, sent = deletion_events
    s3.put_object(Bucket="unversioned", Key=KEY, Body=b"only")

    s3.delete_object(Bucket="unversioned", Key=KEY)

    assert [_described(detail) for detail in sent()] == [("DeleteObject", "Permanently Deleted", {"key": KEY})]


def test_given_a_version_that_does_not_exist_when_it_is_deleted_then_no_event_is_sent(
    deletion_events: S3Events,
) -> None:
    s3, sent = deletion_events
    s3.put_object(Bucket="versioned", Key=KEY, Body=b"first")

    s3.delete_object(Bucket="versioned", Key=KEY, VersionId="no-such-version")

    assert sent() == []


def test_when_objects_are_created_then_the_events_describe_them_in_aws_words(deletion_events: S3Events) -> None:
    s3, sent = deletion_events
    versioned = s3.put_object(Bucket="versioned", Key=KEY, Body=b"first")
    s3.put_object(Bucket="unversioned", Key=KEY, Body=b"first")
    s3.copy_object(Bucket="unversioned", Key="copy.txt", CopySource={"Bucket": "unversioned", "Key": KEY})

    etag = versioned["ETag"].strip('"')
    assert [_described(detail) for detail in sent("Object Created")] == [
        ("PutObject", None, {"key": KEY, "size": 5, "etag": etag, "version-id": versioned["VersionId"]}),
        ("PutObject", None, {"key": KEY, "size": 5, "etag": etag}),
        ("CopyObject", None, {"key": "copy.txt", "size": 5, "etag": etag}),
    ]


def _distributed_map(tolerance: dict[str, Any]) -> dict[str, Any]:
    """A Distributed Map whose child fails for the items marked `fail`; a failed map is caught into `$.error`."""
    child = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Fail"}],
                "Default": "Done",
            },
            "Fail": {"Type": "Fail", "Error": "ItemFailed", "Cause": "this item fails"},
            "Done": {"Type": "Pass", "End": True},
        },
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    }
    each = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": child, "ResultPath": "$.results", **tolerance}
    each |= {"End": True, "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]}
    return {"StartAt": "Each", "States": {"Each": each, "Caught": {"Type": "Pass", "End": True}}}


@pytest.mark.parametrize(
    ("tolerance", "map_fails"),
    [
        ({}, True),  # AWS tolerates no failed item unless told
        ({"ToleratedFailureCount": 1}, False),
        ({"ToleratedFailurePercentage": 50.0}, False),  # 1 of 3 items
        ({"ToleratedFailurePercentage": 20.0}, True),
        ({"ToleratedFailureCount": 1, "ToleratedFailurePercentage": 20.0}, True),  # either threshold fails it
    ],
)
def test_a_distributed_map_fails_once_more_items_fail_than_it_tolerates(
    tolerance: dict[str, Any], map_fails: bool
) -> None:
    emulator_patches.apply()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
        machine = stepfunctions.create_state_machine(
            name="each", definition=json.dumps(_distributed_map(tolerance)), roleArn="arn:aws:iam::123456789012:role/s"
        )["stateMachineArn"]
        items = [{"fail": False}, {"fail": True}, {"fail": False}]
        execution = stepfunctions.start_execution(stateMachineArn=machine, input=json.dumps({"items": items}))
        deadline = time.monotonic() + 30
        while (described := stepfunctions.describe_execution(executionArn=execution["executionArn"]))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)

    output = json.loads(described["output"])
    assert described["status"] == "SUCCEEDED"  # caught or not failed
    if map_fails:
        assert output["error"]["Error"] == "States.ExceedToleratedFailureThreshold"
        assert "results" not in output
    else:
        assert "error" not in output and len(output["results"]) == 3


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "exceeded"),
    [
        (0, 0, 0, 0.0, False),
        (0, 5, 0, 0.0, False),
        (1, 5, 0, 0.0, True),
        (2, 5, 2, 0.0, False),
        (3, 5, 2, 0.0, True),
        (1, 5, 0, 20.0, False),  # exactly the percentage is tolerated
        (2, 5, 0, 20.0, True),
        (2, 5, 5, 20.0, True),
        (3, 5, 2, 80.0, True),
    ],
)
def test_the_tolerated_failure_threshold(
    failed: int, total: int, count: int, percentage: float, exceeded: bool
) -> None:
    assert emulator_patches.tolerated_failures_exceeded(failed, total, count, percentage) is exceeded
