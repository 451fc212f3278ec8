"""Evaluation runs: candidates (prompt version × retrieval settings × model) answer every row of a dataset version;
each answer is scored (reference metrics, retrieval metrics, an LLM judge) and the run ends with a comparison report.

A run is a Step Functions execution (statemachines/evaluation.asl.json): `plan` lists the work, one task per
candidate and row answers and scores (`evaluate_item`, retried on failure), `finalize` aggregates and writes the
report; `fail` marks the run failed when anything else does.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.domain.errors import DeploymentMisconfigured, InvalidPrompt, InvalidQuestion, PromptNotFound, about
from llmops.domain.evaluation import metrics as m
from llmops.domain.evaluation.datasets import DatasetCatalog, DatasetRow, DatasetVersion, parse_dataset_ref
from llmops.domain.evaluation.errors import EvaluationNotFound, InvalidEvaluation
from llmops.domain.evaluation.judge import Judge, JudgeVerdict
from llmops.domain.evaluation.pricing import PriceTable
from llmops.domain.evaluation.report import (
    DEFAULT_QUALITY_METRIC,
    DEFAULT_WEIGHTS,
    ItemOutcome,
    Report,
    build_report,
    check_quality_metric,
    check_weights,
    render_html,
    summarize,
)
from llmops.domain.models import Answer, ScoredChunk, SearchMode
from llmops.domain.prompts import PromptVersion, VersionRef, answer_prompt_problem
from llmops.ports import BlobStore, EvaluationRepository, Workflow

logger = logging.getLogger(__name__)
MAX_CANDIDATES = 10
MAX_ITEMS_PER_RUN = 5_000


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Candidate(BaseModel):
    """One configuration to evaluate: a catalog prompt (`name@ref`), retrieval settings and a model target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(default="rag-answer@prod", max_length=140)
    mode: SearchMode | None = Field(default=None, description="Retrieval mode; None: the platform's setting.")
    top_k: int | None = Field(default=None, ge=1, le=50)
    model: str | None = Field(default=None, max_length=256, description="Model id; None: the configured model.")
    label: str | None = Field(default=None, max_length=120)

    @field_validator("prompt")
    @classmethod
    def _name_at_ref(cls, value: str) -> str:
        name, _, ref = value.partition("@")
        if not name or not ref:
            raise ValueError("prompt must be name@version or name@alias, e.g. rag-answer@prod")
        return value

    @property
    def prompt_name(self) -> str:
        return self.prompt.partition("@")[0]

    @property
    def prompt_ref(self) -> VersionRef:
        return self.prompt.partition("@")[2]  # the catalog reads a number or an alias from it (parse_ref)

    def name(self) -> str:
        if self.label:
            return self.label
        parts = [self.prompt]
        if self.mode:
            parts.append(self.mode.value)
        if self.top_k:
            parts.append(f"k={self.top_k}")
        if self.model:
            parts.append(self.model)
        return " ".join(parts)


class RunOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    judge: bool = Field(default=True, description="Rate every answer with the judge prompt and model.")
    bertscore: bool = Field(default=False, description="BERTScore F1 (local mode only: it needs torch).")
    limit: int | None = Field(default=None, ge=1, description="Only the first N rows of the dataset.")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    quality_metric: str = DEFAULT_QUALITY_METRIC


class EvaluationRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(description="name (its latest version) or name@N.", max_length=80)
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    options: RunOptions = Field(default_factory=RunOptions)


class EvaluationRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    dataset: DatasetVersion
    candidates: list[Candidate]
    options: RunOptions
    item_count: int
    status: RunStatus
    created_at: str
    finished_at: str | None = None
    execution_id: str | None = None
    error: str | None = None
    report: Report | None = None
    report_key: str | None = None
    html_report_key: str | None = None
    duration_s: float | None = None


class ItemResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    candidate: int
    item: int
    row_id: str | None = None
    question: str
    answer: str | None = None
    reference: str | None = None
    grounded: bool = False
    abstention: str | None = None
    prompt_id: str | None = None
    model_id: str | None = None
    latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    retrieved_sources: list[str] = Field(default_factory=list)
    metrics: dict[str, float | None] = Field(default_factory=dict)
    metric_ms: float | None = Field(default=None, description="Time spent computing the reference metrics.")
    judge: JudgeVerdict | None = None
    error: str | None = Field(default=None, description="Why the item could not be answered (not retried).")

    def outcome(self) -> ItemOutcome:
        return ItemOutcome(
            candidate=self.candidate,
            metrics=self.metrics,
            latency_ms=self.latency_ms,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.cost_usd,
            grounded=self.grounded,
            error=self.error,
            judge_parsed=None if self.judge is None else self.judge.parsed,
        )


