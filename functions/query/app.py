"""Query function: POST /query -> retrieve context, ask the model, answer with citations (or decline);
POST /search -> ranked chunks (vector, full-text or hybrid) without generation."""

from functools import cache
from typing import Annotated, Any, Self

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmops.composition import build_answering_service, build_retriever
from llmops.domain.answering import MAX_QUESTION_CHARS, GuardrailBlocked, PromptChoice, QuestionAnsweringService
from llmops.domain.errors import (
    InvalidPrompt,
    InvalidQuestion,
    InvalidSearch,
    ModelInvocationError,
    PromptNotFound,
    describe_problems,
)
from llmops.domain.guardrails import GuardrailStage
from llmops.domain.models import Answer, ScoredChunk, SearchFilters, SearchMode
from llmops.domain.retrieval import MAX_TOP_K, Retriever
from llmops.http_errors import (
    Loc,
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
deployment_fault = answer_deployment_faults(app)


def _has_words(text: str) -> str:
    if not text.strip():
        raise ValueError("it is blank")
    return text.strip()


Question = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(_has_words)]


def _number_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# `"prompt_version": 3` means version 3 as much as "3" does.
VersionText = Annotated[str, Field(min_length=1, max_length=64), BeforeValidator(_number_as_text)]


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    question: Question
    top_k: int | None = Field(default=None, ge=1, le=50, strict=True)  # true or "5" is a client's mistake
    mode: SearchMode | None = Field(default=None, description="vector, text or hybrid (default: SEARCH_MODE).")
    filters: SearchFilters | None = None
    prompt: str | None = Field(
        default=None, min_length=1, description="Catalog prompt name (default: ANSWER_PROMPT_NAME)."
    )
    prompt_version: VersionText | None = Field(default=None, description="Version number or alias (default: prod).")


# Weights are relative; a bound keeps their sum finite (two weights near the float limit made every score 0).
MAX_FUSION_WEIGHT = 1_000_000
FusionWeight = Annotated[float | None, Field(ge=0, le=MAX_FUSION_WEIGHT, allow_inf_nan=False)]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    query: Question
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, strict=True)
    mode: SearchMode | None = None
    filters: SearchFilters | None = None
    vector_weight: FusionWeight = Field(default=None, description="Hybrid fusion weight of k-NN results.")
    text_weight: FusionWeight = Field(default=None, description="Hybrid fusion weight of BM25 results.")

    @field_validator("vector_weight", "text_weight")
    @classmethod
    def _weights_for_hybrid_only(cls, weight: float | None, info: ValidationInfo) -> float | None:
        # Refused here, where the field can be named, when the body asks for the mode; when SEARCH_MODE decides,
        # the retriever refuses them (invalid_search).
        mode = info.data.get("mode")
        if weight is not None and mode not in (None, SearchMode.HYBRID):
            raise ValueError(
                f"a fusion weight applies to hybrid search only; this search is {mode}: leave it out, or ask for "
                "mode hybrid"
            )
        return weight

    @model_validator(mode="after")
    def _weights_rank_something(self) -> Self:
        if self.vector_weight == 0 and self.text_weight == 0:
            raise ValueError("vector_weight and text_weight are both 0: hybrid fusion needs one above 0")
        return self


class SearchResponse(BaseModel):
    results: list[ScoredChunk]


@cache
def settings() -> Settings:
    return load_settings()


@cache
def answering_service() -> QuestionAnsweringService:
    return build_answering_service(settings())


@cache
def retriever() -> Retriever:
    # Search needs no language model: it does not load one.
    return build_retriever(settings())


@app.post("/search")
@tracer.capture_method
def search(request: Annotated[SearchRequest, Body()]) -> SearchResponse:
    results = retriever().retrieve(
        request.query,
        request.top_k,
        mode=request.mode,
        filters=request.filters,
        vector_weight=request.vector_weight,
        text_weight=request.text_weight,
    )
    if results:
        metrics.add_metric(name="TopRetrievalScore", unit=MetricUnit.NoUnit, value=results[0].score)
    return SearchResponse(results=results)


