"""Error responses shared by the API functions, so that every route words its client errors the same way, and
the request bodies that must not be errors at all."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from llmops.domain.errors import DeploymentMisconfigured, DomainError, describe_problems, plain_message
from llmops.observability import logger

# Powertools parses these as form fields, so a JSON body sent with one of them (curl -d does) fails with
# "field missing" although the field is there. The client needs to hear about the content type instead.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def error_response(status: int, error: Exception | str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": str(error), **extra}
    )


Loc = tuple[str | int, ...]
"""A request field as Powertools locates one: its place ("body", "query" or "path") first, as in `("body",
"question")`, `("query", "cursor")` or `("body", "candidates", 0, "prompt")`; `("body",)` is the body as a whole."""


def field_error_response(
    status: int,
    error: Exception | str,
    *locs: Loc,
    msg: str | None = None,
    error_type: str = "value_error",
    **extra: Any,
) -> Response[dict[str, Any]]:
    """`error_response` for a refusal of the request fields at `locs`: the same `message`, and a `detail` entry for
    each field shaped as `invalid_request_response`'s (`loc`, a plain `msg`, `type`), so that a client can point at the
    field whichever check refused it, the request model's or the domain's. `msg`: the entries' message when it is not
    the error's own. Without `locs`, a refusal that is about no one field of the request, there is no `detail`."""
    if locs:
        extra = {"detail": [{"loc": list(loc), "msg": msg or str(error), "type": error_type} for loc in locs], **extra}
    return error_response(status, error, **extra)


def request_field(error: DomainError, place: str) -> tuple[Loc, ...]:
    """The request field a domain error names (`DomainError.field`, a path into the input that the route took from
    `place`: "body" or "query"), for `field_error_response`; none when it names none."""
    return () if error.field is None else ((place, *error.field),)


def body_or_defaults(model: type[BaseModel]) -> Body:
    """The body of a route whose request fields all have defaults: no body, an empty one or JSON `null` means all of
    them, as `{}` does (`curl -X POST` without -d). Powertools reads an absent, empty or `null` JSON body as None, and
    without a default on the parameter answers 422 "Field required". A body that is there but not JSON is still
    refused.

    Use: `request: Annotated[Model, body_or_defaults(Model)]`."""
    model()  # a model with a required field fails here, on import, not on the first request without a body
    return Body(default_factory=model)


def _media_type(content_type: str) -> str:
    """The media type as the client sent it, without parameters such as charset."""
    return content_type.split(";", 1)[0].strip()


def not_json_response(content_type: str) -> Response[dict[str, Any]]:
    media_type = _media_type(content_type)
    message = f"The request body must be JSON, sent with 'content-type: application/json' (got '{media_type}')"
    if media_type.lower() == "application/json":
        # HTTP media types are case-insensitive, but Powertools only takes this one in lower case.
        message = f"{message}: the media type must be written in lower case"
    return error_response(415, message)


def invalid_request_response(
    error: RequestValidationError | RequestUnsupportedContentType, content_type: str
) -> Response[dict[str, Any]]:
    """415 for a body that is not sent as JSON; otherwise 422 saying what to change in which field.
    The messages are the models' constraints and the domain's own checks: the input is not echoed."""
    errors = error.errors()
    detail = [{"loc": list(e["loc"]), "msg": plain_message(e), "type": e["type"]} for e in errors]
    in_body = any(d["loc"][:1] == ["body"] for d in detail)
    if isinstance(error, RequestUnsupportedContentType) or (
        _media_type(content_type).lower() in FORM_CONTENT_TYPES and in_body
    ):
        return not_json_response(content_type)
    if any(d["type"] == "json_invalid" for d in detail):
        return error_response(422, "The request body is not valid JSON", detail=detail)
    return error_response(422, describe_problems(errors, whole="body"), detail=detail)


def word_invalid_requests(app: APIGatewayRestResolver) -> None:
    """Replace Powertools' bare 422 and 415 (error types and locations only) with `invalid_request_response`,
    and answer the bodies that Powertools would take without a word, or fail on, as the client's error."""

    def content_type() -> str:
        return app.current_event.headers.get("content-type") or ""

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def invalid_request(error: RequestValidationError | RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return invalid_request_response(error, content_type())

    def refuse_forms(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
        # A form whose fields all validate (none, when every field has a default) would be taken as asked for
        # the defaults: {"limit": 0} sent by curl -d would redrive 100 documents. Request validation runs
        # before this middleware, so a form that fails it has already been answered by `invalid_request`.
        if app.current_event.body and _media_type(content_type()).lower() in FORM_CONTENT_TYPES:
            return not_json_response(content_type())
        return next_middleware(app)

    app.use([refuse_forms])

    @app.exception_handler(UnicodeDecodeError)
    def undecodable_body(error: UnicodeDecodeError) -> Response[dict[str, Any]]:
        # Powertools decodes a base64-encoded body (how API Gateway passes one that is not UTF-8) without
        # catching the error. Answer as for invalid JSON, but only if the body is what fails to decode:
        # a UnicodeDecodeError from anywhere else is not the client's to fix.
        try:
            app.current_event.decoded_body  # noqa: B018 (decoding is the check)
        except UnicodeDecodeError:
            return error_response(422, "The request body is not valid JSON: it must be encoded as UTF-8")
        raise error


def answer_deployment_faults(app: APIGatewayRestResolver) -> Callable[[DomainError], Response[dict[str, Any]]]:
    """Answer a fault of the deployment's own settings (DeploymentMisconfigured), which nothing in a request can fix,
    as a server error: 500 with the reason, logged for the operators. Returns the handler, for a route's error that
    turns out to be the deployment's too."""

    @app.exception_handler(DeploymentMisconfigured)
    def deployment_misconfigured(error: DomainError) -> Response[dict[str, Any]]:
        logger.error("The deployment is misconfigured", extra={"reason": str(error)})
        return error_response(500, error)

    return deployment_misconfigured
