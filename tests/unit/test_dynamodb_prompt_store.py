"""The prompt store against moto in-process, on PromptsTable built from template.yaml's own properties."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.adapters.aws.dynamodb_prompt_store import MAX_ITEM_BYTES, DynamoDbPromptStore, item_bytes
from llmops.domain.errors import InvalidPrompt, PromptConflict, PromptNotFound, PromptVersionExists
from llmops.domain.prompts import MAX_PROMPT_BYTES, PromptCatalog, PromptSpec
from llmops_local.functions import LocalLambdaContext
from tests.aws_clients import PROMPTS_TABLE, TEMPLATE, moto_prompts_table
from tests.fakes import stored_by_an_earlier_release

TABLE = PROMPTS_TABLE


def _spec(description: str = "v1") -> PromptSpec:
    return PromptSpec(
        author="ana",
        description=description,
        system_template="Answer from:\n{context}",
        user_template="{question}",
        variables=("context", "question"),
        parameters={"temperature": 0.3, "top_p": 0.9, "top_k": 40, "max_tokens": 200, "stop": ["\n\nQ:"]},
        guardrails={"pii": {"action": "mask"}},
    )


@pytest.fixture
def client() -> Iterator[Any]:
    with moto_prompts_table() as dynamodb:
        yield dynamodb


@pytest.fixture
def store(client: Any) -> DynamoDbPromptStore:
    return DynamoDbPromptStore(client, TABLE)


def test_given_versions_when_read_back_then_every_field_round_trips_and_latest_is_the_highest(
    store: DynamoDbPromptStore,
) -> None:
    catalog = PromptCatalog(store)
    first = catalog.create_version("rag-answer", _spec("v1"))
    for n in range(2, 12):  # past v9, where a lexical sort of unpadded numbers would go wrong
        catalog.create_version("rag-answer", _spec(f"v{n}"))

    assert store.get_version("rag-answer", 1) == first
    latest = store.latest_version("rag-answer")
    assert latest is not None and latest.version == 11 and latest.description == "v11"
    assert [v.version for v in store.list_versions("rag-answer")] == list(range(1, 12))
    assert first.parameters.stop == ("\n\nQ:",) and first.guardrails == {"pii": {"action": "mask"}}
    assert store.get_version("rag-answer", 99) is None
    assert store.latest_version("other") is None


def test_a_version_is_never_overwritten(store: DynamoDbPromptStore, client: Any) -> None:
    first = PromptCatalog(store).create_version("rag-answer", _spec())

    with pytest.raises(PromptVersionExists):
        store.put_version(first.model_copy(update={"user_template": "{question} (rewritten)"}))

    stored = store.get_version("rag-answer", 1)
    assert stored is not None and stored.user_template == "{question}"
    items = client.scan(TableName=TABLE)["Items"]
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in items] == [("rag-answer", "v#000001")]


def test_given_concurrent_publishers_then_each_gets_its_own_version_number(store: DynamoDbPromptStore) -> None:
    published: list[int] = []
    start = threading.Barrier(4)

    def publish(n: int) -> None:
        start.wait()
        published.append(PromptCatalog(store, attempts=10).create_version("rag-answer", _spec(f"writer {n}")).version)

    writers = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    assert sorted(published) == [1, 2, 3, 4]
    assert sorted(v.description for v in store.list_versions("rag-answer")) == [f"writer {n}" for n in range(4)]


def test_an_alias_moves_only_to_an_existing_version_and_only_from_where_it_was_seen(
    store: DynamoDbPromptStore,
) -> None:
    catalog = PromptCatalog(store)
    catalog.create_version("rag-answer", _spec("v1"))
    catalog.create_version("rag-answer", _spec("v2"))

    store.put_alias("rag-answer", "prod", 1, current=None)
    with pytest.raises(PromptNotFound, match="no version 3"):
        store.put_alias("rag-answer", "prod", 3, current=1)
    with pytest.raises(PromptConflict):
        store.put_alias("rag-answer", "prod", 2, current=None)  # it exists already
    with pytest.raises(PromptConflict):
        store.put_alias("rag-answer", "prod", 2, current=2)  # it points at 1
    store.put_alias("rag-answer", "prod", 2, current=1)
    store.put_alias("rag-answer", "staging", 1, current=None)

    assert store.get_alias("rag-answer", "prod") == 2
    assert store.aliases("rag-answer") == {"prod": 2, "staging": 1}
    assert store.get_alias("rag-answer", "canary") is None


def test_an_alias_is_deleted_only_from_where_it_was_seen(store: DynamoDbPromptStore) -> None:
    catalog = PromptCatalog(store)
    catalog.create_version("rag-answer", _spec("v1"))
    catalog.create_version("rag-answer", _spec("v2"))
    catalog.set_alias("rag-answer", "staging", 2)

    with pytest.raises(PromptConflict):
        store.delete_alias("rag-answer", "staging", current=1)  # it points at 2
    with pytest.raises(PromptConflict):
        store.delete_alias("rag-answer", "canary", current=1)  # there is no such alias
    deleted = catalog.delete_alias("rag-answer", "staging")

    assert deleted.previous_version == 2
    assert store.aliases("rag-answer") == {}


def test_the_largest_prompt_the_catalog_accepts_fits_in_one_item_with_room_to_spare(
    store: DynamoDbPromptStore, client: Any
) -> None:
    # Given the longest author and description, and templates filling the rest of the limit, in 4-byte characters
    emoji = "\U0001f600"
    base = PromptSpec(author=emoji * 256, description=emoji * 2000, user_template="{question}", variables=("question",))
    room = MAX_PROMPT_BYTES - len(base.model_dump_json().encode())
    system = emoji * 50_000
    rest = room - len(system.encode())
    user = "{question}" + emoji * (rest // 4) + "x" * (rest % 4)
    largest = PromptSpec.model_validate(base.model_dump() | {"system_template": system, "user_template": user})
    assert len(largest.model_dump_json().encode()) == MAX_PROMPT_BYTES

    # When it is published, then DynamoDB takes it whole
    published = PromptCatalog(store).create_version("rag-answer", largest)

    item = client.get_item(TableName=TABLE, Key={"pk": {"S": "rag-answer"}, "sk": {"S": "v#000001"}})["Item"]
    assert item_bytes(item) < MAX_ITEM_BYTES - 40_000
    assert store.get_version("rag-answer", 1) == published


def test_a_version_too_large_for_one_item_is_refused_before_the_write(store: DynamoDbPromptStore, client: Any) -> None:
    # Given a version the catalog's own checks would have refused (one stored before the byte limit existed, say)
    # (a control character takes 6 bytes in JSON: \u0001)
    escaped = {"system_template": "\x01" * 49_000 + "{context}", "user_template": "\x01" * 49_000 + "{question}"}
    too_large = stored_by_an_earlier_release(_spec(), "rag-answer", 1, **escaped)

    # When the store is asked to write it, then it refuses as the catalog would, and writes nothing
    with pytest.raises(InvalidPrompt, match=r"rag-answer@1 takes .* bytes as a DynamoDB item; at most 409,600"):
        store.put_version(too_large)

    assert client.scan(TableName=TABLE)["Items"] == []


def test_rolling_back_prod_through_the_catalog(store: DynamoDbPromptStore) -> None:
    catalog = PromptCatalog(store)
    catalog.create_version("rag-answer", _spec("v1"))
    catalog.create_version("rag-answer", _spec("v2"))
    catalog.set_alias("rag-answer", "prod", 2)

    rollback = catalog.set_alias("rag-answer", "prod", 1)

    assert (rollback.version, rollback.previous_version) == (1, 2)
    assert catalog.get("rag-answer", "prod").description == "v1"


def test_listing_summarises_every_prompt_with_its_latest_version_and_aliases(store: DynamoDbPromptStore) -> None:
    catalog = PromptCatalog(store)
    for name in ("b-prompt", "a-prompt"):
        catalog.create_version(name, _spec("first"))
    catalog.create_version("a-prompt", _spec("second"))
    catalog.set_alias("a-prompt", "prod", 1)

    listed = catalog.list_prompts()

    assert [(s.name, s.latest_version, s.description, s.aliases) for s in listed] == [
        ("a-prompt", 2, "second", {"prod": 1}),
        ("b-prompt", 1, "first", {}),
    ]


def test_make_sync_prompts_path_writes_the_files_straight_into_a_deployed_table(store: DynamoDbPromptStore) -> None:
    from typer.testing import CliRunner

    from llmops_local.cli import app

    repository_prompts = Path(__file__).resolve().parents[2] / "prompts"
    arguments = ["prompts", "sync", "--dir", str(repository_prompts), "--table", TABLE, "--region", "us-east-1"]

    first = CliRunner().invoke(app, [*arguments, "--alias", "prod", "--if-missing"])
    again = CliRunner().invoke(app, [*arguments, "--alias", "prod", "--if-missing"])

    assert first.exit_code == 0, first.output
    assert again.exit_code == 0 and "unchanged" in again.output
    assert store.aliases("rag-answer") == {"prod": 1}
    assert [v.version for v in store.list_versions("rag-answer")] == [1]


def _deployment_request(request_type: str, response_url: str) -> dict[str, Any]:
    """A CloudFormation custom resource request for PromptCatalogSync, with the template's properties."""
    properties = TEMPLATE["Resources"]["PromptCatalogSync"]["Properties"]
    return {
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/llmops-dev/1",
        "RequestId": f"request-{request_type}",
        "ResourceType": "Custom::PromptCatalogSync",
        "LogicalResourceId": "PromptCatalogSync",
        "ResourceProperties": {key: properties[key] for key in ("Alias", "OnlyWhereMissing")},
    }


