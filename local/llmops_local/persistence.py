"""Local state that outlives the emulator: objects and table items are mirrored to disk and restored at start.

moto keeps everything in memory. The runtime snapshots the buckets and tables it created (on a timer and at
shutdown) and puts them back when it starts again; the vector store (LanceDB) persists by itself.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

_MANIFEST = "objects.json"
_BYTES = "__base64__"


def _encode(value: Any) -> Any:
    """DynamoDB items as JSON: binary attributes (B) become base64 strings."""
    if isinstance(value, bytes):
        return {_BYTES: base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES}:
            return base64.b64decode(value[_BYTES])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class LocalStateStore:
    def __init__(self, root: Path, clients: Any) -> None:
        self._root = root
        self._client = clients

    def snapshot(self, buckets: dict[str, str], tables: dict[str, str]) -> None:
        for logical, bucket in buckets.items():
            self._snapshot_bucket(self._root / "s3" / logical, bucket)
        for logical, table in tables.items():
            self._snapshot_table(self._root / "dynamodb" / f"{logical}.jsonl", table)

    def restore(self, buckets: dict[str, str], tables: dict[str, str]) -> int:
        restored = 0
        for logical, bucket in buckets.items():
            restored += self._restore_bucket(self._root / "s3" / logical, bucket)
        for logical, table in tables.items():
            restored += self._restore_table(self._root / "dynamodb" / f"{logical}.jsonl", table)
        return restored

    def _snapshot_bucket(self, folder: Path, bucket: str) -> None:
        s3 = self._client("s3")
        manifest_path = folder / _MANIFEST
        previous: dict[str, dict[str, str]] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        current: dict[str, dict[str, str]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key, etag = item["Key"], item["ETag"]
                file = folder / "objects" / quote(key, safe="")
                entry = previous.get(key)
                if entry is None or entry["etag"] != etag or not file.exists():
                    response = s3.get_object(Bucket=bucket, Key=key)
                    file.parent.mkdir(parents=True, exist_ok=True)
                    file.write_bytes(response["Body"].read())
                    entry = {"etag": etag, "content_type": response.get("ContentType", "binary/octet-stream")}
                current[key] = entry
        for gone in set(previous) - set(current):
            (folder / "objects" / quote(gone, safe="")).unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        temporary = manifest_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(current, indent=1))
        temporary.replace(manifest_path)

    def _restore_bucket(self, folder: Path, bucket: str) -> int:
        manifest_path = folder / _MANIFEST
        if not manifest_path.exists():
            return 0
        s3 = self._client("s3")
        manifest = json.loads(manifest_path.read_text())
        for key, entry in manifest.items():
            body = (folder / "objects" / quote(key, safe="")).read_bytes()
            s3.put_object(Bucket=bucket, Key=unquote(quote(key, safe="")), Body=body, ContentType=entry["content_type"])
        return len(manifest)

    def _snapshot_table(self, path: Path, table: str) -> None:
        dynamodb = self._client("dynamodb")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as out:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page.get("Items", []):
                    out.write(json.dumps(_encode(item)) + "\n")
        temporary.replace(path)

    def _restore_table(self, path: Path, table: str) -> int:
        if not path.exists():
            return 0
        dynamodb = self._client("dynamodb")
        items = [_decode(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
        for start in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            dynamodb.batch_write_item(RequestItems={table: batch})
        return len(items)

    def clear(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)
