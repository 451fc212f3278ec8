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

from llmops.domain.models import document_id_for
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
    records: list[dict[str, Any]] = [
        {
            "document_id": document_id_for("bucket", key),
            "source_key": key,
            "status": "failed",
            "size_bytes": 9,
            "updated_at": "2026-11-22T00:49:12.5+00:00",
            "reason": reason,
        },
        {
            "document_id": document_id_for("bucket", "documents/refunds.md"),
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
    # No room for an id column: each id is listed whole under the table, on a line of its own with its key.
    table_end = next(index for index, line in enumerate(lines) if line.startswith("└"))
    listed = [line.rstrip() for line in lines[table_end + 1 : table_end + 5]]
    assert any(line.startswith(records[0]["document_id"] + "  documents/[draft]/") for line in listed), listed
    assert any(line == records[1]["document_id"] + "  documents/refunds.md" for line in listed), listed
    reason_start = next(index for index, line in enumerate(lines) if line.startswith(key[:40]))
    assert " ".join(lines[reason_start:]).split() == reason.split()  # the key once, then the reason, as written


def test_given_a_wide_terminal_then_docs_shows_each_documents_id_beside_its_key(monkeypatch: Any) -> None:
    keys = ["documents/refunds.md", "documents/hr/leave-policy-2026.md"]
    records = [
        {"document_id": document_id_for("bucket", key), "source_key": key, "status": "indexed", "updated_at": "2026"}
        for key in keys
    ]
    wide = Console(width=140, color_system=None)
    monkeypatch.setattr(cli, "console", wide)

    with wide.capture() as captured:
        cli._print_documents(records)
    lines = captured.get().splitlines()

    assert "id" in lines[1].split()  # a column of its own
    for record in records:
        assert any(record["source_key"] in line and record["document_id"] in line for line in lines), lines


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
    record = {
        "document_id": "a1",
        "source_key": "documents/a.md",
        "status": "indexed",
        "chunk_count": 2,
        "updated_at": "2026-11-22T00:48",
    }
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


def test_ask_sends_filters_only_when_given_each_tag_and_document_id_as_repeated(api: _Api, tmp_path: Path) -> None:
    api.payload = _answer(guardrails=[])
    ask = ["ask", "Where is it?", "--home", str(tmp_path)]

    filtered = CliRunner().invoke(
        cli.app, [*ask, "--prefix", "documents/hr/", "--tag", "HR", "--tag", "policy", "--document-id", "d1"]
    )
    tagged = CliRunner().invoke(cli.app, [*ask, "--tag", "hr"])

    assert filtered.exit_code == tagged.exit_code == 0, filtered.output + tagged.output
    assert [request["json"] for request in api.sent] == [
        {
            "question": "Where is it?",
            # As given: the API normalises tags and refuses invalid ones, as for any client.
            "filters": {"prefix": "documents/hr/", "tags": ["HR", "policy"], "document_ids": ["d1"]},
        },
        {"question": "Where is it?", "filters": {"tags": ["hr"]}},
    ]


def _hit(rank: int, text: str, **chunk: Any) -> dict[str, Any]:
    return {
        "chunk": {
            "document_id": f"{rank:032x}",
            "source_key": f"documents/doc{rank}.md",
            "version": "v1",
            "title": f"doc{rank}",
            "position": rank,
            "page": None,
            "section": None,
            "text": text,
            "tags": [],
        }
        | chunk,
        "score": 0.5 + rank / 100,
        "text_score": None,
        "fused_score": None,
    }


def test_search_sends_only_the_options_given(api: _Api, tmp_path: Path) -> None:
    api.payload = {"results": []}
    search = ["search", "coolant pumps", "--home", str(tmp_path)]

    plain = CliRunner().invoke(cli.app, search)
    chosen = CliRunner().invoke(
        cli.app,
        [
            *search,
            *("--top-k", "3", "--mode", "HYBRID", "--vector-weight", "1", "--text-weight", "0.25"),
            *("--prefix", "documents/hr/", "--tag", "hr", "--tag", "policy", "--document-id", "d1"),
        ],
    )

    assert plain.exit_code == chosen.exit_code == 0, plain.output + chosen.output
    assert [(request["url"], request["json"]) for request in api.sent] == [
        ("http://api.invalid/search", {"query": "coolant pumps"}),
        (
            "http://api.invalid/search",
            {
                "query": "coolant pumps",
                "top_k": 3,
                "mode": "hybrid",
                "vector_weight": 1.0,
                "text_weight": 0.25,
                "filters": {"prefix": "documents/hr/", "tags": ["hr", "policy"], "document_ids": ["d1"]},
            },
        ),
    ]


def test_search_prints_each_chunk_ranked_with_its_scores_source_and_an_excerpt_as_written(
    api: _Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_text = "Coolant pumps circulate fluid.\n\n" + "The [red] pump [/INST] " * 40
    first = _hit(1, "Fault code ZX-7734 means the coolant pump has stalled.", page=3, section="Faults > Pumps")
    first |= {"text_score": 4.2, "fused_score": 0.93}
    second = _hit(2, long_text, tags=["hr", "policy"])
    api.payload = {"results": [first, second]}
    monkeypatch.setattr(cli, "console", Console(width=100, color_system=None))

    result = CliRunner().invoke(cli.app, ["search", "coolant", "--home", str(tmp_path)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1. documents/doc1.md") and "chunk 1, page 3, Faults > Pumps" in lines[0]
    assert "score 0.51" in lines[1] and "text_score 4.20" in lines[1] and "fused_score 0.93" in lines[1]
    assert f"id {1:032x}" in lines[1]
    assert lines[2].strip() == "Fault code ZX-7734 means the coolant pump has stalled."
    second_at = next(index for index, line in enumerate(lines) if line.startswith("2. documents/doc2.md"))
    assert "tags hr, policy" in lines[second_at + 1] and "text_score" not in lines[second_at + 1]
    excerpt = " ".join(line.strip() for line in lines[second_at + 2 :]).strip()
    # One paragraph, brackets as written, cut short at a word with an ellipsis.
    assert excerpt.startswith("Coolant pumps circulate fluid. The [red] pump [/INST] The [red] pump")
    assert excerpt.endswith("…") and len(excerpt) < len(long_text) / 2


def test_given_no_match_then_search_says_so_and_succeeds(api: _Api, tmp_path: Path) -> None:
    api.payload = {"results": []}

    result = CliRunner().invoke(cli.app, ["search", "coolant", "--tag", "hr", "--home", str(tmp_path)])

    assert result.exit_code == 0
    assert "No chunks found for 'coolant' with these filters." in result.stdout


def test_given_an_api_error_then_search_prints_its_message_on_one_line_and_exits_1(api: _Api, tmp_path: Path) -> None:
    message = "body.text_weight: a fusion weight applies to hybrid search only; this search is text: leave it out"
    api.status, api.payload = 422, {"message": message, "detail": []}

    result = CliRunner().invoke(
        cli.app, ["search", "coolant", "--mode", "text", "--text-weight", "2", "--home", str(tmp_path)]
    )

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr == f"422: {message}\n"
    assert result.stdout == ""


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
