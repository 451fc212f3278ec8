"""`llmops up --log-level`: what the functions log reaches the console at the level asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops_local import cli
from llmops_local.platform import PlatformConfig, PlatformError


class _PlatformThatCannotStart:
    """Fails to start, so that `up` returns instead of serving."""

    def start(self) -> Any:
        raise PlatformError("not started in this test")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[PlatformConfig]:
    """The configuration of every platform `up` builds."""
    configs: list[PlatformConfig] = []

    def build(config: PlatformConfig) -> _PlatformThatCannotStart:
        configs.append(config)
        return _PlatformThatCannotStart()

    monkeypatch.setattr(cli, "LocalPlatform", build)
    return configs


def test_given_no_level_then_functions_log_warnings_only(recorded: list[PlatformConfig], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["up", "--home", str(tmp_path)], env={"LLMOPS_LOG_LEVEL": ""})

    assert result.exit_code == 1 and "not started in this test" in result.output
    assert [config.log_level for config in recorded] == ["WARNING"]


def test_given_a_level_by_option_or_environment_then_the_functions_log_at_it(
    recorded: list[PlatformConfig], tmp_path: Path
) -> None:
    CliRunner().invoke(cli.app, ["up", "--home", str(tmp_path), "--log-level", "info"])
    CliRunner().invoke(cli.app, ["up", "--home", str(tmp_path)], env={"LLMOPS_LOG_LEVEL": "DEBUG"})
    refused = CliRunner().invoke(cli.app, ["up", "--home", str(tmp_path), "--log-level", "LOUD"])

    assert [config.log_level for config in recorded] == ["INFO", "DEBUG"]
    assert refused.exit_code == 2
