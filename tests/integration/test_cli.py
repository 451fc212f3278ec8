"""The CLI as a user runs it, one process per command: state must survive between them (a restart each time)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmops_local.platform import free_port

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
