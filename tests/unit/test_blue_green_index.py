"""Blue/green index routing and the index pointer (DynamoDB, against moto in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from moto import mock_aws

from llmops.adapters.aws.dynamodb_index_pointer import DynamoDbIndexPointer
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.domain.errors import IndexNotReady, NothingToRollBack, ReindexInProgress
from llmops.domain.index_routing import RoutedVectorIndex
from llmops.domain.models import Chunk
from llmops.domain.reindex import IndexAdmin
from tests.fakes import FakeVectorIndex, chunk_of


@pytest.fixture
def pointer() -> Iterator[DynamoDbIndexPointer]:
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        table = resource.create_table(
            TableName="control",
            AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbIndexPointer(table, "chunks")


def _chunk(document_id: str) -> Chunk:
    return chunk_of(document_id, version="v")


def test_the_pointer_allows_one_build_and_switches_only_to_it(pointer: DynamoDbIndexPointer) -> None:
    assert pointer.current().active == "chunks"

    pointer.begin("chunks-2")
    with pytest.raises(ReindexInProgress):
        pointer.begin("chunks-3")
    with pytest.raises(IndexNotReady):
        pointer.switch("chunks-3")
    state = pointer.switch("chunks-2")

    assert (state.active, state.previous, state.building) == ("chunks-2", "chunks", None)
    assert pointer.rollback().active == "chunks"


def test_a_switch_retried_after_it_was_made_answers_the_same_state_and_changes_nothing(
    pointer: DynamoDbIndexPointer,
) -> None:
    pointer.begin("chunks-2")
    switched = pointer.switch("chunks-2")

    assert pointer.switch("chunks-2") == switched == pointer.current()
    pointer.rollback()
    with pytest.raises(IndexNotReady):  # no longer active: switching to it again is not a retry
        pointer.switch("chunks-2")
    pointer.begin("chunks-3")
    with pytest.raises(IndexNotReady):
        pointer.switch("chunks")


def test_nothing_to_roll_back_before_any_switch(pointer: DynamoDbIndexPointer) -> None:
    with pytest.raises(NothingToRollBack):
        pointer.rollback()


def test_writes_reach_the_index_being_built_and_reads_stay_on_the_active_one(pointer: DynamoDbIndexPointer) -> None:
    indexes: dict[str, FakeVectorIndex] = {}

    def open_index(name: str) -> FakeVectorIndex:
        return indexes.setdefault(name, FakeVectorIndex())

    routed = RoutedVectorIndex(pointer, open_index, refresh_seconds=0)
    routed.replace_document("a", [_chunk("a")], np.array([[1.0, 0.0]], dtype=np.float32))
    pointer.begin("chunks-2")

    routed.replace_document("b", [_chunk("b")], np.array([[0.0, 1.0]], dtype=np.float32))
    found = routed.search(np.array([0.0, 1.0], dtype=np.float32), 5)

    assert {c.document_id for c, _ in indexes["chunks"].rows} == {"a", "b"}
    assert {c.document_id for c, _ in indexes["chunks-2"].rows} == {"b"}
    assert {hit.chunk.document_id for hit in found} == {"a", "b"}  # still the active (old) index


def test_readers_follow_a_switch_after_their_refresh_interval(pointer: DynamoDbIndexPointer) -> None:
    now = [0.0]
    indexes = {"chunks": FakeVectorIndex(), "chunks-2": FakeVectorIndex()}
    routed = RoutedVectorIndex(pointer, indexes.__getitem__, refresh_seconds=10, clock=lambda: now[0])
    assert routed.state().active == "chunks"
    pointer.begin("chunks-2")
    pointer.switch("chunks-2")

    stale = routed.state().active
    now[0] = 11.0

    assert (stale, routed.state().active) == ("chunks", "chunks-2")


class _RecordingWorkflow:
    def __init__(self, fail: bool = False) -> None:
        self.started: list[dict[str, Any]] = []
        self.names: list[str] = []
        self.fail = fail

    def start(self, payload: dict[str, object], name: str) -> str:
        if self.fail:
            raise ConnectionError("states endpoint unreachable")
        self.started.append(dict(payload))
        self.names.append(name)
        return "execution-1"


def test_starting_a_reindex_claims_the_pointer_and_releases_it_if_the_workflow_cannot_start(
    pointer: DynamoDbIndexPointer,
) -> None:
    clock = lambda: datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)  # noqa: E731
    workflow = _RecordingWorkflow()
    admin = IndexAdmin(pointer, lambda name: FakeVectorIndex(), workflow, "chunks", clock)

    target, execution = admin.start_reindex()
    with pytest.raises(ReindexInProgress):
        admin.start_reindex()
    pointer.abort(target)
    failing = IndexAdmin(pointer, lambda name: FakeVectorIndex(), _RecordingWorkflow(fail=True), "chunks", clock)
    with pytest.raises(ConnectionError):
        failing.start_reindex()

    assert (target, execution) == ("chunks-20261121100000", "execution-1")
    assert workflow.started == [{"target": "chunks-20261121100000"}]
    assert workflow.names == ["chunks-20261121100000"]  # the execution is named after the index it builds
    assert pointer.current().building is None


def test_a_lancedb_index_counts_rows_written_through_other_handles(tmp_path: Path) -> None:
    # GET /index reports a re-index's progress from its own handle while the map's items write through theirs.
    reader, writer = LanceDbVectorIndex(tmp_path, "chunks-new"), LanceDbVectorIndex(tmp_path, "chunks-new")
    writer.ensure_index(2)
    writer.replace_document("a", [_chunk("a")], np.eye(2, dtype=np.float32)[:1])
    assert reader.count() == 1

    writer.replace_document("b", [_chunk("b")], np.eye(2, dtype=np.float32)[1:])

    assert reader.count() == 2


def test_after_a_switch_removals_reach_the_previous_index_so_a_rollback_brings_back_nothing_removed(
    pointer: DynamoDbIndexPointer,
) -> None:
    indexes: dict[str, FakeVectorIndex] = {}
    routed = RoutedVectorIndex(pointer, lambda name: indexes.setdefault(name, FakeVectorIndex()), refresh_seconds=0)
    for name in ("kept", "deleted", "replaced"):
        routed.replace_document(name, [chunk_of(name, revision="r1")], np.array([[1.0, 0.0]], dtype=np.float32))
    pointer.begin("chunks-2")
    for name in ("kept", "deleted", "replaced"):
        routed.index("chunks-2").replace_document(
            name, [chunk_of(name, revision="r1")], np.array([[1.0, 0.0]], dtype=np.float32)
        )
    pointer.switch("chunks-2")

    routed.delete_document("deleted")
    # A new version, as ingestion writes it: its chunks beside the old ones, then the older revisions go.
    routed.add_chunks([chunk_of("replaced", "new text", revision="r2")], np.array([[1.0, 0.0]], dtype=np.float32))
    routed.delete_document("replaced", before="r2")
    pointer.rollback()

    back = {(hit.chunk.document_id, hit.chunk.text) for hit in routed.search(np.array([1.0, 0.0], np.float32), 9)}
    assert back == {("kept", "x")}  # the new version is not there either: that index never had its chunks
