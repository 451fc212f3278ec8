"""What `llmops ask` prints: the users' own text as it is, brackets included."""

from __future__ import annotations

from typing import Any

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
