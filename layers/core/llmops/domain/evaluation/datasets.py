"""Evaluation datasets: JSON Lines rows, validated line by line, stored as immutable numbered versions.

A row is `{"input": "question" | {"question": ..., other prompt variables}, "reference": "...", "expected_sources":
["documents/faq.html", ...], "tags": ["..."], "id": "..."}`; only `input` is required. The rows of a version live
as one JSON Lines object in the evaluation bucket; the registry keeps its name, number, size, hash and tags.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmops.domain.evaluation.errors import DatasetNotFound, InvalidDataset
from llmops.ports import BlobStore, EvaluationRepository

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
MAX_ROWS = 10_000
MAX_DATASET_BYTES = 20 * 1024 * 1024
MAX_REPORTED_PROBLEMS = 50


class DatasetRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = Field(default=None, max_length=128)
    input: str | dict[str, str] = Field(description="The question, or the prompt variables (`question` required).")
    reference: str | None = Field(default=None, max_length=20_000, description="A reference answer.")
    expected_sources: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("input")
    @classmethod
    def _has_question(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        question = value if isinstance(value, str) else value.get("question", "")
        if not question.strip():
            raise ValueError("input must be a non-empty question, or an object with a non-empty `question`")
        return value

    @property
    def question(self) -> str:
        return self.input if isinstance(self.input, str) else self.input["question"]


class DatasetVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    object_key: str
    row_count: int
    sha256: str
    tags: dict[str, int] = Field(default_factory=dict, description="How many rows carry each tag.")
    with_reference: int = 0
    with_expected_sources: int = 0
    description: str = ""
    created_at: str

    @property
    def dataset_id(self) -> str:
        return f"{self.name}@{self.version}"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidDataset(
            f"dataset name {name!r} is not a slug: lowercase letters, digits and hyphens, a letter first, 64 at most"
        )
    return name


def _problem(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'row'}: {item['msg']}" for item in error.errors()
    )


def parse_rows(rows: Iterable[Mapping[str, Any]]) -> list[DatasetRow]:
    """Rows given as objects; problems are reported by row number (from 1), all of them at once."""
    return _validated(enumerate(rows, start=1))


def parse_jsonl(text: str) -> list[DatasetRow]:
    """JSON Lines text; blank lines are skipped; problems are reported by line number (from 1)."""
    numbered: list[tuple[int, Any]] = []
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            numbered.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            problems.append((number, f"not JSON: {error.msg} (column {error.colno})"))
    return _validated(numbered, problems)


def _validated(numbered: Iterable[tuple[int, Any]], problems: list[tuple[int, str]] | None = None) -> list[DatasetRow]:
    problems = list(problems or [])
    rows: list[DatasetRow] = []
    for number, value in numbered:
        if not isinstance(value, Mapping):
            problems.append((number, "a row must be a JSON object"))
            continue
        try:
            rows.append(DatasetRow.model_validate(value))
        except ValidationError as error:
            problems.append((number, _problem(error)))
    ids = Counter(row.id for row in rows if row.id)
    problems += [(0, f"id {row_id!r} is used by {count} rows") for row_id, count in ids.items() if count > 1]
    if problems:
        problems.sort()
        shown = problems[:MAX_REPORTED_PROBLEMS]
        more = f" (first {len(shown)} of {len(problems)} shown)" if len(problems) > len(shown) else ""
        raise InvalidDataset(f"{len(problems)} invalid row(s){more}", shown)
    if not rows:
        raise InvalidDataset("the dataset has no rows")
    if len(rows) > MAX_ROWS:
        raise InvalidDataset(f"the dataset has {len(rows)} rows; at most {MAX_ROWS} are allowed")
    return rows


def to_jsonl(rows: Iterable[DatasetRow]) -> str:
    return "".join(row.model_dump_json(exclude_none=True) + "\n" for row in rows)


class DatasetCatalog:
    """Stores datasets as numbered versions: uploading the same rows again returns the latest version."""

    def __init__(self, repository: EvaluationRepository, blobs: BlobStore, prefix: str = "datasets/") -> None:
        self._repository = repository
        self._blobs = blobs
        self._prefix = prefix

    def upload(self, name: str, rows: list[DatasetRow], description: str = "") -> tuple[DatasetVersion, bool]:
        """Store the rows as the next version of `name`; (version, created). Unchanged rows create nothing.
        An InvalidDataset about the name says so (its `field`); one that names no field is about the rows."""
        try:
            check_name(name)
        except InvalidDataset as error:
            error.field = ("name",)
            raise
        body = to_jsonl(rows)
        if len(body.encode()) > MAX_DATASET_BYTES:
            raise InvalidDataset(f"the dataset is larger than {MAX_DATASET_BYTES // 2**20} MiB")
        digest = hashlib.sha256(body.encode()).hexdigest()
        latest = self._repository.latest_dataset(name)
        if latest is not None and latest.sha256 == digest:
            return latest, False
        number = (latest.version if latest else 0) + 1
        key = f"{self._prefix}{name}/v{number:06d}.jsonl"
        self._blobs.put_text(key, body, "application/x-ndjson")
        version = DatasetVersion(
            name=name,
            version=number,
            object_key=key,
            row_count=len(rows),
            sha256=digest,
            tags=dict(Counter(tag for row in rows for tag in row.tags)),
            with_reference=sum(1 for row in rows if row.reference),
            with_expected_sources=sum(1 for row in rows if row.expected_sources),
            description=description,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._repository.put_dataset(version)
        return version, True

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        found = self._repository.get_dataset(name, version) if version else self._repository.latest_dataset(name)
        if found is None:
            raise DatasetNotFound(f"no dataset {name}" + (f" version {version}" if version else ""))
        return found

    def rows(self, dataset: DatasetVersion) -> list[DatasetRow]:
        return parse_jsonl(self._blobs.get_text(dataset.object_key))

    def list(self) -> list[DatasetVersion]:
        return self._repository.list_datasets()


def parse_dataset_ref(ref: str) -> tuple[str, int | None]:
    """`name` (the latest version) or `name@N`."""
    name, _, version = ref.partition("@")
    if version and not (version.isascii() and version.isdigit()):  # int() refuses '²', which isdigit() takes
        raise InvalidDataset(f"dataset reference {ref!r}: the version after @ must be a number")
    return check_name(name), int(version) if version else None
