"""Error responses shared by the API functions, so that every route words its client errors the same way."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from llmops.domain.errors import describe_problems, plain_message

# Powertools parses these as form fields, so a JSON body sent with one of them (curl -d does) fails with
# "field missing" although the field is there. The client needs to hear about the content type instead.
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def error_response(status: int, error: Exception | str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": str(error), **extra}
    )


def invalid_request_response(
    error: RequestValidationError | RequestUnsupportedContentType, content_type: str
) -> Response[dict[str, Any]]:
    """415 for a body that is not sent as JSON; otherwise 422 saying what to change in which field.
    The messages are the models' constraints and the domain's own checks: the input is not echoed."""
    errors = error.errors()
    detail = [{"loc": list(e["loc"]), "msg": plain_message(e), "type": e["type"]} for e in errors]
    media_type = content_type.split(";", 1)[0].strip().lower()
    in_body = any(d["loc"][:1] == ["body"] for d in detail)
    if isinstance(error, RequestUnsupportedContentType) or (media_type in FORM_CONTENT_TYPES and in_body):
        message = f"The request body must be JSON, sent with 'content-type: application/json' (got '{media_type}')"
        return error_response(415, message)
    if any(d["type"] == "json_invalid" for d in detail):
        return error_response(422, "The request body is not valid JSON", detail=detail)
    return error_response(422, describe_problems(errors, whole="body"), detail=detail)


def word_invalid_requests(app: APIGatewayRestResolver) -> None:
    """Replace Powertools' bare 422 and 415 (error types and locations only) with `invalid_request_response`."""

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def invalid_request(error: RequestValidationError | RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return invalid_request_response(error, app.current_event.headers.get("content-type") or "")
