"""Bodies that Powertools' request validation takes without a word, or fails on, answered as the client's error."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Annotated, Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from llmops.domain.documents import RedriveResult
from llmops.http_errors import word_invalid_requests
from tests.handler_events import api_event, call_handler
from tests.template.handler_modules import load_handler_module

pytestmark = pytest.mark.usefixtures("handler_env")


class _Catalog:
    def __init__(self) -> None:
        self.redriven: list[int] = []

    def redrive(self, limit: int) -> RedriveResult:
        self.redriven.append(limit)
        return RedriveResult(moved=0, remaining=0)


@pytest.fixture
def documents_app(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, _Catalog]:
    module = load_handler_module("documents")
    catalog = _Catalog()
    monkeypatch.setattr(module, "catalog", lambda: catalog)
    return module, catalog


def _event(path: str, body: str | bytes | None, content_type: str | None) -> dict[str, Any]:
    # None stands for what is left out of the request (curl -X POST without -d sends neither a body nor a content
    # type); bytes that are not UTF-8 arrive base64-encoded, as API Gateway passes them.
    event = api_event("POST", path, body, headers={} if content_type is None else {"Content-Type": content_type})
    if body == "":  # API Gateway sends an empty body as null; another caller of the function may send ""
        event["body"] = ""
    return event


@pytest.mark.parametrize("body", ['{"limit": 0}', "limit=5"])
def test_a_form_body_is_refused_even_where_every_field_has_a_default(
    documents_app: tuple[ModuleType, _Catalog], body: str
) -> None:
    # curl -d without the header: the fields validate as a form, so the route would run with the default limit.
    module, catalog = documents_app

    status, answer = call_handler(module, _event("/documents/redrive", body, "application/x-www-form-urlencoded"))

    assert status == 415
    assert answer["message"] == (
        "The request body must be JSON, sent with 'content-type: application/json'"
        " (got 'application/x-www-form-urlencoded')"
    )
    assert catalog.redriven == []


class _Options(BaseModel):
    limit: int = 100  # every field has a default, and unknown fields are dropped


def test_a_form_body_is_refused_on_any_route_that_takes_a_body_with_defaults_only() -> None:
    app = APIGatewayRestResolver(enable_validation=True)
    word_invalid_requests(app)
    taken: list[_Options] = []

    @app.post("/options")
    def options(request: Annotated[_Options, Body()]) -> dict[str, str]:
        taken.append(request)
        return {}

    response = app.resolve(_event("/options", '{"limit": 0}', "application/x-www-form-urlencoded"), {})

    assert response["statusCode"] == 415
    assert "(got 'application/x-www-form-urlencoded')" in json.loads(response["body"])["message"]
    assert taken == []


def test_the_same_body_sent_as_json_is_taken(documents_app: tuple[ModuleType, _Catalog]) -> None:
    module, catalog = documents_app

    status, _ = call_handler(module, _event("/documents/redrive", '{"limit": 5}', "application/json"))

    assert status == 200
    assert catalog.redriven == [5]


@pytest.mark.parametrize(("function", "path"), [("query", "/search"), ("documents", "/documents/redrive")])
def test_a_body_that_is_not_utf8_is_answered_like_invalid_json(function: str, path: str) -> None:
    event = _event(path, b'{"query": "caf\xe9"}', "application/json")  # latin-1, as a terminal may send it

    status, answer = call_handler(load_handler_module(function), event)

    assert status == 422
    assert answer["message"] == "The request body is not valid JSON: it must be encoded as UTF-8"


def test_a_route_failing_to_decode_something_else_is_not_blamed_on_the_body() -> None:
    app = APIGatewayRestResolver(enable_validation=True)
    word_invalid_requests(app)

    @app.post("/decode")
    def decode() -> dict[str, str]:
        return {"text": b"caf\xe9".decode()}

    with pytest.raises(UnicodeDecodeError):
        app.resolve(_event("/decode", "{}", "application/json"), {})


def test_a_json_media_type_in_upper_case_is_named_as_sent(documents_app: tuple[ModuleType, _Catalog]) -> None:
    module, catalog = documents_app

    status, answer = call_handler(
        module, _event("/documents/redrive", '{"limit": 5}', "APPLICATION/JSON; charset=utf-8")
    )

    assert status == 415
    assert "(got 'APPLICATION/JSON')" in answer["message"]
    assert "must be written in lower case" in answer["message"]
    assert catalog.redriven == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(None, None), (None, "application/json"), ("", "application/json"), ("{}", "application/json")],
    ids=["no-body-no-content-type", "no-body", "empty-body", "empty-object"],
)
def test_a_route_whose_fields_all_have_defaults_takes_an_absent_or_empty_body_as_all_defaults(
    documents_app: tuple[ModuleType, _Catalog], body: str | None, content_type: str | None
) -> None:
    module, catalog = documents_app

    status, answer = call_handler(module, _event("/documents/redrive", body, content_type))

    assert status == 200, answer
    assert catalog.redriven == [100]


@pytest.mark.parametrize("body", ["limit=5", " ", "[]"])
def test_a_body_that_is_there_but_not_a_json_object_is_still_refused(
    documents_app: tuple[ModuleType, _Catalog], body: str
) -> None:
    module, catalog = documents_app

    status, answer = call_handler(module, _event("/documents/redrive", body, "application/json"))

    assert status == 422, answer
    assert catalog.redriven == []


def test_a_route_whose_body_has_a_required_field_still_needs_the_body() -> None:
    status, answer = call_handler(load_handler_module("query"), _event("/query", None, None))

    assert status == 422
    assert answer["message"] == "body: Field required"
