"""The index pointer as one DynamoDB item, changed only by conditional writes: two re-indexes cannot race, and a
switch happens only for the index that was being built."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import IndexNotReady, NothingToRollBack, ReindexInProgress
from llmops.domain.models import IndexState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

POINTER_KEY = {"name": "vector-index"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoDbIndexPointer:
    def __init__(self, table: Table, default_index: str) -> None:
        self._table = table
        self._default = default_index

    def current(self) -> IndexState:
        item = self._table.get_item(Key=POINTER_KEY, ConsistentRead=True).get("Item")
        if item is None:
            return IndexState(active=self._default)
        return IndexState.model_validate({k: v for k, v in item.items() if k != "name"})

    def begin(self, target: str) -> IndexState:
        state = self.current()
        try:
            self._update(
                "SET active = if_not_exists(active, :default), building = :target, building_since = :now",
                "attribute_not_exists(building) OR building = :null",
                {":default": state.active, ":target": target, ":now": _now(), ":null": None},
            )
        except ClientError as error:
            if _conditional_failure(error):
                raise ReindexInProgress(f"a re-index into {self.current().building} is still running") from error
            raise
        return self.current()

    def switch(self, target: str) -> IndexState:
        state = self.current()
        try:
            self._update(
                "SET active = :target, previous = :old, switched_at = :now REMOVE building, building_since",
                "building = :target",
                {":target": target, ":old": state.active, ":now": _now()},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise
            now = self.current()
            # The workflow retries a switch whose answer was lost: the pointer already says what it asked for.
            if now.active == target and now.building is None:
                return now
            raise IndexNotReady(f"{target} is not the index being built") from error
        return self.current()

    def abort(self, target: str) -> IndexState:
        try:
            self._update("REMOVE building, building_since", "building = :target", {":target": target})
        except ClientError as error:
            if not _conditional_failure(error):
                raise
        return self.current()

    def rollback(self) -> IndexState:
        state = self.current()
        if not state.previous:
            raise NothingToRollBack("there is no previous index to roll back to")
        try:
            self._update(
                "SET active = :previous, previous = :active, switched_at = :now",
                "active = :active AND previous = :previous",
                {":previous": state.previous, ":active": state.active, ":now": _now()},
            )
        except ClientError as error:
            if _conditional_failure(error):
                raise NothingToRollBack("the index pointer changed meanwhile; try again") from error
            raise
        return self.current()

    def _update(self, expression: str, condition: str, values: dict[str, Any]) -> None:
        self._table.update_item(
            Key=POINTER_KEY,
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
        )
