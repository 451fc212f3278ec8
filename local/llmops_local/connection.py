"""How the CLI reaches the platform: attach to a running `llmops up`, or start one for the command's duration."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from llmops_local.platform import (
    CREDENTIALS,
    REGION,
    LocalPlatform,
    PlatformConfig,
    PlatformError,
    find_project_root,
)
from llmops_local.terminal import fail


@dataclass(frozen=True)
class PlatformEndpoints:
    aws_endpoint: str
    api_url: str
    buckets: dict[str, str]
    tables: dict[str, str]
    queues: dict[str, str]
    state_machines: dict[str, str]
    embedded: bool

    @classmethod
    def of(cls, platform: LocalPlatform) -> PlatformEndpoints:
        """The endpoints of a platform started in this process."""
        if platform.deployment is None:
            raise RuntimeError("the platform is not started")
        return cls(
            aws_endpoint=platform.aws_endpoint,
            api_url=platform.api_url,
            buckets=platform.deployment.buckets,
            tables=platform.deployment.tables,
            queues=platform.deployment.queues,
            state_machines=platform.deployment.state_machines,
            embedded=True,
        )

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


def default_home() -> Path:
    return Path(os.environ.get("LLMOPS_HOME", ".llmops")).resolve()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def running_platform(home: Path) -> PlatformEndpoints | None:
    runtime_file = home / "runtime.json"
    if not runtime_file.exists():
        return None
    info = json.loads(runtime_file.read_text())
    if not _pid_alive(int(info["pid"])):
        return None
    return PlatformEndpoints(
        aws_endpoint=info["aws_endpoint"],
        api_url=info["api_url"],
        buckets=info["buckets"],
        tables=info["tables"],
        queues=info["queues"],
        state_machines=info["state_machines"],
        embedded=False,
    )


@contextmanager
def platform_endpoints(home: Path, aws_port: int = 4566, api_port: int = 3000) -> Iterator[PlatformEndpoints]:
    attached = running_platform(home)
    if attached is not None:
        yield attached
        return
    config = PlatformConfig(project_root=find_project_root(), home=home, aws_port=aws_port, api_port=api_port)
    platform = LocalPlatform(config)
    try:
        platform.start()
    except PlatformError as error:  # a port in use, a missing build: the reason is the whole story
        fail(str(error), error)
    try:
        yield PlatformEndpoints.of(platform)
    finally:
        platform.stop()
