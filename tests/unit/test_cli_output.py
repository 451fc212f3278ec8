"""What `llmops ask` prints: the users' own text as it is, brackets included."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from llmops_local import cli


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
