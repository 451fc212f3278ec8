"""The CLI as a user runs it: one process per command, where state must survive between them (a restart each time),
and commands that attach to a running platform, as to `llmops up`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.domain.models import document_id_for
from llmops_local import cli
from llmops_local.connection import PlatformEndpoints
from llmops_local.platform import LocalPlatform, free_port

KILN_KEYS = ("documents/kiln.md", "documents/kiln-log.md")
# "12 hours" in digits: from "twelve hours" the packaged SmolLM2-135M answers "around 2 hours", which the grounding
# check rightly declines (the number is not in the passage), and the answer would then cite nothing.
NOTE = "# Glassblowing\n\nThe studio's annealing oven cools finished glass from 510 degrees Celsius over 12 hours.\n"


def _llmops(home: Path, project_root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "LLMOPS_HOME": str(home),
        "LLMOPS_AWS_PORT": str(free_port("127.0.0.1")),
        "LLMOPS_API_PORT": str(free_port("127.0.0.1")),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "llmops_local", *arguments],
        cwd=project_root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_given_a_document_ingested_by_one_command_then_later_commands_find_it(
    tmp_path: Path, project_root: Path
) -> None:
    note = tmp_path / "glass.md"
    note.write_text(NOTE)
    home = tmp_path / "home"

    ingested = _llmops(home, project_root, "ingest", str(note))
    listed = _llmops(home, project_root, "docs")
    answered = _llmops(home, project_root, "ask", "How long does the annealing oven take to cool the glass?")

    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    assert "documents/glass.md" in ingested.stdout and "indexed" in ingested.stdout
    assert "documents/glass.md" in listed.stdout and "indexed" in listed.stdout, listed.stdout + listed.stderr
    assert answered.returncode == 0, answered.stdout + answered.stderr
    assert "documents/glass.md" in answered.stdout, answered.stdout


def test_given_a_missing_file_then_ingest_fails_clearly(tmp_path: Path, project_root: Path) -> None:
    result = _llmops(tmp_path / "home", project_root, "ingest", str(tmp_path / "nope.txt"))

    assert result.returncode != 0
    assert "does not exist" in result.stdout + result.stderr


def test_given_documents_ingested_with_tags_then_search_and_ask_filter_on_them_and_docs_shows_their_ids(
    platform: LocalPlatform, endpoints: PlatformEndpoints, tmp_path: Path
) -> None:
    # Against the package's running platform: each command attaches to it through its home, as to `llmops up`.
    (tmp_path / "kiln.md").write_text("# Kilns\n\nThe studio's kiln fires stoneware at 1240 degrees Celsius.\n")
    (tmp_path / "kiln-log.md").write_text("# Kiln log\n\nThe kiln was serviced in March; the stoneware fired well.\n")
    home = ["--home", str(platform.config.home)]
    runner = CliRunner(env={"COLUMNS": "200"})
    ids = {key: document_id_for(endpoints.buckets["DocumentsBucket"], key) for key in KILN_KEYS}

    ingested = runner.invoke(cli.app, ["ingest", str(tmp_path / "kiln.md"), "--tag", "Studio", "--tag", "kilns", *home])
    untagged = runner.invoke(cli.app, ["ingest", str(tmp_path / "kiln-log.md"), *home])
    searched = runner.invoke(cli.app, ["search", "stoneware kiln temperature", "--tag", "studio", *home])
    unfiltered = runner.invoke(cli.app, ["search", "stoneware kiln", "--top-k", "10", *home])
    listed = runner.invoke(cli.app, ["docs", "--prefix", "documents/kiln", *home])
    # No passage has this tag: the question is declined before the model is asked, which only the filter explains.
    asked = runner.invoke(cli.app, ["ask", "At what temperature is stoneware fired?", "--tag", "glass", *home])

    assert ingested.exit_code == untagged.exit_code == 0, ingested.output + untagged.output
    assert searched.exit_code == 0, searched.output
    first, about = searched.stdout.splitlines()[:2]
    assert first.startswith("1. documents/kiln.md ("), searched.stdout
    assert "tags studio, kilns" in about and f"id {ids['documents/kiln.md']}" in about
    assert "documents/kiln-log.md" not in searched.stdout  # not tagged
    assert "documents/kiln-log.md" in unfiltered.stdout
    assert listed.exit_code == 0, listed.output
    for key, document_id in ids.items():
        assert any(key in line and document_id in line for line in listed.stdout.splitlines()), listed.stdout
    assert asked.exit_code == 0, asked.output
    assert "(no relevant context)" in asked.stdout and "[1]" not in asked.stdout
