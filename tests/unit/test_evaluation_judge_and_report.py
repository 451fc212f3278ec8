"""The judge's reply parser, datasets' line-numbered validation, pricing, and the report's ranking and HTML."""

from __future__ import annotations

import pytest

from llmops.domain.errors import DeploymentMisconfigured
from llmops.domain.evaluation.datasets import parse_jsonl, parse_rows
from llmops.domain.evaluation.errors import InvalidDataset, InvalidEvaluation
from llmops.domain.evaluation.judge import parse_verdict
from llmops.domain.evaluation.pricing import PriceTable
from llmops.domain.evaluation.report import ItemOutcome, build_report, parse_weights, render_html, summarize


def test_a_json_reply_is_parsed_with_its_rationale_and_an_overall_mean() -> None:
    reply = 'Sure! {"helpfulness": 7, "relevance": "8", "accuracy": 6, "level of detail": 5, "rationale": "Close."}'

    verdict = parse_verdict(reply)

    assert verdict.parsed and verdict.parse_method == "json"
    assert verdict.scores == {"helpfulness": 7, "relevance": 8, "accuracy": 6, "level_of_detail": 5, "overall": 6.5}
    assert verdict.rationale == "Close."


def test_criterion_lines_and_lone_scores_are_understood() -> None:
    lines = parse_verdict("Helpfulness: 8/10\n**Relevance**: 9\nAccuracy - 7\nLevel of detail: 6\nReason: fine")
    lone = parse_verdict("The answer is partly right. Score: 4")
    bracketed = parse_verdict("Rating: [[9]]")

    assert lines.parse_method == "criteria" and lines.scores["relevance"] == 9 and lines.scores["overall"] == 7.5
    assert lines.rationale == "fine"
    assert (lone.parse_method, lone.scores) == ("overall", {"overall": 4.0})
    assert bracketed.scores == {"overall": 9.0}


@pytest.mark.parametrize("reply", ["", "I think it is good.", '{"helpfulness": 42}', "Score: eleven"])
def test_replies_without_a_rating_in_range_are_parse_failures_with_the_raw_reply(reply: str) -> None:
    verdict = parse_verdict(reply)

    assert not verdict.parsed and verdict.scores == {} and verdict.raw == reply


def test_invalid_rows_are_reported_by_line_number() -> None:
    text = '{"input": "What is Python?", "reference": "A language."}\n\nnot json\n{"reference": "x"}\n{"input": ""}\n'

    with pytest.raises(InvalidDataset) as raised:
        parse_jsonl(text)

    lines = [line for line, _ in raised.value.problems]
    assert lines == [3, 4, 5]
    assert "not JSON" in raised.value.problems[0][1] and "input" in raised.value.problems[1][1]


def test_rows_take_prompt_variables_sources_and_tags() -> None:
    rows = parse_rows([{"input": {"question": "Q?", "tone": "terse"}, "expected_sources": ["a.html"], "tags": ["t"]}])

    assert rows[0].question == "Q?" and rows[0].expected_sources == ["a.html"]
    with pytest.raises(InvalidDataset) as raised:
        parse_rows([{"id": "x", "input": "a"}, {"id": "x", "input": "b"}])
    assert raised.value.problems == [(0, "id 'x' is used by 2 rows")]


def test_costs_per_token_per_instance_hour_and_local() -> None:
    prices = PriceTable.from_json('{"sagemaker:tgi": {"instance_type": "ml.g5.xlarge"}}')

    haiku = prices.cost("bedrock:anthropic.claude-3-haiku-20240307-v1:0", 1000, 1000, 500)
    assert haiku == pytest.approx(0.00025 + 0.00125)
    assert prices.cost("sagemaker:tgi", 10, 10, 3_600_000) == pytest.approx(1.006)
    assert prices.cost("local:SmolLM2", 500, 50, 2000) == 0.0
    assert prices.cost("bedrock:unknown-model", 1, 1, 1) is None
    with pytest.raises(DeploymentMisconfigured, match="EVALUATION_PRICES is not a valid price table"):
        PriceTable.from_json('{"sagemaker:x": {"instance_type": "ml.nope"}}')


def _outcomes(candidate: int, f1: float, latency: float, cost: float | None) -> list[ItemOutcome]:
    return [
        ItemOutcome(candidate=candidate, metrics={"token_f1": f1}, latency_ms=latency + i, input_tokens=100,
                    output_tokens=20, cost_usd=cost, grounded=i != 0, judge_parsed=i != 1)
        for i in range(4)
    ]  # fmt: skip


def test_the_summary_has_means_percentiles_cost_per_1000_and_judge_failures() -> None:
    summary = summarize(0, "cheap", _outcomes(0, 0.5, 1000, 0.002))

    assert summary.metrics == {"token_f1": 0.5}
    assert summary.latency_p50_ms == 1001.5 and summary.latency_p95_ms == pytest.approx(1002.9)
    assert summary.cost_per_1000_queries_usd == pytest.approx(2.0)
    assert summary.answered_rate == 0.75 and (summary.judged, summary.judge_parse_failures) == (4, 1)
    assert summarize(1, "unpriced", _outcomes(1, 0.5, 1000, None)).cost_per_1000_queries_usd is None


def test_the_ranking_follows_the_weights() -> None:
    cheap_slow_weak = summarize(0, "cheap", _outcomes(0, 0.4, 3000, 0.001))
    dear_fast_strong = summarize(1, "dear", _outcomes(1, 0.8, 1000, 0.010))

    by_cost = build_report("r", "d@1", [cheap_slow_weak, dear_fast_strong])  # default: cost first
    by_quality = build_report("r", "d@1", [cheap_slow_weak, dear_fast_strong], parse_weights("quality=1"))

    assert [c.label for c in by_cost.ranking] == ["cheap", "dear"]
    assert by_cost.ranking[0].score == pytest.approx(0.5) and by_cost.ranking[1].score == pytest.approx(0.5)
    assert [c.label for c in by_quality.ranking] == ["dear", "cheap"]
    assert by_quality.ranking[0].parts == {"cost": 0.0, "quality": 1.0, "speed": 1.0}
    assert any("could not be parsed for 2 item(s)" in note for note in by_cost.notes)
    with pytest.raises(InvalidEvaluation):
        parse_weights("price=1")


def test_the_html_report_is_self_contained_with_an_inline_svg_chart() -> None:
    report = build_report("run<1>", "d@1", [summarize(0, "a <b>", _outcomes(0, 0.5, 900, 0.0))])

    page = render_html(report)

    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "a &lt;b&gt;" in page and "run&lt;1&gt;" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
