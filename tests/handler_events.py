"""Calling function handlers in tests: API Gateway REST proxy events built by local mode's own gateway code from
template.yaml's routes (the resource, path parameters and query string parameters are those API Gateway sends), a
Lambda context, and the handler's answer."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlencode

from llmops_local.api_gateway import Route, compile_route, proxy_event
from llmops_local.functions import LocalFunction, LocalLambdaContext
from llmops_local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
JSON_HEADERS = {"Content-Type": "application/json"}
_NO_FUNCTION = cast(LocalFunction, None)  # a test calls the handler itself


@cache
def _template_routes() -> tuple[Route, ...]:
    resources = load_template(TEMPLATE)["Resources"].values()
    return tuple(
        compile_route(event["Properties"]["Method"].upper(), event["Properties"]["Path"], _NO_FUNCTION)
        for resource in resources
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "Api"
    )


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event for `method path?query`. `body` is sent as it is when bytes or text, else as JSON; `headers` default
    to a JSON content type when there is a body. A path that no template route matches (a test's own resolver) is
    its own resource."""
    route = next(
        (route for route in _template_routes() if route.method == method and route.pattern.match(path)),
        compile_route(method, path, _NO_FUNCTION),
    )
    raw = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else b""
    if body is not None and not isinstance(body, str | bytes):
        raw = json.dumps(body).encode()
    sent_headers = dict(JSON_HEADERS if headers is None and body is not None else headers or {})
    raw_path = f"{path}?{urlencode(query)}" if query else path
    return proxy_event(route, method, raw_path, sent_headers, raw, stage="dev")


def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(
        function_name="fn", memory_limit_in_mb=128, invoked_function_arn="arn:aws:lambda:x", timeout_seconds=30
    )


def call_handler(module: ModuleType, event: dict[str, Any]) -> tuple[int, Any]:
    """The status code and JSON body a function module's API handler answers `event` with."""
    response = module.lambda_handler(event, lambda_context())
    return response["statusCode"], json.loads(response["body"])
