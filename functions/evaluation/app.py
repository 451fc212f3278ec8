"""Evaluation function: datasets, evaluation runs and their reports (API), and the evaluation state machine's tasks.

API: POST /datasets (name + rows, or raw JSON Lines text), GET /datasets, GET /datasets/{name}; POST /evaluations
(start a run), GET /evaluations/{run_id} (status and aggregates), GET /evaluations/{run_id}/report (re-ranked with
`weights` and `quality_metric`; `format=html` for the self-contained page), GET /evaluations/{run_id}/results.
Tasks (events with an `action`): plan, evaluate_item, finalize, fail.
"""

from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from llmops.composition import build_evaluation_service
from llmops.domain.errors import DeploymentMisconfigured
from llmops.domain.evaluation.datasets import DatasetCatalog, DatasetVersion, parse_jsonl, parse_rows
from llmops.domain.evaluation.errors import DatasetNotFound, EvaluationNotFound, InvalidDataset, InvalidEvaluation
from llmops.domain.evaluation.report import Report, parse_weights
from llmops.domain.evaluation.runs import EvaluationRequest, EvaluationRun, EvaluationService, ItemResult
from llmops.http_errors import (
    answer_deployment_faults,
    error_response,
    field_error_response,
    request_field,
    word_invalid_requests,
)
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings, load_settings

app = APIGatewayRestResolver(enable_validation=True)
word_invalid_requests(app)
answer_deployment_faults(app)


class DatasetUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=2000)
    rows: list[dict[str, Any]] | None = Field(default=None, description="The rows as objects, or:")
    jsonl: str | None = Field(default=None, description="The rows as JSON Lines text.")

    @model_validator(mode="after")
    def _one_of(self) -> "DatasetUpload":
        if (self.rows is None) == (self.jsonl is None):
            raise ValueError("give either rows (a list of objects) or jsonl (JSON Lines text)")
        return self


class DatasetUploaded(BaseModel):
    dataset: DatasetVersion
    created: bool = Field(description="False when the rows equal the latest version's, which is returned.")


class DatasetList(BaseModel):
    datasets: list[DatasetVersion]


class RunResults(BaseModel):
    run_id: str
    results: list[ItemResult]


@cache
def settings() -> Settings:
    return load_settings()


@cache
def service() -> EvaluationService:
    return build_evaluation_service(settings())


@cache
def datasets() -> DatasetCatalog:
    return service().datasets


@app.post("/datasets")
@tracer.capture_method
def upload_dataset(request: Annotated[DatasetUpload, Body()]) -> Response[DatasetUploaded]:
    try:
        rows = parse_rows(request.rows) if request.rows is not None else parse_jsonl(request.jsonl or "")
        version, created = datasets().upload(request.name, rows, request.description)
    except InvalidDataset as error:
        if error.field is None:  # all but the name: the rows' problems, none or too many of them, too large
            error.field = ("rows",) if request.rows is not None else ("jsonl",)
        raise
    logger.info("Dataset uploaded", extra={"dataset": version.dataset_id, "rows": version.row_count})
    body = DatasetUploaded(dataset=version, created=created)
    return Response(status_code=201 if created else 200, content_type=content_types.APPLICATION_JSON, body=body)


@app.get("/datasets")
@tracer.capture_method
def list_datasets() -> DatasetList:
    return DatasetList(datasets=datasets().list())


@app.get("/datasets/<name>")
@tracer.capture_method
def get_dataset(name: str, version: Annotated[int | None, Query(ge=1)] = None) -> DatasetVersion:
    return datasets().get(name, version)


@app.post("/evaluations")
@tracer.capture_method
def start_evaluation(request: Annotated[EvaluationRequest, Body()]) -> Response[EvaluationRun]:
    run = service().start(request)
    logger.info("Evaluation started", extra={"run_id": run.run_id, "candidates": len(run.candidates)})
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=run)


@app.get("/evaluations/<run_id>")
@tracer.capture_method
def get_evaluation(run_id: str) -> EvaluationRun:
    return service().get(run_id)


@app.get("/evaluations/<run_id>/results")
@tracer.capture_method
def get_results(run_id: str) -> RunResults:
    return RunResults(run_id=run_id, results=service().results(run_id))