@pytest.fixture
def deployed_sync(store: DynamoDbPromptStore, monkeypatch: pytest.MonkeyPatch) -> Any:
    """PromptCatalogSync's handler as a deployment calls it, answering at a ResponseURL served here."""
    from llmops.entrypoints.prompt_catalog_sync import lambda_handler
    from llmops_local.custom_resources import response_receiver

    monkeypatch.setenv("PROMPTS_TABLE", TABLE)
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    def deploy(request_type: str, code_package: Path) -> dict[str, Any]:
        monkeypatch.setenv("LAMBDA_TASK_ROOT", str(code_package))
        with response_receiver() as (url, received):
            context = LocalLambdaContext("PromptFilesFunction", 512, "arn:aws:lambda:us-east-1:1:function:f", 60)
            lambda_handler(_deployment_request(request_type, f"{url}/answer"), context)
        return received["answer"]

    return deploy


def test_given_a_deployment_then_prompt_catalog_sync_publishes_the_prompt_files_and_tells_cloudformation(
    deployed_sync: Any, store: DynamoDbPromptStore
) -> None:
    repository_prompts = Path(__file__).resolve().parents[2] / "prompts"

    created = deployed_sync("Create", repository_prompts)
    updated = deployed_sync("Update", repository_prompts)

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert "rag-answer@1 (new version, prod set)" in created["Data"]["Prompts"]
    assert created["RequestId"] == "request-Create" and created["LogicalResourceId"] == "PromptCatalogSync"
    assert updated["Status"] == "SUCCESS" and "rag-answer@1" in updated["Data"]["Prompts"]
    assert store.aliases("rag-answer") == {"prod": 1}
    assert [v.version for v in store.list_versions("rag-answer")] == [1]  # unchanged files make no new version


