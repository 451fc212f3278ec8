"""Query function: POST /query -> retrieve context, ask the model, answer with citations (or decline)."""

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from llmops.composition import build_answering_service
from llmops.domain.answering import MAX_QUESTION_CHARS, QuestionAnsweringService
from llmops.domain.errors import InvalidQuestion, ModelInvocationError
from llmops.domain.models import Answer
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings

app = APIGatewayRestResolver(enable_validation=True)


class QueryRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    top_k: int | None = Field(default=None, ge=1, le=50)


@cache
def answering_service() -> QuestionAnsweringService:
    return build_answering_service(Settings())


@app.post("/query")
@tracer.capture_method
def query(request: Annotated[QueryRequest, Body()]) -> Answer:
    answer = answering_service().answer(request.question, request.top_k)
    metrics.add_metric(name="QueryLatency", unit=MetricUnit.Milliseconds, value=answer.latency_ms)
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=answer.usage.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=answer.usage.output_tokens)
    metrics.add_metric(name="Abstentions" if not answer.grounded else "GroundedAnswers", unit=MetricUnit.Count, value=1)
    return answer


@app.exception_handler(InvalidQuestion)
def invalid_question(error: InvalidQuestion) -> Response[dict[str, str]]:
    return Response(status_code=400, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@app.exception_handler(ModelInvocationError)
def model_failed(error: ModelInvocationError) -> Response[dict[str, str]]:
    logger.exception("Model invocation failed")
    return Response(status_code=502, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
