"""What `llmops eval` prints: a comparison readable on an 80-column terminal, errors as written."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from rich.console import Console

from llmops_local import eval_commands, terminal

MARKUP_LIKE_ERROR = "dataset row 3: input '[INST] hi [/INST]' [type=value_error]"


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Console:
    narrow = Console(width=80, color_system=None)
    monkeypatch.setattr(eval_commands, "console", narrow)
    return narrow


def _summary(candidate: int, label: str, **fields: Any) -> dict[str, Any]:
    return {
        "candidate": candidate,
        "label": label,
        "metrics": {"exact_match": 0.25, "token_f1": 0.5, "rougeL": 0.4, "bleu": 0.1, "mrr": 0.75},
        "answered_rate": 0.9,
        "latency_p50_ms": 812.5,
        "latency_p95_ms": 1500.0,
        "mean_input_tokens": 410.0,
        "mean_output_tokens": 35.0,
        "cost_per_1000_queries_usd": None,
        "judged": 0,
        "judge_parse_failures": 0,
    } | fields


def test_a_comparison_has_a_column_per_candidate_best_first_and_a_row_per_figure(console: Console) -> None:
    report = {
        "run_id": "eval-1",
        "dataset": "python-faq@1",
        "weights": {"cost": 0.5, "quality": 0.3, "speed": 0.2},
        "quality_metric": "token_f1",
        "candidates": [
            _summary(0, "rag-answer@prod hybrid"),
            _summary(1, "rag-answer@2 vector", metrics={"token_f1": 0.61}, cost_per_1000_queries_usd=0.0123),
        ],
        "ranking": [{"rank": 1, "candidate": 1, "score": 0.9}, {"rank": 2, "candidate": 0, "score": 0.4}],
        "notes": ["the judge's reply could not be parsed for 2 item(s) [sic]"],
    }

    with console.capture() as captured:
        eval_commands.print_report(report)
    lines = captured.get().splitlines()

    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "#1" in line)
    assert header.index("#1 rag-answer@2 vector") < header.index("#2 rag-answer@prod hybrid")
    rows = {line.split("│")[1].strip(): line.split("│")[2:4] for line in lines if line.startswith("│")}
    assert [cell.strip() for cell in rows["score"]] == ["0.900", "0.400"]
    assert [cell.strip() for cell in rows["token_f1"]] == ["0.610", "0.500"]
    assert [cell.strip() for cell in rows["exact_match"]] == ["", "0.250"]  # not computed for that candidate
    assert [cell.strip() for cell in rows["$ per 1k queries"]] == ["0.0123", "unpriced"]
    assert "judge unparsed" in rows  # shown for every run, empty where nothing was judged
    assert "note: the judge's reply could not be parsed for 2 item(s) [sic]" in captured.get()


def test_an_error_quoting_brackets_ends_the_command_as_written_on_one_stderr_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = MARKUP_LIKE_ERROR + " and on, long enough to wrap at 80 columns" * 3
    with pytest.raises(typer.Exit) as exited:
        terminal.fail(message)

    assert exited.value.exit_code == 1
    assert capsys.readouterr() == ("", message + "\n")


EVERY_METRIC = (
    "exact_match", "token_f1", "rouge1", "rouge2", "rougeL", "bleu", "chrf", "meteor",
    "recall_at_k", "mrr", "ndcg_at_k",
)  # fmt: skip


def _item(item: int, **fields: Any) -> dict[str, Any]:
    return {
        "candidate": 0, "item": item, "question": "How do I [bold]format[/bold] a string?", "answer": None,
        "abstention": None, "error": None, "latency_ms": 812.4, "metrics": {}, "judge": None,
    } | fields  # fmt: skip


def test_results_print_each_items_figures_with_its_question_and_answer_whole_underneath(console: Console) -> None:
    long_answer = "Use an f-string such as f'{value:.2f}' [1]. " * 6
    items = [
        _item(0, answer=long_answer, metrics={"token_f1": 0.4219, "mrr": 1.0},
              judge={"parsed": True, "scores": {"overall": 7.0}}),
        _item(1, abstention="not_supported", answer="I don't know.", judge={"parsed": False, "scores": {}}),
        _item(2, error="model timed out", latency_ms=None),
        _item(3, candidate=1, question="x" * 1000),
        _item(4, metrics=dict.fromkeys(EVERY_METRIC, 0.5)),
    ]  # fmt: skip

    with console.capture() as captured:
        eval_commands.print_results(items, {0: "rag-answer@prod hybrid"})
    output = captured.get()
    lines = output.splitlines()

    assert all(len(line) <= 80 for line in lines)
    assert lines[0] == "#0 · rag-answer@prod hybrid · token_f1 0.42 · mrr 1.00 · judge 7.0 · 812 ms"
    assert lines[1] == "  Q How do I [bold]format[/bold] a string?"  # the user's text, not markup
    answer_lines = lines[2 : lines.index(next(line for line in lines if line.startswith("#1")))]
    assert " ".join(line.strip() for line in answer_lines) == "A " + " ".join(long_answer.split())
    assert "#1 · rag-answer@prod hybrid · judge unparsed · 812 ms" in lines
    assert "  A declined (not_supported)" in lines
    assert "#2 · rag-answer@prod hybrid" in lines  # no latency, no metrics: nothing made up
    assert "  A error: model timed out" in lines
    assert "#3 · candidate 1 · 812 ms" in lines  # a candidate without a label in the report
    many = lines[lines.index(next(line for line in lines if line.startswith("#4"))) :][:3]
    assert [figure.strip() for line in many for figure in line.split(" · ")][-3:] == [
        "mrr 0.50",
        "ndcg_at_k 0.50",
        "812 ms",
    ]  # wrapped between figures, never inside one
    assert output.count("x") < 450 and "…" in output  # a very long text is cut, and shown to be
