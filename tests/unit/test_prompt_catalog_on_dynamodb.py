"""The catalog's equivalence and `only_if_unset` on the DynamoDB store (moto in-process), as on the fake store:
the rules live in the catalog, and the store's conditional writes are what keep an alias set meanwhile."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmops.adapters.aws.dynamodb_prompt_store import DynamoDbPromptStore
from llmops.domain.errors import PromptConflict
from llmops.domain.prompts import PromptCatalog, PromptSpec, PromptVersion
from tests.aws_clients import PROMPTS_TABLE, moto_prompts_table

TABLE = PROMPTS_TABLE


def _spec(**overrides: Any) -> PromptSpec:
    fields: dict[str, Any] = {
        "author": "ana",
        "system_template": "Answer from:\n{context}",
        "user_template": "{question}",
        "variables": ["context", "question"],
        "guardrails": {"pii": "mask"},
        **overrides,
    }
    return PromptSpec.model_validate(fields)


@pytest.fixture
def client() -> Iterator[Any]:
    with moto_prompts_table() as dynamodb:
        yield dynamodb


def test_given_a_version_an_earlier_release_hashed_when_an_equivalent_spec_is_published_then_it_is_unchanged(
    client: Any,
) -> None:
    # Given version 1 stored with the content hash an earlier release computed (the spec's JSON as written)
    spec = _spec()
    written = json.dumps(
        spec.model_dump(mode="json", include=set(PromptSpec.model_fields)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    stamp = {"name": "rag-answer", "version": 1, "created_at": "2026-01-01T00:00:00+00:00"}
    store = DynamoDbPromptStore(client, TABLE)
    store.put_version(
        PromptVersion.model_validate(
            spec.model_dump(mode="json") | stamp | {"content_hash": hashlib.sha256(written.encode()).hexdigest()}
        )
    )
    catalog = PromptCatalog(store)

    same = catalog.publish("rag-answer", spec)
    equivalent = catalog.publish(
        "rag-answer", _spec(variables=["question", "context"], guardrails={"pii": {"action": "redact"}})
    )

    assert (same.created, equivalent.created) == (False, False)
    assert [v.version for v in catalog.list_versions("rag-answer")] == [1]
    assert catalog.get("rag-answer", 1).guardrails == {"pii": "mask"}  # stored as written


class _SetMeanwhile(DynamoDbPromptStore):
    """Someone points an alias at version 1, straight into the table, between the catalog's read and its write."""

    def __init__(self, client: Any) -> None:
        super().__init__(client, TABLE)
        self.client = client
        self.pending = True

    def put_alias(self, name: str, alias: str, version: int, *, current: int | None) -> None:
        if self.pending:
            self.pending = False
            item = {"pk": {"S": name}, "sk": {"S": f"alias#{alias}"}, "version": {"N": "1"}}
            self.client.put_item(TableName=TABLE, Item=item)
        super().put_alias(name, alias, version, current=current)


def test_given_only_if_unset_when_someone_sets_the_alias_meanwhile_then_theirs_stays(client: Any) -> None:
    store = _SetMeanwhile(client)
    catalog = PromptCatalog(store)
    catalog.publish("rag-answer", _spec())
    catalog.publish("rag-answer", _spec(description="v2"))

    with pytest.raises(PromptConflict, match=r"rag-answer@prod is set already \(it points at 1\)"):
        catalog.set_alias("rag-answer", "prod", 2, only_if_unset=True)
    outcomes = PromptCatalog(store).sync([("rag-answer", _spec(description="v2"))], "prod", only_where_missing=True)

    assert catalog.aliases("rag-answer") == {"prod": 1}
    assert [(o.version, o.created, o.alias_moved) for o in outcomes] == [(2, False, False)]