class CandidateAnswerer(Protocol):
    """Answers a question as a candidate says (prompt, retrieval, model), and retrieves as it would."""

    def answer(self, candidate: Candidate, question: str) -> Answer: ...

    def retrieve(self, candidate: Candidate, question: str) -> list[ScoredChunk]: ...

    def check(self, candidate: Candidate) -> None:
        """Raise InvalidEvaluation when the candidate's model cannot be used here."""
        ...

    def top_k(self, candidate: Candidate) -> int: ...


class PromptResolver(Protocol):
    def resolve(self, name: str, ref: VersionRef = ...) -> PromptVersion: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class EvaluationService:
    def __init__(
        self,
        repository: EvaluationRepository,
        blobs: BlobStore,
        datasets: DatasetCatalog,
        workflow: Workflow | None,
        answerer: CandidateAnswerer,
        prompts: PromptResolver,
        judge: Callable[[], Judge] | None,
        prices: Callable[[], PriceTable],
        reports_prefix: str = "reports/",
        judge_prompt: str = "judge-answer@prod",
    ) -> None:
        self._repository = repository
        self._blobs = blobs
        self._datasets = datasets
        self._workflow = workflow
        self._answerer = answerer
        self._prompts = prompts
        self._judge = judge
        # Read where prices are needed (a run's start and each item), so that a price table the deployment's
        # settings cannot give (DeploymentMisconfigured) fails only those, not datasets and reports.
        self._prices = prices
        self._reports_prefix = reports_prefix
        self._judge_prompt = judge_prompt
        self._rows: dict[str, list[DatasetRow]] = {}

    @property
    def datasets(self) -> DatasetCatalog:
        return self._datasets

    # --- starting and reading runs -------------------------------------------------------------------------------

    def start(self, request: EvaluationRequest) -> EvaluationRun:
        self._prices()  # every answer is priced: a run that cannot be is not started
        with about("dataset"):
            name, version = parse_dataset_ref(request.dataset)
        dataset = self._datasets.get(name, version)
        self._check(request)
        items = min(dataset.row_count, request.options.limit or dataset.row_count)
        if items * len(request.candidates) > MAX_ITEMS_PER_RUN:
            raise InvalidEvaluation(  # the dataset, the limit and the candidates together: the request as a whole
                f"{items} rows × {len(request.candidates)} candidates is over {MAX_ITEMS_PER_RUN}", field=()
            )
        run = EvaluationRun(
            run_id=f"eval-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}",
            dataset=dataset,
            candidates=request.candidates,
            options=request.options,
            item_count=items,
            status=RunStatus.PENDING,
            created_at=_now(),
        )
        if self._workflow is None:
            raise DeploymentMisconfigured("no evaluation workflow is configured (EVALUATION_STATE_MACHINE_ARN)")
        self._repository.put_run(run)
        try:
            execution = self._workflow.start({"run_id": run.run_id}, name=run.run_id)
        except Exception as error:  # the run is on record: it must not stay pending for ever
            self.fail(run.run_id, f"the evaluation workflow could not start: {error}")
            raise
        run = run.model_copy(update={"execution_id": execution})
        self._repository.put_run(run)
        return run

    def _check(self, request: EvaluationRequest) -> None:
        for number, candidate in enumerate(request.candidates):
            prompt = ("candidates", number, "prompt")
            try:
                version = self._prompts.resolve(candidate.prompt_name, candidate.prompt_ref)
            except (PromptNotFound, InvalidPrompt) as error:
                raise InvalidEvaluation(f"candidate {candidate.name()}: {error}", field=prompt) from error
            problem = answer_prompt_problem(version)
            if problem:
                raise InvalidEvaluation(f"candidate {candidate.name()}: {problem}", field=prompt)
            with about("candidates", number, "model"):
                self._answerer.check(candidate)
        options = request.options
        with about("options", "weights"):
            check_weights(options.weights)
        with about("options", "quality_metric"):
            check_quality_metric(options.quality_metric)
        if options.bertscore and not m.bertscore_available():
            raise InvalidEvaluation(
                "BERTScore needs the bert-score package and torch: it is a local-mode metric",
                field=("options", "bertscore"),
            )
        # No judge, or no judge prompt, is the deployment's; the request's way round it is `judge: false`.
        if options.judge and self._judge is None:
            raise InvalidEvaluation("no judge is configured", field=("options", "judge"))
        if options.judge:
            name, _, ref = self._judge_prompt.partition("@")
            try:
                self._prompts.resolve(name, ref or "prod")
            except (PromptNotFound, InvalidPrompt) as error:
                raise InvalidEvaluation(
                    f"the judge prompt {self._judge_prompt}: {error}", field=("options", "judge")
                ) from error
        labels = [c.name() for c in request.candidates]
        if len(set(labels)) != len(labels):
            raise InvalidEvaluation(
                "two candidates are the same; give them different settings or labels", field=("candidates",)
            )

    def get(self, run_id: str) -> EvaluationRun:
        run = self._repository.get_run(run_id)
        if run is None:
            raise EvaluationNotFound(f"no evaluation {run_id}")
        return run

    def results(self, run_id: str) -> list[ItemResult]:
        self.get(run_id)
        return sorted(self._repository.item_results(run_id), key=lambda r: (r.candidate, r.item))

    def report(self, run_id: str, weights: dict[str, float] | None = None, quality_metric: str | None = None) -> Report:
        """The run's report; with other weights or quality metric, re-ranked from the stored results."""
        run = self.get(run_id)
        if run.report is None:
            raise EvaluationNotFound(f"evaluation {run_id} has no report yet (status {run.status})")
        if weights is None and quality_metric is None:
            return run.report
        with about("quality_metric"):
            metric = check_quality_metric(quality_metric) if quality_metric else run.report.quality_metric
        return build_report(
            run.run_id,
            run.dataset.dataset_id,
            run.report.candidates,
            weights or run.report.weights,
            metric,
            [note for note in run.report.notes if not note.startswith(("no candidate has", "the judge's reply"))],
        )

    # --- the workflow's tasks --------------------------------------------------------------------------------------

    def plan(self, run_id: str) -> dict[str, Any]:
        run = self.get(run_id)
        self._repository.put_run(run.model_copy(update={"status": RunStatus.RUNNING}))
        items = list(range(run.item_count))
        return {
            "run_id": run_id,
            "candidates": [{"run_id": run_id, "candidate": i, "items": items} for i in range(len(run.candidates))],
        }

    def _dataset_rows(self, dataset: DatasetVersion) -> list[DatasetRow]:
        if dataset.dataset_id not in self._rows:
            self._rows[dataset.dataset_id] = self._datasets.rows(dataset)
        return self._rows[dataset.dataset_id]

    def evaluate_item(self, run_id: str, candidate_index: int, item_index: int) -> ItemResult:
        """Answer one row as one candidate and score it. Transient failures (the model, the store) raise, so the
        workflow retries; a question the platform rejects is recorded as the item's error."""
        prices = self._prices()  # before the model is paid for an answer that could not be priced
        run = self.get(run_id)
        candidate = run.candidates[candidate_index]
        row = self._dataset_rows(run.dataset)[item_index]
        base = ItemResult(
            run_id=run_id,
            candidate=candidate_index,
            item=item_index,
            row_id=row.id,
            question=row.question,
            reference=row.reference,
        )
        try:
            answer = self._answerer.answer(candidate, row.question)
        # The item's own fault, or its prompt's (an alias moved since the run started, parameters the model refuses):
        # recorded on the item, as retrying the task would not change it.
        except (InvalidQuestion, PromptNotFound, InvalidPrompt) as error:
            result = base.model_copy(update={"error": f"{type(error).__name__}: {error}"})
            self._repository.put_item_result(result)
            return result
        result = base.model_copy(
            update={
                "answer": answer.answer,
                "grounded": answer.grounded,
                "abstention": answer.abstention.value if answer.abstention else None,
                "prompt_id": answer.prompt_id,
                "model_id": answer.model_id,
                "latency_ms": answer.latency_ms,
                "input_tokens": answer.usage.input_tokens,
                "output_tokens": answer.usage.output_tokens,
                "cost_usd": prices.cost(
                    answer.model_id, answer.usage.input_tokens, answer.usage.output_tokens, answer.latency_ms
                ),
            }
        )
        scores: dict[str, float | None] = {}
        started = time.perf_counter()
        if row.reference:
            scores.update(m.answer_metrics(answer.answer, row.reference))
        metric_ms = round((time.perf_counter() - started) * 1000, 2)
        if row.expected_sources:
            k = self._answerer.top_k(candidate)
            retrieved = _unique_sources(self._answerer.retrieve(candidate, row.question))
            result = result.model_copy(update={"retrieved_sources": retrieved})
            scores.update(m.retrieval_metrics(retrieved, row.expected_sources, k))
        verdict = None
        if run.options.judge and self._judge is not None:
            verdict = self._judge().judge(row.question, answer.answer, row.reference)
            for name, value in verdict.scores.items():
                scores[f"judge_{name}"] = value
        result = result.model_copy(update={"metrics": scores, "metric_ms": metric_ms, "judge": verdict})
        self._repository.put_item_result(result)
        return result

    def finalize(self, run_id: str) -> EvaluationRun:
        run = self.get(run_id)
        results = self.results(run_id)
        expected = run.item_count * len(run.candidates)
        notes = []
        if len(results) != expected:
            notes.append(f"{expected - len(results)} of {expected} item results are missing")
        if run.options.bertscore:
            results = self._with_bertscore(results)
        unavailable = [name for name in m.ANSWER_METRICS if name not in m.available_answer_metrics()]
        unavailable += [] if m.ndcg_available() else ["ndcg_at_k"]
        if unavailable:
            notes.append(f"metrics not installed here, not computed: {', '.join(unavailable)}")
        summaries = [
            summarize(i, candidate.name(), [r.outcome() for r in results if r.candidate == i])
            for i, candidate in enumerate(run.candidates)
        ]
        report = build_report(
            run.run_id, run.dataset.dataset_id, summaries, run.options.weights, run.options.quality_metric, notes
        )
        json_key = f"{self._reports_prefix}{run_id}/report.json"
        html_key = f"{self._reports_prefix}{run_id}/report.html"
        self._blobs.put_text(json_key, report.model_dump_json(indent=2), "application/json")
        self._blobs.put_text(html_key, render_html(report), "text/html; charset=utf-8")
        finished = datetime.now(UTC)
        done = run.model_copy(
            update={
                "status": RunStatus.SUCCEEDED,
                "report": report,
                "report_key": json_key,
                "html_report_key": html_key,
                "finished_at": finished.isoformat(timespec="seconds"),
                "duration_s": round((finished - datetime.fromisoformat(run.created_at)).total_seconds(), 1),
            }
        )
        self._repository.put_run(done)
        return done

    def _with_bertscore(self, results: list[ItemResult]) -> list[ItemResult]:
        scored = [r for r in results if r.error is None and r.answer and r.reference]
        values = m.bertscore_f1([r.answer or "" for r in scored], [r.reference or "" for r in scored])
        updated = {(r.candidate, r.item): v for r, v in zip(scored, values, strict=True)}
        out = []
        for result in results:
            value = updated.get((result.candidate, result.item))
            if value is not None:
                result = result.model_copy(update={"metrics": {**result.metrics, m.BERTSCORE: round(value, 6)}})
                self._repository.put_item_result(result)
            out.append(result)
        return out

    def fail(self, run_id: str, error: str) -> EvaluationRun:
        run = self.get(run_id)
        failed = run.model_copy(update={"status": RunStatus.FAILED, "error": error[:2000], "finished_at": _now()})
        self._repository.put_run(failed)
        return failed

    def html_report(self, run_id: str) -> str:
        run = self.get(run_id)
        if run.html_report_key is None:
            raise EvaluationNotFound(f"evaluation {run_id} has no report yet (status {run.status})")
        return self._blobs.get_text(run.html_report_key)


def _unique_sources(chunks: Sequence[ScoredChunk]) -> list[str]:
    """Retrieved document keys in rank order, each once (retrieval metrics count documents, not chunks)."""
    seen: list[str] = []
    for hit in chunks:
        if hit.chunk.source_key not in seen:
            seen.append(hit.chunk.source_key)
    return seen