@app.get("/evaluations/<run_id>/report")
@tracer.capture_method
def get_report(
    run_id: str,
    weights: Annotated[str | None, Query(max_length=200, description="e.g. cost=0.5,quality=0.3,speed=0.2")] = None,
    quality_metric: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[Literal["json", "html"], Query()] = "json",  # noqa: A002 - the query parameter's name
) -> Response[Any]:
    if format == "html" and weights is None and quality_metric is None:
        return Response(status_code=200, content_type="text/html; charset=utf-8", body=service().html_report(run_id))
    evaluations = service()
    try:
        ranking = parse_weights(weights) if weights else None
    except InvalidEvaluation as error:
        error.field = ("weights",)
        raise
    report: Report = evaluations.report(run_id, ranking, quality_metric)
    if format == "html":
        from llmops.domain.evaluation.report import render_html

        return Response(status_code=200, content_type="text/html; charset=utf-8", body=render_html(report))
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)


def _place() -> str:
    """Where the request fields that the domain's errors name are: the POST routes take a body; the one GET route
    with inputs the domain checks (the report's) takes them in the query string."""
    return "query" if app.current_event.http_method == "GET" else "body"


@app.exception_handler(InvalidDataset)
def invalid_dataset(error: InvalidDataset) -> Response[dict[str, Any]]:
    """422 naming the field (`detail`: the name, the rows or JSON Lines, or an evaluation's dataset reference) and
    listing each invalid row by its line number (`problems`; 0: the dataset as a whole)."""
    problems = [{"line": line, "message": message} for line, message in error.problems]
    return field_error_response(422, error, *request_field(error, _place()), problems=problems)


@app.exception_handler(InvalidEvaluation)
def invalid_evaluation(error: InvalidEvaluation) -> Response[dict[str, Any]]:
    """422 naming the field (`detail`); none where the request as a whole is at fault."""
    return field_error_response(422, error, *request_field(error, _place()))


@app.exception_handler(DatasetNotFound)
def dataset_not_found(error: DatasetNotFound) -> Response[dict[str, Any]]:
    return error_response(404, error)


@app.exception_handler(EvaluationNotFound)
def evaluation_not_found(error: EvaluationNotFound) -> Response[dict[str, Any]]:
    return error_response(404, error)


class Plan(BaseModel):
    action: Literal["plan"]
    run_id: str


class EvaluateItem(BaseModel):
    action: Literal["evaluate_item"]
    run_id: str
    candidate: int = Field(ge=0)
    item: int = Field(ge=0)


class Finalize(BaseModel):
    action: Literal["finalize"]
    run_id: str


class Fail(BaseModel):
    action: Literal["fail"]
    run_id: str
    error: dict[str, Any] | None = None


Task = Annotated[Plan | EvaluateItem | Finalize | Fail, Field(discriminator="action")]
task_adapter: TypeAdapter[Task] = TypeAdapter(Task)


def run_task(event: dict[str, Any]) -> dict[str, Any]:
    task = task_adapter.validate_python(event)
    if isinstance(task, Plan):
        return service().plan(task.run_id)
    if isinstance(task, EvaluateItem):
        result = service().evaluate_item(task.run_id, task.candidate, task.item)
        metrics.add_metric(name="EvaluationItems", unit="Count", value=1)
        # Small output: the state machine's history and payload limits; the result itself is in the table.
        return {"candidate": result.candidate, "item": result.item, "error": result.error}
    if isinstance(task, Finalize):
        run = service().finalize(task.run_id)
        return {"run_id": run.run_id, "status": run.status.value, "report_key": run.report_key}
    cause = (task.error or {}).get("Cause") or (task.error or {}).get("Error") or "the evaluation workflow failed"
    return {"run_id": task.run_id, "status": service().fail(task.run_id, str(cause)).status.value}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "action" in event:
        try:
            return run_task(event)
        except DeploymentMisconfigured as error:  # the workflow retries the task, then marks the run failed
            logger.error("The deployment is misconfigured", extra={"reason": str(error)})
            raise
    return app.resolve(event, context)
