"""Where moto 5.2 differs from AWS in ways the platform depends on, mended in-process.

- S3: deleting an object of a versioned bucket (a delete marker) sends no notification in moto; AWS sends an
  "Object Deleted" event (deletion-type "Delete Marker Created"), which is how deletions reach the index.
- S3: moto stamps every EventBridge event with the same constant `sequencer`; AWS gives each change to a key a
  greater one than the change before, which is how ingestion orders events that arrive out of order.
- Lambda: moto runs function code in Docker; local mode dispatches invocations (from Step Functions tasks or
  `lambda invoke`) to the in-process handlers instead.
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
        _patch_delete_marker_events()
        _patch_event_sequencers()
        _patch_lambda_invocation()
        make_dynamodb_requests_atomic()
        _applied = True


def _patch_delete_marker_events() -> None:
    from moto.s3 import notifications
    from moto.s3.models import FakeKey, S3Backend

    original = S3Backend._set_delete_marker

    def set_delete_marker_and_notify(self: S3Backend, bucket_name: str, key_name: str) -> Any:
        bucket = self.get_bucket(bucket_name)
        deleted_key = bucket.keys[key_name]
        marker = original(self, bucket_name, key_name)
        notifications.send_event(
            self.account_id,
            notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            bucket,
            deleted_key,
        )
        return marker

    S3Backend._set_delete_marker = set_delete_marker_and_notify  # type: ignore[method-assign]

    # Deleting one version of a versioned bucket's object (DeleteObject with a VersionId) is "Object Deleted" on
    # AWS too; moto sends nothing, and the ingest function never heard that another version became current.
    delete_object = S3Backend.delete_object

    def delete_object_and_notify(
        self: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: bool = False
    ) -> Any:
        bucket = self.get_bucket(bucket_name)
        versions = bucket.keys.getlist(key_name, []) if bucket.is_versioned and version_id is not None else []
        deleted = next((v for v in versions if isinstance(v, FakeKey) and str(v.version_id) == str(version_id)), None)
        result = delete_object(self, bucket_name, key_name, version_id, bypass)
        if deleted is not None:
            notifications.send_event(
                self.account_id, notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_EVENT, bucket, deleted
            )
        return result

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


def _patch_event_sequencers() -> None:
    from moto.events.models import Rule
    from moto.s3 import notifications

    # moto builds the event inside _send_event_bridge_message and hands it to each rule's send_to_targets, all in
    # the thread of the S3 request: the first patch picks the change's sequencer, the second stamps it.
    stamping = threading.local()
    send_event_bridge_message = notifications._send_event_bridge_message
    send_to_targets = Rule.send_to_targets

    def send_with_a_fresh_sequencer(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        stamping.sequencer = next_sequencer()
        try:
            send_event_bridge_message(account_id, bucket, event_name, key)
        finally:
            stamping.sequencer = None

    def stamp_and_send(self: Rule, original_event: Any, transform_input: bool = True) -> None:
        sequencer = getattr(stamping, "sequencer", None)
        if sequencer is not None and original_event.get("source") == "aws.s3":
            original_event["detail"]["object"]["sequencer"] = sequencer
        send_to_targets(self, original_event, transform_input)

    notifications._send_event_bridge_message = send_with_a_fresh_sequencer
    Rule.send_to_targets = stamp_and_send  # type: ignore[method-assign]


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
