"""The comparison report: per candidate every quality metric, latency percentiles, tokens and cost per 1,000 queries,
and a weighted ranking; as JSON and as one self-contained HTML page (inline SVG, no scripts, nothing fetched)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from statistics import fmean

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llmops.domain.evaluation import metrics as m
from llmops.domain.evaluation.errors import InvalidEvaluation
from llmops.domain.evaluation.judge import CRITERIA

# Cost first, then answer quality ("precision"), then speed.
DEFAULT_WEIGHTS: dict[str, float] = {"cost": 0.5, "quality": 0.3, "speed": 0.2}
DEFAULT_QUALITY_METRIC = "token_f1"


class ItemOutcome(BaseModel):
    """What the report reads of one item's result."""

    model_config = ConfigDict(frozen=True)

    candidate: int
    metrics: dict[str, float | None] = Field(default_factory=dict)
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    grounded: bool = False
    error: str | None = None
    judge_parsed: bool | None = Field(default=None, description="None when the item was not judged.")


class CandidateSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidate: int
    label: str
    items: int
    errors: int
    answered_rate: float = Field(description="Share of items answered from the documents (not declined).")
    metrics: dict[str, float] = Field(description="Mean of each metric over the items it was computed for.")
    metric_counts: dict[str, int] = Field(default_factory=dict)
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    mean_input_tokens: float
    mean_output_tokens: float
    cost_per_1000_queries_usd: float | None = Field(description="None when the model has no price.")
    judged: int = 0
    judge_parse_failures: int = 0


class RankedCandidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    rank: int
    candidate: int
    label: str
    score: float
    parts: dict[str, float] = Field(description="Each criterion's normalised score, 0 (worst) to 1 (best).")


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    dataset: str
    weights: dict[str, float]
    quality_metric: str
    candidates: list[CandidateSummary]
    ranking: list[RankedCandidate]
    notes: list[str] = Field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarize(candidate: int, label: str, outcomes: Sequence[ItemOutcome]) -> CandidateSummary:
    done = [o for o in outcomes if o.error is None]
    names = sorted({name for o in done for name, value in o.metrics.items() if value is not None})
    values = {name: [v for o in done if (v := o.metrics.get(name)) is not None] for name in names}
    latencies = [o.latency_ms for o in done if o.latency_ms is not None]
    costs = [o.cost_usd for o in done]
    priced = bool(done) and all(cost is not None for cost in costs)
    return CandidateSummary(
        candidate=candidate,
        label=label,
        items=len(outcomes),
        errors=len(outcomes) - len(done),
        answered_rate=round(sum(o.grounded for o in done) / len(done), 4) if done else 0.0,
        metrics={name: round(fmean(vals), 4) for name, vals in values.items()},
        metric_counts={name: len(vals) for name, vals in values.items()},
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        mean_input_tokens=round(fmean([o.input_tokens for o in done]), 1) if done else 0.0,
        mean_output_tokens=round(fmean([o.output_tokens for o in done]), 1) if done else 0.0,
        cost_per_1000_queries_usd=round(fmean([c or 0.0 for c in costs]) * 1000, 6) if priced else None,
        judged=sum(1 for o in done if o.judge_parsed is not None),
        judge_parse_failures=sum(1 for o in done if o.judge_parsed is False),
    )


MAX_WEIGHT = 1_000_000
QUALITY_METRICS = (
    *m.ANSWER_METRICS,
    m.BERTSCORE,
    *m.RETRIEVAL_METRICS,
    *(f"judge_{name}" for name in (*CRITERIA, "overall")),
)


def check_quality_metric(name: str) -> str:
    """A misspelt metric would rank on cost and speed alone, with only a note to say so."""
    if name not in QUALITY_METRICS:
        raise InvalidEvaluation(f"unknown quality metric {name!r}: use one of {', '.join(QUALITY_METRICS)}")
    return name


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise InvalidEvaluation(f"unknown ranking criteria {', '.join(unknown)}: use cost, quality and speed")
    if not all(math.isfinite(value) and value <= MAX_WEIGHT for value in weights.values()):
        # Weights are relative; unbounded ones summed to infinity and ranked every candidate NaN.
        raise InvalidEvaluation(f"ranking weights must be finite numbers up to {MAX_WEIGHT:,}")
    if any(value < 0 for value in weights.values()) or not any(value > 0 for value in weights.values()):
        raise InvalidEvaluation("ranking weights must be zero or more, and at least one more than zero")
    return {name: float(weights.get(name, 0.0)) for name in DEFAULT_WEIGHTS}


def parse_weights(text: str) -> dict[str, float]:
    """`cost=0.5,quality=0.3,speed=0.2`"""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError as error:
            raise InvalidEvaluation(f"weight {part!r} is not name=number") from error
    return check_weights(weights)


def _normalised(values: Sequence[float | None], higher_is_better: bool) -> list[float]:
    """Min-max across candidates, 1 for the best; all equal (or one candidate): 1 each; missing: 0."""
    known = [v for v in values if v is not None]
    if not known:
        return [0.0 for _ in values]
    low, high = min(known), max(known)
    if high == low:
        return [1.0 if v is not None else 0.0 for v in values]
    return [
        0.0 if v is None else ((v - low) if higher_is_better else (high - v)) / (high - low) for v in values
    ]  # fmt: skip


