"""Platform events on an EventBridge bus. Publishing is best effort: a failure is logged, never raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = logging.getLogger(__name__)

PUT_EVENTS_MAX_ENTRIES = 10


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str, source: str = "llmops.guardrails") -> None:
        if not bus_name:
            raise ValueError("EVENT_BUS_NAME is required to publish events")
        self._client = client
        self._bus = bus_name
        self._source = source

    def publish(self, detail_type: str, detail: dict[str, object]) -> None:
        self.publish_many([(detail_type, detail)])

    def publish_many(self, events: Sequence[tuple[str, dict[str, object]]]) -> None:
        entries: list[Any] = [
            {
                "Source": self._source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "EventBusName": self._bus,
            }
            for detail_type, detail in events
        ]
        for first in range(0, len(entries), PUT_EVENTS_MAX_ENTRIES):
            batch = entries[first : first + PUT_EVENTS_MAX_ENTRIES]
            try:
                response = self._client.put_events(Entries=batch)
            except Exception:  # best effort: the caller's work matters more than its events
                logger.exception("Could not publish events", extra={"bus": self._bus, "entries": len(batch)})
                continue
            if response.get("FailedEntryCount"):
                errors = [e.get("ErrorCode") for e in response.get("Entries", []) if e.get("ErrorCode")]
                logger.warning(
                    "EventBridge refused some events",
                    extra={"bus": self._bus, "failed": response["FailedEntryCount"], "errors": errors},
                )
