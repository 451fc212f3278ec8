"""Where moto 5.2 differs from AWS in ways the platform depends on, mended in-process.

- S3: AWS sends one "Object Deleted" event for each DeleteObject that changes a bucket, and deletions reach the
  index only that way. moto sends none when it creates a delete marker, and for a versioned bucket only when the
  key's last version goes; its events lack `deletion-type` and describe the object as if it had been created (size,
  ETag, version). Local mode sends AWS's event itself: the delete marker it created, by the marker's version id, or
  what it removed for good, by the removed version's id.
- S3: moto's "Object Created" event says `eTag` where AWS says `etag` (the ingest function would see no ETag),
  gives the event's category as its `reason` where AWS gives the API call (PutObject), and writes version "null"
  in an unversioned bucket, where AWS writes no `version-id`.
- S3: moto stamps every EventBridge event with the same constant `sequencer`; AWS gives each change to a key a
  greater one than the change before, which is how ingestion orders events that arrive out of order.
- Lambda: moto runs function code in Docker; local mode dispatches invocations (from Step Functions tasks or
  `lambda invoke`) to the in-process handlers instead.
- Step Functions: moto's Distributed Map counts the items whose child execution failed, and succeeds all the same.
  AWS fails the Map Run, with States.ExceedToleratedFailureThreshold, once more items fail than its
  ToleratedFailureCount or ToleratedFailurePercentage allow (none by default); the re-index switches readers to
  the new index only because its map did not fail, so locally an index missing documents became active. Local
  mode fails the run once its items have all run; AWS stops starting items as soon as the threshold is passed.
- DynamoDB: moto checks a write's condition and then stores the item as separate steps, and applies an update's
  actions to the stored item one at a time, so two concurrent conditional writes can both succeed and a read can
  see half an update. DynamoDB applies each write atomically, which the prompt catalog's version numbers and the
  document registry's ordering rest on. The emulator answers one DynamoDB request at a time instead.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Dispatcher = Callable[[str, Any], Any]

_lock = threading.Lock()
_dispatchers: dict[str, Dispatcher] = {}
_applied = False


def register_function(name: str, dispatch: Dispatcher) -> None:
    with _lock:
        _dispatchers[name] = dispatch


def unregister_function(name: str) -> None:
    with _lock:
        _dispatchers.pop(name, None)


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        _patch_deletion_events()
        _patch_event_bridge_events()
        _patch_lambda_invocation()
        _patch_distributed_map_failures()
        make_dynamodb_requests_atomic()
        _applied = True


_DELETE_MARKER_CREATED = "Delete Marker Created"
_PERMANENTLY_DELETED = "Permanently Deleted"
# The MD5 of no bytes. A delete marker has no content, and AWS's event for one carries this ETag.
_EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"


@dataclass(frozen=True)
class _Deletion:
    """What one DeleteObject did, told as AWS's "Object Deleted" event tells it
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): either it created a delete marker,
    named by the marker's own version id, or it removed something for good. That is one version, or one delete
    marker, of a versioned bucket, named by its version id, or an unversioned bucket's object, which has none. A
    deletion event carries no size. AWS's example gives a delete marker's the ETag of no bytes; events recorded from
    AWS for permanent deletions carry no ETag.

    moto's notification code is handed this in place of an object: its builders read `name`, `size`, `etag` and
    `version_id`. The EventBridge event they build takes its deletion fields from `detail_fields` before it is sent.
    """

    name: str
    deletion_type: str
    version_id: str | None = None
    etag: str = ""
    size: int = 0

    def detail_fields(self) -> dict[str, Any]:
        described: dict[str, Any] = {"key": self.name}
        if self.etag:
            described["etag"] = self.etag
        if self.version_id is not None:
            described["version-id"] = self.version_id
        return {"object": described, "reason": "DeleteObject", "deletion-type": self.deletion_type}


def _patch_deletion_events() -> None:
    from moto.s3 import notifications
    from moto.s3.models import S3Backend

    removed = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_EVENT
    marker_created = notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT
    send_event = notifications.send_event
    delete_object = S3Backend.delete_object
    in_delete_object = threading.local()

    def send_event_but_moto_deletions(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        # moto's own notice of a DeleteObject (only for an unversioned object or a key's last version, and shaped
        # as a created object's) is held back: delete_object_and_notify sends AWS's event for every deletion.
        if event_name == removed and getattr(in_delete_object, "active", False):
            return
        send_event(account_id, event_name, bucket, key)

    def delete_object_and_notify(
        self: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> tuple[bool, dict[str, Any]]:
        bucket = self.get_bucket(bucket_name)
        versioned = bucket.is_versioned
        # moto answers success for a version id the key does not have, where nothing changes and AWS tells nothing.
        had_version = version_id is not None and any(
            str(version.version_id) == str(version_id) for version in bucket.keys.getlist(key_name, [])
        )
        in_delete_object.active = True
        try:
            deleted, response = delete_object(self, bucket_name, key_name, version_id, bypass)
        finally:
            in_delete_object.active = False
        deletion: _Deletion | None = None
        if deleted and not versioned:
            deletion = _Deletion(key_name, _PERMANENTLY_DELETED)
        elif deleted and version_id is None:
            marker = str(response["version-id"])
            deletion = _Deletion(key_name, _DELETE_MARKER_CREATED, version_id=marker, etag=_EMPTY_ETAG)
        elif deleted and had_version:
            deletion = _Deletion(key_name, _PERMANENTLY_DELETED, version_id=str(version_id))
        if deletion is not None:
            event_name = marker_created if deletion.deletion_type == _DELETE_MARKER_CREATED else removed
            send_event(self.account_id, event_name, bucket, deletion)
        return deleted, response

    notifications.send_event = send_event_but_moto_deletions
    S3Backend.delete_object = delete_object_and_notify  # type: ignore[method-assign]


_sequencer_lock = threading.Lock()
_last_sequencer = 0


def next_sequencer() -> str:
    """An emulator behaviour, not AWS's algorithm: the wall clock in nanoseconds as 16 upper-case hex digits,
    strictly increasing within the process. Increasing for every key at once is increasing per key, which is all
    AWS promises; the clock (rather than a counter from 0) keeps sequencers increasing across restarts of local
    mode, whose registry keeps the sequencers of the previous run."""
    global _last_sequencer
    with _sequencer_lock:
        _last_sequencer = max(time.time_ns(), _last_sequencer + 1)
        return f"{_last_sequencer:016X}"


def _patch_event_bridge_events() -> None:
    from moto.events.models import Rule
    from moto.s3 import notifications

    # moto builds the event inside _send_event_bridge_message and hands it to each rule's send_to_targets, all in
    # the thread of the S3 request: the first patch notes the change (its sequencer, and what it announces), the
    # second writes them into the event.
    sending = threading.local()
    send_event_bridge_message = notifications._send_event_bridge_message
    send_to_targets = Rule.send_to_targets

    def send_with_a_fresh_sequencer(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        sending.change = (next_sequencer(), key, event_name)
        try:
            send_event_bridge_message(account_id, bucket, event_name, key)
        finally:
            sending.change = None

    def stamp_and_send(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        change = getattr(sending, "change", None)
        if change is not None and original_event.get("source") == "aws.s3":
            sequencer, subject, event_name = change
            detail = original_event["detail"]
            if isinstance(subject, _Deletion):
                detail.update(subject.detail_fields())
            elif original_event.get("detail-type") == "Object Created":
                _describe_creation_as_aws_does(detail, event_name)
            detail["object"]["sequencer"] = sequencer
        send_to_targets(self, original_event, transform_input)

    notifications._send_event_bridge_message = send_with_a_fresh_sequencer
    Rule.send_to_targets = stamp_and_send  # type: ignore[method-assign]


# moto's notification names ("s3:ObjectCreated:Put") against the reason AWS's "Object Created" event gives.
_CREATION_REASONS = {
    "Put": "PutObject",
    "Post": "POST Object",
    "Copy": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}


def _describe_creation_as_aws_does(detail: dict[str, Any], event_name: str) -> None:
    """moto's "Object Created" detail in AWS's words: `etag`, not `eTag`; the API call as `reason` (PutObject), not
    the event's category; no `version-id` in an unversioned bucket, where moto writes "null"."""
    described = detail["object"]
    if "eTag" in described:
        described["etag"] = described.pop("eTag")
    if described.get("version-id") in (None, "null"):
        described.pop("version-id", None)
    detail["reason"] = _CREATION_REASONS.get(event_name.rsplit(":", 1)[-1], detail.get("reason"))


