"""What `llmops ask` prints: the users' own text as it is, brackets included."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import typer
from rich.console import Console
from typer.testing import CliRunner

from llmops_local import cli, connection
from llmops_local.platform import PlatformError


def _answer(**fields: Any) -> dict[str, Any]:
    return {
        "question": "Where is [/usr/local/bin]?",
        "answer": "Scripts go in [/usr/local/bin], see [red] notes [citation needed]. [1]",
        "grounded": True,
        "abstention": None,
        "citations": [{"number": 1, "source_key": "documents/[draft] paths.md", "position": 0, "score": 0.71}],
        "model_id": "local:model",
        "prompt_id": "rag-answer@3",
        "latency_ms": 12.0,
        "usage": {"input_tokens": 5, "output_tokens": 7},
    } | fields


def test_markup_like_text_in_a_question_answer_or_key_is_printed_as_written() -> None:
    with cli.console.capture() as captured:
        cli._print_answer(_answer())
    printed = captured.get()

    assert "Q: Where is [/usr/local/bin]?" in printed
    assert "A: Scripts go in [/usr/local/bin], see [red] notes [citation needed]. [1]" in printed
    assert "[1] documents/[draft] paths.md (chunk 0, score 0.71)" in printed
    assert "prompt rag-answer@3" in printed


def test_llmops_docs_on_80_columns_shows_whole_keys_and_whole_reasons_as_written(monkeypatch: Any) -> None:
    key = "documents/[draft]/2026/quarterly-report-for-the-board-of-directors.pdf"
    reason = f"{key} is not a PDF: it does not start with a %PDF- header [/INST]"
    records = [
        {
            "source_key": key,
            "status": "failed",
            "size_bytes": 9,
            "updated_at": "2026-11-22T00:49:12.5+00:00",
            "reason": reason,
        },
        {
            "source_key": "documents/refunds.md",
            "status": "indexed",
            "chunk_count": 1,
            "size_bytes": 107,
            "duration_ms": 518.4,
            "updated_at": "2026-11-22T00:48:00+00:00",
        },
    ]
    narrow = Console(width=80, color_system=None)
    monkeypatch.setattr(cli, "console", narrow)

    with narrow.capture() as captured:
        cli._print_documents(records)
    lines = captured.get().splitlines()

    assert all(len(line) <= 80 for line in lines)
    key_cells = "".join(line.split("│")[1].strip() for line in lines if line.startswith("│") and "│" in line[1:])
    assert key in key_cells  # folded over lines, never cut short with an ellipsis
    assert any("documents/refunds.md" in line and "indexed" in line and "518" in line for line in lines)
    table_end = next(index for index, line in enumerate(lines) if line.startswith("└"))
    assert " ".join(lines[table_end + 1 :]).split() == reason.split()  # the key once, then the reason, as written


def test_guardrail_hits_on_the_question_and_the_answer_are_printed_one_line_each_after_the_answer() -> None:
    hits = [
        {"check": "pii", "stage": "input", "action": "redact", "score": 1.0, "categories": ["EMAIL_ADDRESS", "[x]"]},
        {"check": "toxicity", "stage": "output", "action": "flag", "score": 0.912, "categories": []},
    ]
    with cli.console.capture() as captured:
        cli._print_answer(_answer(guardrails=hits))
    lines = captured.get().splitlines()

    answer = next(index for index, line in enumerate(lines) if line.startswith("A:"))
    assert [line.strip() for line in lines[answer + 1 : answer + 3]] == [
        "guardrail: pii redact (input, score 1.00) EMAIL_ADDRESS, [x]",
        "guardrail: toxicity flag (output, score 0.91)",
    ]


def test_an_answer_without_guardrail_hits_prints_no_guardrail_line() -> None:
    with cli.console.capture() as captured:
        cli._print_answer(_answer(guardrails=[]))

    assert "guardrail" not in captured.get()


class _Api:
    """The API of a running platform, as far as these commands use it: every request is answered with `status` and
    `payload`, and kept in `sent`."""

    def __init__(self) -> None:
        self.status = 200
        self.payload: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []

    def answer(self, url: str, **request: Any) -> requests.Response:
        self.sent.append({"url": url, **request})
        response = requests.Response()
        response.status_code = self.status
        response._content = jsonlib.dumps(self.payload).encode()
        return response


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> _Api:
    fake = _Api()

    @contextmanager
    def endpoints(*_: Any) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(api_url="http://api.invalid")

    monkeypatch.setattr(cli, "platform_endpoints", endpoints)
    monkeypatch.setattr(requests, "get", fake.answer)
    monkeypatch.setattr(requests, "post", fake.answer)
    return fake


STATUS_REFUSED = "query.status: Input should be 'queued', 'processing', 'indexed', 'failed' or 'deleted' [enum]"


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [(["docs", "--status", "bogus"], 422, STATUS_REFUSED), (["redrive", "--limit", "5"], 500, "Internal error")],
    ids=["docs", "redrive"],
)
def test_given_an_api_error_then_docs_and_redrive_print_its_message_on_one_line_and_exit_1_without_a_traceback(
    api: _Api, tmp_path: Path, arguments: list[str], status: int, message: str
) -> None:
    api.status, api.payload = status, {"message": message}

    result = CliRunner().invoke(cli.app, [*arguments, "--home", str(tmp_path)])

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # not the HTTPError
    assert result.stderr == f"{status}: {message}\n"
    assert result.stdout == ""


def test_given_documents_then_docs_lists_those_of_the_status_asked_for(api: _Api, tmp_path: Path) -> None:
    record = {"source_key": "documents/a.md", "status": "indexed", "chunk_count": 2, "updated_at": "2026-11-22T00:48"}
    api.payload = {"documents": [record], "next_cursor": None}

    result = CliRunner().invoke(cli.app, ["docs", "--status", "indexed", "--home", str(tmp_path)])

    assert result.exit_code == 0 and "documents/a.md" in result.stdout
    assert [request["params"] for request in api.sent] == [{"limit": "200", "status": "indexed"}]


def test_ask_sends_the_prompt_its_version_and_the_search_mode_only_when_given(api: _Api, tmp_path: Path) -> None:
    api.payload = _answer(guardrails=[])
    ask = ["ask", "Where is it?", "--home", str(tmp_path)]

    plain = CliRunner().invoke(cli.app, ask)
    chosen = CliRunner().invoke(
        cli.app, [*ask, "--prompt", "rag-terse", "--prompt-version", "staging", "--mode", "TEXT"]
    )
    numbered = CliRunner().invoke(cli.app, [*ask, "--prompt-version", "3"])
    refused = CliRunner().invoke(cli.app, [*ask, "--mode", "fuzzy"])

    assert plain.exit_code == chosen.exit_code == numbered.exit_code == 0
    assert [request["json"] for request in api.sent] == [
        {"question": "Where is it?"},
        {"question": "Where is it?", "mode": "text", "prompt": "rag-terse", "prompt_version": "staging"},
        {"question": "Where is it?", "prompt_version": "3"},
    ]
    assert refused.exit_code == 2  # not a mode: refused before the API is asked


def test_a_platform_that_cannot_start_ends_the_command_with_its_reason_on_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def port_taken(_: object) -> None:
        raise PlatformError("AWS emulator port 127.0.0.1:5188 is in use; is `llmops up` running already?")

    monkeypatch.setattr(connection, "running_platform", lambda _: None)
    monkeypatch.setattr(connection.LocalPlatform, "start", port_taken)

    with pytest.raises(typer.Exit) as exited, connection.platform_endpoints(tmp_path, 5188, 3622):
        pass

    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == "AWS emulator port 127.0.0.1:5188 is in use; is `llmops up` running already?\n"
