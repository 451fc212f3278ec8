"""GET /documents' pagination cursor: only a cursor that the same listing handed out is passed to DynamoDB."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import Mock

import boto3
import pytest
from moto import mock_aws

from llmops.adapters.aws.dynamodb_registry import DynamoDbDocumentRegistry
from llmops.domain.documents import DocumentCatalog
from llmops.domain.errors import InvalidCursor
from llmops.domain.models import DocumentRef, DocumentStatus
from llmops.ports import RecordUpdate
from llmops_local.template import load_template
from tests.handler_events import api_event, call_handler
from tests.template.handler_modules import load_handler_module

TEMPLATE = load_template(Path(__file__).resolve().parents[2] / "template.yaml")


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.fixture
def registry() -> Iterator[DynamoDbDocumentRegistry]:
    properties = TEMPLATE["Resources"]["DocumentsTable"]["Properties"]
    table_arguments = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(
            TableName="documents", **{k: v for k, v in properties.items() if k in table_arguments}
        )
        registry = DynamoDbDocumentRegistry(table)
        for i in range(5):
            registry.record(DocumentRef(bucket="b", key=f"documents/a/{i}.txt"), DocumentStatus.INDEXED)
        registry.record(
            DocumentRef(bucket="b", key="documents/b/bad.txt"), DocumentStatus.FAILED, RecordUpdate(reason="bad")
        )
        yield registry


INDEX_KEY = {"status": "indexed", "source_key": "documents/a/1.txt", "document_id": "d"}


@pytest.mark.parametrize(
    ("status", "prefix", "cursor"),
    [
        (None, None, "eyJmb28iOiJiYXIifQ=="),  # {"foo": "bar"}
        (None, None, "MQ=="),  # 1
        (None, None, "WzFd"),  # [1]
        (None, None, "not a cursor"),
        (None, None, _cursor({"document_id": 1})),
        (None, None, _cursor({"document_id": ""})),
        (None, None, _cursor({"document_id": "d", "extra": "x"})),
        (None, None, _cursor(INDEX_KEY)),  # a cursor of the index, for a scan of the table
        (None, None, base64.urlsafe_b64encode(b"[" * 3000).decode()),  # too deeply nested to parse
        (DocumentStatus.INDEXED, None, "eyJkb2N1bWVudF9pZCI6IngifQ=="),  # {"document_id": "x"}: a table key
        (DocumentStatus.INDEXED, None, _cursor({**INDEX_KEY, "source_key": None})),
        (DocumentStatus.FAILED, None, _cursor(INDEX_KEY)),  # another status's listing
        (DocumentStatus.INDEXED, "documents/b/", _cursor(INDEX_KEY)),  # another prefix's listing
    ],
)
def test_a_cursor_the_listing_did_not_hand_out_is_refused_without_asking_dynamodb(
    status: DocumentStatus | None, prefix: str | None, cursor: str
) -> None:
    table = Mock()
    registry = DynamoDbDocumentRegistry(table)

    with pytest.raises(InvalidCursor, match="invalid pagination cursor"):
        registry.list(status=status, prefix=prefix, limit=2, cursor=cursor)

    assert table.mock_calls == []


@pytest.mark.parametrize(("status", "prefix"), [(None, None), (DocumentStatus.INDEXED, "documents/a/")])
def test_the_cursors_a_listing_hands_out_take_it_through_every_page(
    registry: DynamoDbDocumentRegistry, status: DocumentStatus | None, prefix: str | None
) -> None:
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = registry.list(status=status, prefix=prefix, limit=2, cursor=cursor)
        keys += [r.source_key for r in page.records]
        cursor = page.next_cursor
        if not cursor:
            break

    expected = {f"documents/a/{i}.txt" for i in range(5)} | (set() if status else {"documents/b/bad.txt"})
    assert sorted(keys) == sorted(expected)


def _list_documents(module: Any, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return call_handler(module, api_event("GET", "/documents", query=query))


def test_get_documents_answers_400_for_a_cursor_it_did_not_hand_out(
    registry: DynamoDbDocumentRegistry, monkeypatch: pytest.MonkeyPatch, handler_env: None
) -> None:
    module = load_handler_module("documents")
    monkeypatch.setattr(module, "catalog", lambda: DocumentCatalog(registry, Mock()))

    status, body = _list_documents(module, {"status": "indexed", "cursor": "eyJkb2N1bWVudF9pZCI6IngifQ=="})

    assert status == 400
    assert body["message"] == "invalid pagination cursor: pass back the next_cursor of a previous page"


def test_get_documents_refuses_a_misspelt_query_parameter_instead_of_listing_everything(
    registry: DynamoDbDocumentRegistry, monkeypatch: pytest.MonkeyPatch, handler_env: None
) -> None:
    module = load_handler_module("documents")
    listings: list[dict[str, Any]] = []
    monkeypatch.setattr(module, "catalog", lambda: Mock(list=lambda **kwargs: listings.append(kwargs)))

    status, body = _list_documents(module, {"stauts": "failed", "limt": "1", "prefix": "documents/"})

    assert status == 422
    assert body["message"] == "unknown query parameters 'limt', 'stauts'; accepted: cursor, limit, prefix, status"
    assert listings == []