def _patch_lambda_invocation() -> None:
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda

    def invoke_in_process(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        with _lock:
            dispatch = _dispatchers.get(self.function_name)
        if dispatch is None:
            return original(self, event)
        if isinstance(event, str | bytes):
            with contextlib.suppress(ValueError):  # a payload that is not JSON is passed on as it is
                event = json.loads(event or "{}")
        try:
            return json.dumps(dispatch(self.function_name, event)), False, ""
        except Exception as error:  # reported to the caller as a function error, as Lambda does
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}), True, ""

    LambdaFunction._invoke_lambda = invoke_in_process  # type: ignore[method-assign]


def tolerated_failures_exceeded(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether a Map Run with `failed` of `total` items failed (or timed out) is over its failure threshold.

    moto holds an undeclared ToleratedFailureCount or ToleratedFailurePercentage as 0, the same as a declared 0: a
    0 beside a non-zero other is read as undeclared, so only the other applies (a declared 0 would also fail the
    run on the first failure, which AWS does and this does not)."""
    over_count = failed > count
    over_percentage = total > 0 and 100.0 * failed / total > percentage
    if count == 0 and percentage > 0:
        return over_percentage
    if percentage == 0 and count > 0:
        return over_count
    return over_count or over_percentage


def _patch_distributed_map_failures() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = DistributedIterationComponent._map_run

    def map_run_failing_past_its_threshold(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        record = eval_input.map_run_record
        items = record.item_counter
        failed, total = items.failed.get() + items.timed_out.get(), items.total.get()
        if not tolerated_failures_exceeded(
            failed, total, record.tolerated_failure_count, record.tolerated_failure_percentage
        ):
            return
        error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
        cause = f"{failed} of {total} items failed, over the tolerated failure threshold"
        raise FailureEventException(  # the Map Run fails, then the Map state with it (its Catch applies)
            failure_event=FailureEvent(
                env=env,
                error_name=error,
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]  # moto types every detail as required
                    mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.error_name, cause=cause)
                ),
            )
        )

    DistributedIterationComponent._map_run = map_run_failing_past_its_threshold  # type: ignore[method-assign]


_dynamodb_lock = threading.Lock()
_dynamodb_atomic = False


def make_dynamodb_requests_atomic() -> None:
    """Each DynamoDB request, its response included, runs alone: a conditional write's check and store cannot
    interleave with another write, and no read sees an update half applied. Idempotent; applies to the in-process
    mock (`mock_aws`) and the threaded server alike, since both answer through the same handler."""
    global _dynamodb_atomic
    from moto.dynamodb.responses import DynamoHandler

    with _dynamodb_lock:
        if _dynamodb_atomic:
            return
        handle = DynamoHandler.call_action
        one_at_a_time = threading.Lock()

        def handle_alone(self: DynamoHandler) -> Any:
            with one_at_a_time:
                return handle(self)

        DynamoHandler.call_action = handle_alone  # type: ignore[method-assign]
        _dynamodb_atomic = True