@app.post("/query")
@tracer.capture_method
def query(request: Annotated[QueryRequest, Body()]) -> Answer:
    choice = None
    if request.prompt or request.prompt_version:
        choice = PromptChoice(
            request.prompt or settings().answer_prompt_name, request.prompt_version or settings().answer_prompt_ref
        )
    answer = answering_service().answer(
        request.question,
        request.top_k,
        mode=request.mode,
        filters=request.filters,
        prompt=choice,
        # API Gateway's id of this request: its x-amzn-RequestId response header, and the logs' correlation id
        request_id=app.current_event.request_context.request_id,
    )
    _count_guardrail_hits(answer.guardrails)
    metrics.add_metric(name="QueryLatency", unit=MetricUnit.Milliseconds, value=answer.latency_ms)
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=answer.usage.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=answer.usage.output_tokens)
    metrics.add_metric(name="Abstentions" if not answer.grounded else "GroundedAnswers", unit=MetricUnit.Count, value=1)
    return answer


@app.exception_handler(InvalidQuestion)
def invalid_question(error: InvalidQuestion) -> Response[dict[str, Any]]:
    """The domain's own checks of the question (blank, too long), at `body.question` as the request model's are."""
    return field_error_response(422, error, *request_field(error, "body"))


@app.exception_handler(InvalidSearch)
def invalid_search(error: InvalidSearch) -> Response[dict[str, Any]]:
    """Worded as a body that breaks the request model is: the retriever's checks are of the body too (fusion weights
    when SEARCH_MODE, not the body, picked a mode that fuses nothing: the body as a whole, as for the request model's
    check that the two weights are not both 0)."""
    message = describe_problems([{"loc": ["body"], "msg": str(error)}], whole="body")
    return field_error_response(422, message, ("body",), msg=str(error))


def _count_guardrail_hits(hits: list[dict[str, Any]]) -> None:
    for hit in hits:  # e.g. GuardrailPiiInputRedact: one metric per check, stage and action
        name = "".join(part.title().replace("_", "") for part in (hit["check"], hit["stage"], hit["action"]))
        metrics.add_metric(name=f"Guardrail{name}", unit=MetricUnit.Count, value=1)


@app.exception_handler(GuardrailBlocked)
def guardrail_blocked(error: GuardrailBlocked) -> Response[dict[str, Any]]:
    """An input check stopped the question (`body.question`); an output check stopped the answer, no request field."""
    verdict = error.verdict
    _count_guardrail_hits([hit.model_dump(mode="json") for hit in error.hits])
    question = [("body", "question")] if verdict.stage is GuardrailStage.INPUT else []
    return field_error_response(400, error, *question, blocked_by=verdict.blocked_by, stage=verdict.stage)


@app.exception_handler(PromptNotFound)
def prompt_not_found(error: PromptNotFound) -> Response[dict[str, Any]]:
    return error_response(404, error)


@app.exception_handler(InvalidPrompt)
def prompt_cannot_answer(error: InvalidPrompt) -> Response[dict[str, Any]]:
    """A malformed prompt name or version reference, or a catalog prompt version that cannot answer (not an answer
    prompt, a model_id that cannot answer here, parameters the model refuses): 422 at the body fields that chose it.
    Where none did (what cannot be read, or cannot answer, came from the settings), the deployment is at fault."""
    fields = _prompt_fields(error)
    if not fields:
        return deployment_fault(error)
    return field_error_response(422, error, *fields)


# The catalog names what it could not read by its own arguments; the body fields that give them.
_PROMPT_CHOICE_FIELDS = {"name": "prompt", "ref": "prompt_version"}


def _prompt_fields(error: InvalidPrompt) -> list[Loc]:
    """The body fields an InvalidPrompt is about: the one giving the name or reference the catalog could not read,
    else each one the body gave, which together chose the version that cannot answer. None where that input came
    from the settings (ANSWER_PROMPT_NAME or _REF, for what the body left out)."""
    body = app.current_event.json_body  # validated as a QueryRequest: a JSON object
    given = [field for field in _PROMPT_CHOICE_FIELDS.values() if body.get(field) is not None]
    named = _PROMPT_CHOICE_FIELDS.get(str(error.field[0])) if error.field else None
    return [("body", field) for field in ([named] if named else given) if field in given]


@app.exception_handler(ModelInvocationError)
def model_failed(error: ModelInvocationError) -> Response[dict[str, Any]]:
    logger.exception("Model invocation failed")
    return error_response(502, error)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