def test_given_a_bad_prompt_file_then_the_deployment_fails_naming_it_and_nothing_is_published(
    deployed_sync: Any, store: DynamoDbPromptStore, tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text("name: good\nauthor: a\nuser: '{question}'\nvariables: [question]\n")
    (tmp_path / "typo.yaml").write_text("name: typo\nauthor: a\nuser: hi\ntemprature: 0.2\n")

    answer = deployed_sync("Update", tmp_path)

    assert answer["Status"] == "FAILED"
    assert "typo.yaml" in answer["Reason"] and "temprature" in answer["Reason"]
    assert store.list_versions("good") == []


def test_given_a_rag_answer_file_that_cannot_answer_then_the_first_deployment_fails_and_nothing_is_published(
    deployed_sync: Any, store: DynamoDbPromptStore, tmp_path: Path
) -> None:
    # Given prompt files of which rag-answer (the configured answer prompt) no longer declares {question}
    (tmp_path / "a-good.yaml").write_text("name: a-good\nauthor: a\nuser: '{question}'\nvariables: [question]\n")
    (tmp_path / "rag-answer.yaml").write_text(
        "name: rag-answer\nauthor: a\nsystem: '{context}'\nuser: Answer.\nvariables: [context]\n"
    )

    # When a first deployment would make it prod
    answer = deployed_sync("Create", tmp_path)

    # Then the deployment fails saying why, with nothing published
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith(
        "rag-answer@prod answers every question that names no prompt; rag-answer@1 cannot"
    )
    assert store.list_versions("a-good") == [] and store.list_versions("rag-answer") == []


def test_given_a_rag_answer_file_that_cannot_answer_then_sync_into_a_table_publishes_nothing(
    store: DynamoDbPromptStore, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from llmops_local.cli import app

    (tmp_path / "a-good.yaml").write_text("name: a-good\nauthor: a\nuser: '{question}'\nvariables: [question]\n")
    (tmp_path / "rag-answer.yaml").write_text(
        "name: rag-answer\nauthor: a\nsystem: '{context}'\nuser: Answer.\nvariables: [context]\n"
    )
    arguments = [
        "prompts",
        "sync",
        "--dir",
        str(tmp_path),
        "--table",
        TABLE,
        "--region",
        "us-east-1",
        "--alias",
        "prod",
    ]

    result = CliRunner().invoke(app, arguments)

    assert result.exit_code == 1
    assert "rag-answer@prod answers every question that names no prompt" in result.output
    assert store.list_versions("a-good") == [] and store.list_versions("rag-answer") == []


def test_given_the_stack_is_deleted_then_prompt_catalog_sync_succeeds_without_touching_the_catalog(
    deployed_sync: Any, store: DynamoDbPromptStore
) -> None:
    answer = deployed_sync("Delete", Path(__file__).resolve().parents[2] / "prompts")

    assert answer["Status"] == "SUCCESS"
    assert store.list_versions("rag-answer") == []
