from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops_local.connection import PlatformEndpoints
from llmops_local.documents import FINAL_STATUSES, document_record
from llmops_local.platform import LocalPlatform, PlatformConfig, free_port


# Package scope: moto's backends are process-wide, and a unit test's mock_aws() resets them; the platform stops
# with this package, so `pytest tests` (integration first) leaves the unit tests a clean emulator and vice versa.
@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> Iterator[LocalPlatform]:
    """The whole local platform, started once: emulated AWS, deployed template, pollers and API."""
    config = PlatformConfig(
        project_root=project_root,
        home=tmp_path_factory.mktemp("llmops-home"),
        aws_port=free_port("127.0.0.1"),
        api_port=free_port("127.0.0.1"),
        snapshot_seconds=3600,
    )
    with LocalPlatform(config) as running:
        yield running


@pytest.fixture(scope="package")
def endpoints(platform: LocalPlatform) -> PlatformEndpoints:
    return PlatformEndpoints.of(platform)


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {condition}")
        time.sleep(0.3)


def wait_for_status(
    endpoints: PlatformEndpoints, document_id: str, version: str | None = None, timeout: float = 120
) -> dict[str, Any]:
    """The registry record of a document once it has settled (for `version`, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = document_record(endpoints, document_id)
        if record and record["status"] in FINAL_STATUSES and (version is None or record["version"] == version):
            return record
        time.sleep(0.3)
    raise AssertionError(f"document {document_id} did not settle within {timeout} s: {record}")
