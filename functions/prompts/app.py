"""Prompts function: the prompt catalog.

POST /prompts (a new prompt, or a new version of one), GET /prompts (and the answer prompt it guards),
GET /prompts/{name} (versions and aliases), GET /prompts/{name}/versions/{ref} (a number, an alias or `latest`),
PUT /prompts/{name}/aliases/{alias} (move an alias, conditionally with `expected_version` or `only_if_unset`; moving
it back is a rollback), DELETE /prompts/{name}/aliases/{alias}, POST /prompts/{name}/render (a dry run with
variables). No route takes query parameters: one sent is refused (422), not ignored.
"""

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from llmops.composition import build_prompt_catalog
from llmops.domain.errors import InvalidPrompt, PromptConflict, PromptNotFound
from llmops.domain.prompts import (
    LATEST,
    MAX_NAME_CHARS,
    MAX_VERSION,
    NAME_PATTERN,
    AliasDeletion,
    AliasMove,
    PromptCatalog,
    PromptSpec,
    PromptSummary,
    PromptVersion,
    RenderedPrompt,
    check_name,
)
from llmops.http_errors import (
    Loc,
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


def _new_prompt_name(name: str) -> str:
    try:
        return check_name(name)
    except InvalidPrompt as error:  # said as the catalog says it, not as "should match pattern '^[a-z]...'"
        raise ValueError(str(error)) from error


class NewPromptVersion(PromptSpec):
    name: Annotated[str, AfterValidator(_new_prompt_name)] = Field(
        description="Slug: lowercase letters and digits in words joined by single hyphens, a letter first.",
        json_schema_extra={"pattern": NAME_PATTERN, "maxLength": MAX_NAME_CHARS},
    )


class AnswerPrompt(BaseModel):
    name: str = Field(description="ANSWER_PROMPT_NAME.")
    ref: str = Field(description="ANSWER_PROMPT_REF: a version number, an alias or `latest`.")


class PromptList(BaseModel):
    prompts: list[PromptSummary]
    answer_prompt: AnswerPrompt | None = Field(
        description="The prompt and version that answer every question that names no prompt (this function's "
        "ANSWER_PROMPT_NAME and ANSWER_PROMPT_REF): no alias move or publication may leave it unable to answer, "
        "so a client that syncs prompts checks its changes against it first. Null when none is guarded."
    )


class VersionSummary(BaseModel):
    version: int
    created_at: str
    author: str
    description: str
    content_hash: str


class PromptDetail(BaseModel):
    name: str
    latest_version: int
    aliases: dict[str, int] = Field(description="Explicit aliases; `latest` always names latest_version.")
    versions: list[VersionSummary]


class AliasRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    version: int = Field(ge=1, le=MAX_VERSION)
    expected_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Move only if the alias points at this version now (else 409)."
    )
    only_if_unset: bool = Field(
        default=False,
        strict=True,
        description="Set the alias only if it is not set (else 409; where it points at `version` already, 200 and "
        "nothing changes). Decided by the write itself, so an alias set meanwhile is never overwritten. Not with "
        "expected_version (422).",
    )


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field must not be dropped silently
    ref: str = Field(default=LATEST, min_length=1, max_length=64, description="A version number, alias or `latest`.")
    variables: dict[str, str] = Field(default_factory=dict)


@cache
def settings() -> Settings:
    return load_settings()


@cache
def catalog() -> PromptCatalog:
    return build_prompt_catalog(settings())


