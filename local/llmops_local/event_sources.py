"""SQS event source mappings: poll a queue, invoke the function with a batch, delete what succeeded.

Like Lambda's mapping: with ReportBatchItemFailures only the reported records stay on the queue; if the
handler raises, the whole batch does. Failed records come back after a short, growing delay (instead of the
queue's full visibility timeout) and reach the dead-letter queue after the redrive policy's maxReceiveCount.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from llmops_local.deployment import SqsEventSource
from llmops_local.functions import LocalFunction

log = logging.getLogger(__name__)

_RETRY_DELAY_SECONDS = 2


def sqs_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


class SqsPoller:
    def __init__(self, sqs: Any, queue_url: str, source: SqsEventSource, function: LocalFunction, region: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._source = source
        self._function = function
        self._region = region
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs->{function.spec.logical_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def poll_once(self) -> int:
        """Receive one batch and hand it to the function; returns how many messages were received."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self._source.batch_size, 10),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        event = sqs_lambda_event(messages, self._source.queue_arn, self._region)
        try:
            result = self._function.invoke(event)
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
            if failed and not self._source.report_batch_item_failures:
                failed = {m["MessageId"] for m in messages}
        except Exception:
            log.exception("%s failed on a batch of %d messages", self._function.spec.logical_id, len(messages))
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failed:
                receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=_RETRY_DELAY_SECONDS * receives,
                )
            else:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("polling %s failed", self._queue_url)
                self._stop.wait(1)
