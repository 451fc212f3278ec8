"""`llmops prompts sync` refuses what cannot be meant before AWS or the platform is reached (or started): --if-missing
without --alias, a folder without prompt files, two files for one prompt.
(At deployment: test_local_custom_resources.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from llmops_local import prompt_commands
from llmops_local import prompts as api_sync

GREET = "name: greet\nauthor: ana\nuser: {text}\n"


class _Platform:
    """Counts how often the platform is reached and records each API call; answers as the catalog does."""

    def __init__(self) -> None:
        self.reached = 0
        self.calls: list[tuple[str, str]] = []
        self.missing = False  # the catalog has none of the prompts: GET /prompts/NAME answers 404

    def api_call(self, api_url: str, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        payload: dict[str, Any]
        if method == "GET" and path == "/prompts":  # the catalog, and the answer prompt its function guards
            payload = {"prompts": [], "answer_prompt": {"name": "rag-answer", "ref": "prod"}}
        elif method == "GET" and self.missing:
            raise api_sync.PromptApiError(404, f"no prompt named {path.rsplit('/', 1)[-1]}")
        elif method == "POST":
            payload = {"version": 1}
        elif method == "PUT":  # the alias was not set
            payload = {"alias": path.rsplit("/", 1)[-1], "version": body["version"], "previous_version": None}
        else:
            payload = {"aliases": {}}
        return SimpleNamespace(status_code=201 if method == "POST" else 200, json=lambda: payload)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> _Platform:
    fake = _Platform()

    @contextmanager
    def endpoints(*_: Any) -> Iterator[SimpleNamespace]:
        fake.reached += 1
        yield SimpleNamespace(api_url="http://api.invalid")

    monkeypatch.setattr(prompt_commands, "platform_endpoints", endpoints)
    monkeypatch.setattr(api_sync, "api_call", fake.api_call)
    # Wide enough that a message stays on one line, whatever the paths of tmp_path.
    monkeypatch.setattr(prompt_commands, "console", Console(width=400, color_system=None))
    return fake


def _sync(tmp_path: Path, *arguments: str) -> Any:
    return CliRunner().invoke(prompt_commands.prompts_app, ["sync", "--home", str(tmp_path / "home"), *arguments])


def _write_greet(folder: Path, *file_names: str) -> None:
    folder.mkdir(exist_ok=True)
    for number, file_name in enumerate(file_names):
        (folder / file_name).write_text(GREET.format(text=f"Hello number {number}"))


def test_if_missing_without_an_alias_is_a_usage_error(platform: _Platform, tmp_path: Path) -> None:
    _write_greet(tmp_path / "prompts", "greet.yaml")

    result = _sync(tmp_path, "--dir", str(tmp_path / "prompts"), "--if-missing")

    assert result.exit_code == 2
    assert "--if-missing" in result.output and "--alias" in result.output
    assert platform.reached == 0


@pytest.mark.parametrize("content", [[], ["README.md", "notes.txt"]])
def test_a_folder_without_prompt_files_is_refused_naming_it(
    platform: _Platform, tmp_path: Path, content: list[str]
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    for name in content:
        (folder / name).write_text("not a prompt")

    result = _sync(tmp_path, "--dir", str(folder))

    assert result.exit_code == 2
    assert "no prompt files" in result.output
    assert folder.name in result.output
    assert platform.reached == 0


def test_two_files_for_one_prompt_are_refused_naming_both_before_the_platform_is_reached(
    platform: _Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "p2"
    _write_greet(folder, "greet.yaml", "greet.yml")

    result = _sync(tmp_path, "--dir", str(folder), "--alias", "prod")

    assert result.exit_code == 1
    assert "greet is defined by both" in result.output
    assert str(folder / "greet.yaml") in result.output and str(folder / "greet.yml") in result.output
    assert platform.reached == 0 and platform.calls == []


def test_an_upper_case_extension_is_synced(platform: _Platform, tmp_path: Path) -> None:
    _write_greet(tmp_path / "prompts", "greet.YAML")

    result = _sync(tmp_path, "--dir", str(tmp_path / "prompts"), "--alias", "prod", "--if-missing")

    assert result.exit_code == 0, result.output
    assert ("POST", "/prompts") in platform.calls
    assert ("PUT", "/prompts/greet/aliases/prod") in platform.calls
    assert "greet" in result.output and "new version" in result.output


def test_a_sync_that_would_make_prod_a_rag_answer_that_cannot_answer_is_refused_before_any_post(
    platform: _Platform, tmp_path: Path
) -> None:
    # Given a rag-answer file (the configured answer prompt) that no longer declares {question}
    _write_greet(tmp_path / "prompts", "greet.yaml")
    rag_answer = "name: rag-answer\nauthor: ana\nvariables: [context]\nsystem: '{context}'\nuser: Answer.\n"
    (tmp_path / "prompts" / "rag-answer.yaml").write_text(rag_answer)

    # When it is synced with prod, where the catalog has no such prompt yet (404), then nothing is posted
    platform.missing = True
    result = _sync(tmp_path, "--dir", str(tmp_path / "prompts"), "--alias", "prod")

    assert result.exit_code == 1
    assert "rag-answer@prod answers every question that names no prompt" in result.output
    assert "rag-answer.yaml cannot answer questions" in result.output
    assert [call for call in platform.calls if call[0] != "GET"] == []
