"""Documents function: GET /documents, GET /documents/{document_id}, POST /documents/redrive,
and the vector index: GET /index, POST /index/reindex, POST /index/rollback."""

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from llmops.composition import build_document_catalog, build_index_admin
from llmops.domain.documents import MAX_PAGE_SIZE, DocumentCatalog
from llmops.domain.errors import (
    DocumentNotFound,
    InvalidCursor,
    NothingToRollBack,
    ReindexInProgress,
)
from llmops.domain.models import DocumentRecord, DocumentStatus, IndexState
from llmops.domain.reindex import IndexAdmin
from llmops.http_errors import (
    answer_deployment_faults,
    body_or_defaults,
    error_response,
    field_error_response,
    word_invalid_requests,
)
from llmops.observability import logger, metrics, tracer
from llmops.settings import Settings, load_settings

app = APIGatewayRestResolver(enable_validation=True)
word_invalid_requests(app)
answer_deployment_faults(app)


class DocumentList(BaseModel):
    documents: list[DocumentRecord]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; absent on the last page.")


class RedriveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    limit: int = Field(default=100, ge=1, le=10_000)


class RedriveResponse(BaseModel):
    moved: int
    remaining: int


class ReindexStarted(BaseModel):
    target: str = Field(description="The index being built; readers switch to it when it is complete.")
    execution_id: str


@cache
def settings() -> Settings:
    return load_settings()


@cache
def catalog() -> DocumentCatalog:
    return build_document_catalog(settings())


@cache
def index_admin() -> IndexAdmin:
    return build_index_admin(settings())


_LIST_PARAMETERS = frozenset({"status", "prefix", "limit", "cursor"})


class UnknownQueryParameter(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"unknown query parameter{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}; "
            f"accepted: {', '.join(sorted(_LIST_PARAMETERS))}"
        )
        self.names = names


@app.get("/documents")
@tracer.capture_method
def list_documents(
    status: Annotated[DocumentStatus | None, Query()] = None,
    prefix: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> DocumentList:
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - _LIST_PARAMETERS)
    if unknown:  # a misspelt ?stauts=failed would list every document as if it were the answer
        raise UnknownQueryParameter(unknown)
    page = catalog().list(status=status, prefix=prefix, limit=limit, cursor=cursor)
    return DocumentList(documents=page.records, next_cursor=page.next_cursor)


@app.get("/documents/<document_id>")
@tracer.capture_method
def get_document(document_id: str) -> DocumentRecord:
    return catalog().get(document_id)


@app.post("/documents/redrive")
@tracer.capture_method
def redrive(request: Annotated[RedriveRequest, body_or_defaults(RedriveRequest)]) -> RedriveResponse:
    result = catalog().redrive(request.limit)
    logger.info("Re-drove dead-lettered documents", extra={"moved": result.moved, "remaining": result.remaining})
    return RedriveResponse(moved=result.moved, remaining=result.remaining)


@app.get("/index")
@tracer.capture_method
def index_status() -> dict[str, Any]:
    return index_admin().status()


@app.post("/index/reindex")
@tracer.capture_method
def start_reindex() -> Response[ReindexStarted]:
    target, execution = index_admin().start_reindex()
    started = ReindexStarted(target=target, execution_id=execution)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=started)


@app.post("/index/rollback")
@tracer.capture_method
def roll_back_index() -> IndexState:
    return index_admin().rollback()


@app.exception_handler(ReindexInProgress)
def conflict(error: ReindexInProgress) -> Response[dict[str, Any]]:
    return error_response(409, error)


@app.exception_handler(NothingToRollBack)
def nothing_to_roll_back(error: NothingToRollBack) -> Response[dict[str, Any]]:
    return error_response(409, error)


@app.exception_handler(DocumentNotFound)
def not_found(error: DocumentNotFound) -> Response[dict[str, Any]]:
    return error_response(404, error)


@app.exception_handler(UnknownQueryParameter)
def unknown_query_parameter(error: UnknownQueryParameter) -> Response[dict[str, Any]]:
    """Each unknown parameter in `detail`, typed as pydantic types a field that a model does not know."""
    locs = [("query", name) for name in error.names]
    accepted = ", ".join(sorted(_LIST_PARAMETERS))
    return field_error_response(
        422, error, *locs, msg=f"unknown query parameter; accepted: {accepted}", error_type="extra_forbidden"
    )


@app.exception_handler(InvalidCursor)
def bad_cursor(error: InvalidCursor) -> Response[dict[str, Any]]:
    """Only GET /documents takes a cursor: the error is about its `cursor` query parameter."""
    return field_error_response(400, error, ("query", "cursor"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