def refuse_query_parameters(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """No prompts route takes query parameters: one sent, misspelt or hoped for (GET /prompts?name=...,
    DELETE ...?expected_version=2), must not pass unnoticed, answered as if it had been applied."""
    event = app.current_event
    unknown = sorted(event.query_string_parameters or {})
    if unknown:
        takes_none = f"{event.http_method} {event.resource} takes none"
        return field_error_response(
            422,
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; {takes_none}",
            *[("query", name) for name in unknown],
            msg=f"unknown query parameter; {takes_none}",
            error_type="extra_forbidden",
        )
    return next_middleware(app)


app.use([refuse_query_parameters])


@app.post("/prompts")
@tracer.capture_method
def create_version(request: Annotated[NewPromptVersion, Body()]) -> Response[PromptVersion]:
    spec = PromptSpec.model_validate(request.model_dump(exclude={"name"}))
    published = catalog().publish(request.name, spec)
    logger.info(
        "Published prompt" if published.created else "Prompt unchanged",
        extra={"prompt_id": published.version.prompt_id, "content_hash": published.version.content_hash},
    )
    return Response(
        status_code=201 if published.created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=published.version,
    )


@app.get("/prompts")
@tracer.capture_method
def list_prompts() -> PromptList:
    guarded = catalog().answer_prompt
    return PromptList(
        prompts=catalog().list_prompts(),
        answer_prompt=AnswerPrompt(name=guarded[0], ref=guarded[1]) if guarded else None,
    )


@app.get("/prompts/<name>")
@tracer.capture_method
def get_prompt(name: str) -> PromptDetail:
    versions = catalog().list_versions(name)
    return PromptDetail(
        name=name,
        latest_version=versions[-1].version,
        aliases=catalog().aliases(name),
        versions=[
            VersionSummary(
                version=v.version,
                created_at=v.created_at,
                author=v.author,
                description=v.description,
                content_hash=v.content_hash,
            )
            for v in versions
        ],
    )


@app.get("/prompts/<name>/versions/<ref>")
@tracer.capture_method
def get_version(name: str, ref: str) -> PromptVersion:
    return catalog().get(name, ref)


@app.put("/prompts/<name>/aliases/<alias>")
@tracer.capture_method
def move_alias(name: str, alias: str, request: Annotated[AliasRequest, Body()]) -> AliasMove:
    move = catalog().set_alias(
        name, alias, request.version, expected=request.expected_version, only_if_unset=request.only_if_unset
    )
    logger.info(
        "Moved prompt alias",
        extra={"prompt": name, "alias": alias, "version": move.version, "previous_version": move.previous_version},
    )
    return move


@app.delete("/prompts/<name>/aliases/<alias>")
@tracer.capture_method
def delete_alias(name: str, alias: str) -> AliasDeletion:
    deleted = catalog().delete_alias(name, alias)
    logger.info(
        "Deleted prompt alias", extra={"prompt": name, "alias": alias, "previous_version": deleted.previous_version}
    )
    return deleted


@app.post("/prompts/<name>/render")
@tracer.capture_method
def render(name: str, request: Annotated[RenderRequest, body_or_defaults(RenderRequest)]) -> RenderedPrompt:
    return catalog().render(name, request.ref, request.variables)


@app.exception_handler(PromptNotFound)
def not_found(error: PromptNotFound) -> Response[dict[str, Any]]:
    return error_response(404, error)


@app.exception_handler(PromptConflict)
def conflict(error: PromptConflict) -> Response[dict[str, Any]]:
    return error_response(409, error)


@app.exception_handler(InvalidPrompt)
def invalid(error: InvalidPrompt) -> Response[dict[str, Any]]:
    # Among the rest: pointing the configured answer prompt's alias at a version that cannot answer, or deleting it.
    return field_error_response(422, error, *_request_fields(error))


# The catalog's arguments that a route takes from a body field of another name.
_BODY_FIELDS = {"expected": "expected_version"}


def _request_fields(error: InvalidPrompt) -> tuple[Loc, ...]:
    """Where the route took the input the catalog names (`DomainError.field`, by the catalog's argument names:
    name, alias, ref, version, variables): the path parameter of that name, else the body field; `()` is the body
    as a whole. Refusals about no one input (a sync's, a prompt at its version limit) name none."""
    if error.field is None:
        return ()
    if not error.field:
        return (("body",),)
    name, *rest = error.field
    if name in (app.current_event.path_parameters or {}):
        return (("path", name, *rest),)
    return (("body", _BODY_FIELDS.get(str(name), name), *rest),)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
