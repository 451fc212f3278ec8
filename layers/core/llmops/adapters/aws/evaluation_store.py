"""The evaluation registry in one DynamoDB table, and the evaluation bucket's objects.

Table keys: `pk` = `dataset#NAME`, `sk` = `v#000001` for a dataset version; `pk` = `run#ID`, `sk` = `run` for a
run and `item#0001#000042` for the result of candidate 1 on row 42. Each item keeps its record as a JSON string
(`document`), so floats stay floats; the keys and a few attributes are there to query by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from llmops.domain.evaluation.datasets import DatasetVersion
from llmops.domain.evaluation.runs import EvaluationRun, ItemResult

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

DATASET = "dataset#"
RUN = "run#"


def _dataset_pk(name: str) -> str:
    return f"{DATASET}{name}"


def _version_sk(version: int) -> str:
    return f"v#{version:06d}"


def _item_sk(candidate: int, item: int) -> str:
    return f"item#{candidate:04d}#{item:06d}"


class DynamoDbEvaluationRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _put(self, pk: str, sk: str, document: str, **attributes: str) -> None:
        item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}, "document": {"S": document}}
        item.update({name: {"S": value} for name, value in attributes.items()})
        self._client.put_item(TableName=self._table, Item=item)

    def _get(self, pk: str, sk: str) -> str | None:
        response = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item = response.get("Item")
        return item["document"]["S"] if item else None

    def _query(self, pk: str, prefix: str, *, newest_first: bool = False, limit: int | None = None) -> list[str]:
        documents: list[str] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": prefix}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if limit:
            arguments["Limit"] = limit
        while True:
            response = self._client.query(**arguments)
            documents += [item["document"]["S"] for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response or (limit and len(documents) >= limit):
                return documents
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_dataset(self, version: DatasetVersion) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": _dataset_pk(version.name)},
                    "sk": {"S": _version_sk(version.version)},
                    "document": {"S": version.model_dump_json()},
                    "created_at": {"S": version.created_at},
                },
                ConditionExpression="attribute_not_exists(pk)",  # versions are never overwritten
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ValueError(f"dataset {version.dataset_id} exists already (a concurrent upload?)") from error
            raise

    def get_dataset(self, name: str, version: int) -> DatasetVersion | None:
        document = self._get(_dataset_pk(name), _version_sk(version))
        return DatasetVersion.model_validate_json(document) if document else None

    def latest_dataset(self, name: str) -> DatasetVersion | None:
        documents = self._query(_dataset_pk(name), "v#", newest_first=True, limit=1)
        return DatasetVersion.model_validate_json(documents[0]) if documents else None

    def list_datasets(self) -> list[DatasetVersion]:
        latest: dict[str, DatasetVersion] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(pk, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": DATASET}},
        }
        while True:
            response = self._client.scan(**arguments)
            for item in response.get("Items", []):
                version = DatasetVersion.model_validate_json(item["document"]["S"])
                if version.name not in latest or latest[version.name].version < version.version:
                    latest[version.name] = version
            if "LastEvaluatedKey" not in response:
                return sorted(latest.values(), key=lambda v: v.name)
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def put_run(self, run: EvaluationRun) -> None:
        self._put(f"{RUN}{run.run_id}", "run", run.model_dump_json(), status=run.status.value)

    def get_run(self, run_id: str) -> EvaluationRun | None:
        document = self._get(f"{RUN}{run_id}", "run")
        return EvaluationRun.model_validate_json(document) if document else None

    def put_item_result(self, result: ItemResult) -> None:
        self._put(f"{RUN}{result.run_id}", _item_sk(result.candidate, result.item), result.model_dump_json())

    def item_results(self, run_id: str) -> list[ItemResult]:
        return [ItemResult.model_validate_json(d) for d in self._query(f"{RUN}{run_id}", "item#")]


class S3BlobStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        if not bucket:
            raise ValueError("EVALUATION_BUCKET is required")
        self._client = client
        self._bucket = bucket

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=text.encode(), ContentType=content_type)

    def get_text(self, key: str) -> str:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise KeyError(key) from error
            raise
        return bytes(body).decode()