def rank(
    summaries: Sequence[CandidateSummary], weights: Mapping[str, float], quality_metric: str
) -> list[RankedCandidate]:
    """Weighted sum of normalised cost (per 1,000 queries), quality (the chosen metric's mean) and speed (p50)."""
    weights = check_weights(weights)
    parts = {
        "cost": _normalised([s.cost_per_1000_queries_usd for s in summaries], higher_is_better=False),
        "quality": _normalised([s.metrics.get(quality_metric) for s in summaries], higher_is_better=True),
        "speed": _normalised([s.latency_p50_ms for s in summaries], higher_is_better=False),
    }
    total = sum(weights.values())
    scored = [
        (sum(weights[name] * parts[name][i] for name in weights) / total, i, summary)
        for i, summary in enumerate(summaries)
    ]
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    return [
        RankedCandidate(
            rank=position,
            candidate=summary.candidate,
            label=summary.label,
            score=round(score, 4),
            parts={name: round(parts[name][i], 4) for name in parts},
        )
        for position, (score, i, summary) in enumerate(scored, start=1)
    ]


def build_report(
    run_id: str,
    dataset: str,
    summaries: Sequence[CandidateSummary],
    weights: Mapping[str, float] | None = None,
    quality_metric: str = DEFAULT_QUALITY_METRIC,
    notes: Sequence[str] = (),
) -> Report:
    weights = check_weights(weights or DEFAULT_WEIGHTS)
    report_notes = list(notes)
    if summaries and all(quality_metric not in s.metrics for s in summaries):
        report_notes.append(f"no candidate has {quality_metric}: quality counts for nothing in the ranking")
    failures = sum(s.judge_parse_failures for s in summaries)
    if failures:
        report_notes.append(f"the judge's reply could not be parsed for {failures} item(s); they have no judge score")
    return Report(
        run_id=run_id,
        dataset=dataset,
        weights=weights,
        quality_metric=quality_metric,
        candidates=list(summaries),
        ranking=rank(summaries, weights, quality_metric),
        notes=report_notes,
    )


def metric_names(report: Report) -> list[str]:
    preferred = list(QUALITY_METRICS)
    present = {name for s in report.candidates for name in s.metrics}
    return [n for n in preferred if n in present] + sorted(present - set(preferred))


def _bar_chart(report: Report) -> str:
    """Horizontal bars: each candidate's weighted score and its quality metric, 0 to 1."""
    by_candidate = {s.candidate: s for s in report.candidates}
    row, label_width, bar_width = 26, 260, 360
    height = row * 2 * len(report.ranking) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 80}" height="{height}" '
        'role="img" aria-label="Weighted score and quality per candidate">'
    ]
    y = 10
    for ranked in report.ranking:
        quality = by_candidate[ranked.candidate].metrics.get(report.quality_metric)
        for kind, value, colour in (
            ("score", ranked.score, "#2b6cb0"),
            (report.quality_metric, quality, "#38a169"),
        ):
            width = 0 if value is None else max(0.0, min(1.0, value)) * bar_width
            shown = "n/a" if value is None else f"{value:.3f}"
            name = f"#{ranked.rank} {ranked.label}" if kind == "score" else f"   {kind}"
            parts.append(
                f'<text x="0" y="{y + 15}" font-size="12">{html.escape(name[:40])}</text>'
                f'<rect x="{label_width}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" fill="{colour}"/>'
                f'<text x="{label_width + width + 4:.1f}" y="{y + 15}" font-size="12">{shown}</text>'
            )
            y += row
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report) -> str:
    names = metric_names(report)
    columns = ["rank", "candidate", "score", *names, "answered", "p50 ms", "p95 ms", "tokens in/out", "$ / 1k queries"]
    columns += ["errors", "judge parse failures"]
    by_candidate = {s.candidate: s for s in report.candidates}
    rows = []
    for ranked in report.ranking:
        s = by_candidate[ranked.candidate]
        cost = "unpriced" if s.cost_per_1000_queries_usd is None else f"{s.cost_per_1000_queries_usd:.4f}"
        cells = [str(ranked.rank), html.escape(s.label), f"{ranked.score:.3f}"]
        cells += [f"{s.metrics[n]:.3f}" if n in s.metrics else "" for n in names]
        cells += [f"{s.answered_rate:.0%}", f"{s.latency_p50_ms}", f"{s.latency_p95_ms}"]
        cells += [f"{s.mean_input_tokens:.0f}/{s.mean_output_tokens:.0f}", cost, str(s.errors)]
        cells += [f"{s.judge_parse_failures}/{s.judged}" if s.judged else ""]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    weights = ", ".join(f"{name} {value:g}" for name, value in report.weights.items())
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in report.notes)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Evaluation {html.escape(report.run_id)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2){text-align:left}"
        "th{background:#f4f4f4}</style></head><body>"
        f"<h1>Evaluation {html.escape(report.run_id)}</h1>"
        f"<p>Dataset <b>{html.escape(report.dataset)}</b>. Ranking weights: {html.escape(weights)}; quality metric: "
        f"<b>{html.escape(report.quality_metric)}</b>. Each criterion is normalised across candidates, 1 for the best."
        "</p>"
        f"{_bar_chart(report)}"
        "<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>" + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "") +
        "</body></html>"
    )  # fmt: skip
