"""The prompt catalog in one DynamoDB table: partition key `pk` = prompt name, sort key `sk` = `v#000001` for a
version, `alias#prod` for an alias.

A version is written only where no item has its key (a condition expression), so no writer, concurrent or not, can
overwrite one, and only if it fits in an item (refused as the catalog refuses a prompt too large, not as a failure of
DynamoDB's). An alias moves in a transaction that also checks its target version exists, and only if the alias still
points where the caller saw it; it is deleted only from where the caller saw it, too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.errors import InvalidPrompt, PromptConflict, PromptNotFound, PromptVersionExists
from llmops.domain.prompts import PromptSummary, PromptVersion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef

VERSION_PREFIX = "v#"
ALIAS_PREFIX = "alias#"
# DynamoDB's limit on an item: its attribute names and values. The catalog keeps a prompt well under it
# (llmops.domain.prompts.MAX_PROMPT_BYTES); this store checks the item it writes all the same.
MAX_ITEM_BYTES = 400 * 1024


def version_key(version: int) -> str:
    return f"{VERSION_PREFIX}{version:06d}"


def alias_key(alias: str) -> str:
    return f"{ALIAS_PREFIX}{alias}"


def item_bytes(item: Mapping[str, Mapping[str, str]]) -> int:
    """The size DynamoDB counts for an item of string and number attributes (what this store writes): names and
    values in UTF-8, a number at a byte a digit (DynamoDB counts about one per two, so this errs on the safe side)."""
    return sum(
        len(name.encode()) + sum(len(value.encode()) for value in typed.values()) for name, typed in item.items()
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class DynamoDbPromptStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- versions -----------------------------------------------------------------------------------------------
    def put_version(self, version: PromptVersion) -> None:
        item: dict[str, Any] = {
            "pk": {"S": version.name},
            "sk": {"S": version_key(version.version)},
            "version": {"N": str(version.version)},
            "created_at": {"S": version.created_at},
            "author": {"S": version.author},
            "description": {"S": version.description},
            "content_hash": {"S": version.content_hash},
            "document": {"S": version.model_dump_json()},
        }
        size = item_bytes(item)
        if size > MAX_ITEM_BYTES:  # DynamoDB would refuse it with a ValidationException: a 502, not the caller's 422
            raise InvalidPrompt(
                f"{version.prompt_id} takes {size:,} bytes as a DynamoDB item; at most {MAX_ITEM_BYTES:,}: shorten its "
                "templates"
            )
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise PromptVersionExists(f"{version.name} already has version {version.version}") from error
            raise

    def get_version(self, name: str, version: int) -> PromptVersion | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": name}, "sk": {"S": version_key(version)}},
            ConsistentRead=True,
        ).get("Item")
        return PromptVersion.model_validate_json(item["document"]["S"]) if item else None

    def latest_version(self, name: str) -> PromptVersion | None:
        response = self._client.query(
            TableName=self._table,
            KeyConditionExpression="pk = :name AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":name": {"S": name}, ":prefix": {"S": VERSION_PREFIX}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = response.get("Items", [])
        return PromptVersion.model_validate_json(items[0]["document"]["S"]) if items else None

    def list_versions(self, name: str) -> list[PromptVersion]:
        return [PromptVersion.model_validate_json(item["document"]["S"]) for item in self._query(name, VERSION_PREFIX)]

    # -- aliases ------------------------------------------------------------------------------------------------
    def get_alias(self, name: str, alias: str) -> int | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": name}, "sk": {"S": alias_key(alias)}},
            ConsistentRead=True,
        ).get("Item")
        return int(item["version"]["N"]) if item else None

    def aliases(self, name: str) -> dict[str, int]:
        return {
            item["sk"]["S"].removeprefix(ALIAS_PREFIX): int(item["version"]["N"])
            for item in self._query(name, ALIAS_PREFIX)
        }

    def put_alias(self, name: str, alias: str, version: int, *, current: int | None) -> None:
        item: dict[str, Any] = {
            "pk": {"S": name},
            "sk": {"S": alias_key(alias)},
            "version": {"N": str(version)},
            "updated_at": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
        }
        put: PutTypeDef = {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        if current is not None:
            item["previous_version"] = {"N": str(current)}
            put["ConditionExpression"] = "#version = :current"
            put["ExpressionAttributeNames"] = {"#version": "version"}
            put["ExpressionAttributeValues"] = {":current": {"N": str(current)}}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self._table,
                            "Key": {"pk": {"S": name}, "sk": {"S": version_key(version)}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Put": put},
                ]
            )
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise
            # Which condition failed: the service says so in its cancellation reasons; without them, read again.
            reasons = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
            if len(reasons) == 2:
                version_missing, alias_moved = (code == "ConditionalCheckFailed" for code in reasons)
            else:
                version_missing = self.get_version(name, version) is None
                alias_moved = not version_missing
            if version_missing:
                raise PromptNotFound(f"{name} has no version {version}") from error
            if alias_moved:
                raise PromptConflict(f"{name}@{alias} no longer points at {current}") from error
            raise

    def delete_alias(self, name: str, alias: str, *, current: int) -> None:
        """Delete `alias` only if it still points at `current`; else (moved, or gone already) PromptConflict."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": name}, "sk": {"S": alias_key(alias)}},
                ConditionExpression="#version = :current",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":current": {"N": str(current)}},
            )
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise PromptConflict(f"{name}@{alias} no longer points at {current}") from error
            raise

    # -- listing ------------------------------------------------------------------------------------------------
    def list_prompts(self) -> list[PromptSummary]:
        """One scan of the keys and summary attributes: the catalog is small, and listing it is rare."""
        latest: dict[str, dict[str, Any]] = {}
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "ProjectionExpression": "pk, sk, #version, created_at, author, description",
            "ExpressionAttributeNames": {"#version": "version"},
        }
        while True:
            page = self._client.scan(**arguments)
            for item in page.get("Items", []):
                name, sort_key = item["pk"]["S"], item["sk"]["S"]
                if sort_key.startswith(ALIAS_PREFIX):
                    aliases[name][sort_key.removeprefix(ALIAS_PREFIX)] = int(item["version"]["N"])
                elif sort_key.startswith(VERSION_PREFIX) and (
                    name not in latest or int(item["version"]["N"]) > int(latest[name]["version"]["N"])
                ):
                    latest[name] = item
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [
            PromptSummary(
                name=name,
                latest_version=int(item["version"]["N"]),
                description=item.get("description", {}).get("S", ""),
                author=item.get("author", {}).get("S", ""),
                updated_at=item["created_at"]["S"],
                aliases=dict(sorted(aliases[name].items())),
            )
            for name, item in latest.items()
        ]

    def _query(self, name: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :name AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":name": {"S": name}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
