"""Re-driving an SQS dead-letter queue into its source queue, message by message (works on any SQS, the emulator
included; SQS's own StartMessageMoveTask is asynchronous and not emulated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_BATCH = 10  # SQS's receive and send-batch limit


class SqsDeadLetters:
    def __init__(self, client: SQSClient, dead_letter_queue_url: str, source_queue_url: str) -> None:
        self._sqs = client
        self._dlq = dead_letter_queue_url
        self._source = source_queue_url

    def redrive(self, limit: int) -> int:
        moved = 0
        while moved < limit:
            messages = self._sqs.receive_message(
                QueueUrl=self._dlq,
                MaxNumberOfMessages=min(_BATCH, limit - moved),
                VisibilityTimeout=60,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return moved
            entries: list[Any] = [
                {"Id": str(i), "MessageBody": m["Body"], **_attributes(m)} for i, m in enumerate(messages)
            ]
            sent = self._sqs.send_message_batch(QueueUrl=self._source, Entries=entries)
            # Only what reached the source queue leaves the dead-letter queue; nothing is lost on a partial send.
            delivered = {entry["Id"] for entry in sent.get("Successful", [])}
            done = [m for i, m in enumerate(messages) if str(i) in delivered]
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=self._dlq,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            moved += len(done)
            if len(done) < len(messages):
                return moved
        return moved

    def count(self) -> int:
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._dlq, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]
        return int(attributes.get("ApproximateNumberOfMessages", 0))


def _attributes(message: Any) -> dict[str, Any]:
    attributes = message.get("MessageAttributes")
    return {"MessageAttributes": attributes} if attributes else {}
