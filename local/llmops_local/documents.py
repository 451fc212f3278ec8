"""Client-side document operations: upload files to the documents bucket and follow them until indexed."""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from llmops.domain.models import DocumentStatus, document_id_for
from llmops.domain.tags import METADATA_KEY
from llmops_local.connection import PlatformEndpoints

FINAL_STATUSES = {DocumentStatus.INDEXED.value, DocumentStatus.FAILED.value, DocumentStatus.DELETED.value}
mimetypes.add_type("text/markdown", ".md")


@dataclass
class Upload:
    path: Path
    key: str
    document_id: str
    version: str
    status: str = DocumentStatus.QUEUED.value
    chunk_count: int | None = None
    reason: str | None = None


class KeyClashError(ValueError):
    """Different files would be uploaded to the same key: each would overwrite the one before it."""


class NotSettledError(TimeoutError):
    """Documents were neither indexed, failed nor deleted by the deadline."""


@dataclass
class FileSelection:
    files: list[tuple[Path, str]]  # (file, key), each key once
    hidden_skipped: int = 0


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def files_to_upload(paths: Iterable[Path], prefix: str = "documents/") -> FileSelection:
    """(file, key) pairs: a file argument under its name, a folder argument as every file under it, keyed by its
    path in the folder. Under a folder, hidden files and folders (.DS_Store, .git/) are skipped: they are not
    documents, and .git/ alone would be thousands of objects. A hidden file named as an argument is uploaded.

    Two different files with the same key are refused before anything is uploaded: the later would silently
    replace the earlier, and the earlier's version, never the current one, could never be seen indexed."""
    candidates: list[tuple[Path, str]] = []
    hidden = 0
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if not file.is_file():
                    continue
                relative = file.relative_to(path)
                if _is_hidden(relative):
                    hidden += 1
                else:
                    candidates.append((file, prefix + relative.as_posix()))
        elif path.is_file():
            candidates.append((path, prefix + path.name))
        else:
            raise FileNotFoundError(f"{path} does not exist")

    files_by_key: dict[str, list[Path]] = {}
    selected: list[tuple[Path, str]] = []
    for file, key in candidates:
        same_key = files_by_key.setdefault(key, [])
        # The same file reached twice (a folder and a file in it) is uploaded once: a second upload would only
        # add a version, and the first one would then never be seen settled.
        if any(file.resolve() == other.resolve() for other in same_key):
            continue
        same_key.append(file)
        selected.append((file, key))
    clashes = {key: files for key, files in files_by_key.items() if len(files) > 1}
    if clashes:
        raise KeyClashError(
            "different files would go to the same key, each replacing the one before; nothing was uploaded:\n"
            + "".join(f"  {key}: {', '.join(str(file) for file in files)}\n" for key, files in clashes.items())
            + "Rename one, or give a folder that holds them: the keys of a folder's files keep their subfolders."
        )
    return FileSelection(selected, hidden)


def upload(endpoints: PlatformEndpoints, files: Iterable[tuple[Path, str]], tags: Sequence[str] = ()) -> list[Upload]:
    """Upload (file, key) pairs, as chosen by files_to_upload. `tags` (checked by the caller: normalise_tags) go in
    each version's user metadata, where ingestion reads them; a version uploaded without tags has none."""
    s3 = endpoints.client("s3")
    bucket = endpoints.buckets["DocumentsBucket"]
    tagged: dict[str, Any] = {"Metadata": {METADATA_KEY: ",".join(tags)}} if tags else {}
    uploads = []
    for file, key in files:
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        response = s3.put_object(Bucket=bucket, Key=key, Body=file.read_bytes(), ContentType=content_type, **tagged)
        version = response.get("VersionId") or response["ETag"].strip('"')
        uploads.append(Upload(path=file, key=key, document_id=document_id_for(bucket, key), version=version))
    return uploads


def document_record(endpoints: PlatformEndpoints, document_id: str) -> dict[str, Any] | None:
    dynamodb = endpoints.client("dynamodb")
    item = dynamodb.get_item(TableName=endpoints.tables["DocumentsTable"], Key={"document_id": {"S": document_id}})
    raw = item.get("Item")
    if raw is None:
        return None
    return {name: next(iter(value.values())) for name, value in raw.items()}


def wait_until_settled(
    endpoints: PlatformEndpoints,
    uploads: list[Upload],
    timeout_seconds: float,
    on_progress: Callable[[list[Upload]], None] = lambda _: None,
) -> list[Upload]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        for item in uploads:
            if item.status in FINAL_STATUSES:
                continue
            record = document_record(endpoints, item.document_id)
            if record and record.get("version") == item.version:
                item.status = record["status"]
                item.chunk_count = int(record["chunk_count"]) if "chunk_count" in record else None
                item.reason = record.get("reason")
        on_progress(uploads)
        if all(item.status in FINAL_STATUSES for item in uploads):
            return uploads
        if time.monotonic() > deadline:
            raise NotSettledError(
                f"documents not settled after {timeout_seconds:.0f} s: "
                + ", ".join(f"{u.key} ({u.status})" for u in uploads if u.status not in FINAL_STATUSES)
            )
        time.sleep(0.5)


def list_documents(
    endpoints: PlatformEndpoints, status: str | None = None, prefix: str | None = None
) -> list[dict[str, Any]]:
    """Every page of GET /documents."""
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        parameters: dict[str, str] = {"limit": "200"}
        parameters.update({k: v for k, v in {"status": status, "prefix": prefix, "cursor": cursor}.items() if v})
        response = requests.get(f"{endpoints.api_url}/documents", params=parameters, timeout=60)
        response.raise_for_status()
        page = response.json()
        records.extend(page["documents"])
        cursor = page.get("next_cursor")
        if not cursor:
            return sorted(records, key=lambda r: r["source_key"])


def redrive(endpoints: PlatformEndpoints, limit: int) -> dict[str, int]:
    response = requests.post(f"{endpoints.api_url}/documents/redrive", json={"limit": limit}, timeout=300)
    response.raise_for_status()
    return dict(response.json())


def run_backfill(endpoints: PlatformEndpoints, prefix: str, timeout_seconds: float = 600) -> dict[str, Any]:
    """Run the backfill state machine over `prefix` and wait for it; returns the execution's description."""
    sfn = endpoints.client("stepfunctions")
    execution = sfn.start_execution(
        stateMachineArn=endpoints.state_machines["BackfillStateMachine"], input=json.dumps({"prefix": prefix})
    )["executionArn"]
    deadline = time.monotonic() + timeout_seconds
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"backfill of {prefix} still running after {timeout_seconds:.0f} s")
        time.sleep(0.5)
