"""The template's API routes served over HTTP as API Gateway REST (v1) proxy events.

Local mode does not check IAM signatures: the server listens on the loopback interface only. HTTP itself (chunked
bodies, Expect: 100-continue, reading what is left of a refused body) is werkzeug's WSGI server, which the AWS
emulator (moto) already runs on.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from llmops_local.functions import LocalFunction
from llmops_local.template import ACCOUNT_ID

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

# API Gateway's quota for REST APIs, "Payload size: 10 MB", not adjustable
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html): a larger request is answered 413 and
# never reaches the integration.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Route:
    method: str
    resource: str
    pattern: re.Pattern[str]
    function: LocalFunction


def compile_route(method: str, resource: str, function: LocalFunction) -> Route:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", resource):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            regex += f"(?P<{name.rstrip('+')}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            regex += re.escape(part)
    return Route(method=method, resource=resource, pattern=re.compile(f"^{regex}/?$"), function=function)


def proxy_event(
    route: Route, method: str, raw_path: str, headers: dict[str, str], body: bytes, stage: str
) -> dict[str, Any]:
    parts = urlsplit(raw_path)
    match = route.pattern.match(parts.path)
    query = parse_qs(parts.query, keep_blank_values=True)
    text_body: str | None
    try:
        text_body, is_base64 = (body.decode("utf-8"), False) if body else (None, False)
    except UnicodeDecodeError:
        text_body, is_base64 = base64.b64encode(body).decode(), True
    return {
        "resource": route.resource,
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": (match.groupdict() if match else None) or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{stage}{parts.path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": ACCOUNT_ID,
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text_body,
        "isBase64Encoded": is_base64,
    }


class _LoggedAtDebug(WSGIRequestHandler):
    """werkzeug logs every request at INFO; the platform's own log says what each function did."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("api: %s %s %s", self.requestline, code, size)


class LocalApiServer:
    def __init__(self, routes: list[Route], host: str, port: int, stage: str) -> None:
        self._routes = routes
        self._stage = stage
        self._host = host
        self._httpd = make_server(host, port, self._wsgi, threaded=True, request_handler=_LoggedAtDebug)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._httpd.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _wsgi(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self._serve(Request(environ))(environ, start_response)

    def _serve(self, request: Request) -> Response:
        method = request.method
        raw_path = request.environ.get("RAW_URI") or request.full_path  # as sent: not decoded, with its query
        path = urlsplit(raw_path).path
        try:
            # Read before routing, as API Gateway takes the whole request before it answers, even with a 404.
            body = _body(request)
        except RequestEntityTooLarge:
            return _gateway_answer(413, f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes.")
        except HTTPException as unreadable:  # framing werkzeug cannot read, or a body cut short
            return _gateway_answer(400, f"Unreadable request body: {unreadable.description}")
        matching = [route for route in self._routes if route.pattern.match(path)]
        route = next((r for r in matching if r.method in (method, "ANY")), None)
        if route is None:
            return (
                _gateway_answer(405, "Method Not Allowed")
                if matching
                else _gateway_answer(404, "Missing Authentication Token")
            )
        event = proxy_event(route, method, raw_path, dict(request.headers.items()), body, self._stage)
        try:
            response = route.function.invoke(event)
        except Exception:
            log.exception("%s failed on %s %s", route.function.spec.logical_id, method, path)
            return _gateway_answer(502, "Internal server error")
        headers = {k: v for k, v in (response.get("headers") or {}).items() if k.lower() != "content-length"}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        # API Gateway names every answer's request, with the id its integration got in requestContext.
        headers["x-amzn-RequestId"] = event["requestContext"]["requestId"]
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        return Response(data, status=int(response.get("statusCode", 200)), headers=headers)


def _body(request: Request) -> bytes:
    """The request's whole body; RequestEntityTooLarge past API Gateway's quota, decided from Content-Length before
    any of it is read. werkzeug's server de-chunks a chunked body (and marks it wsgi.input_terminated): one byte past
    the quota is read to tell a body of exactly the quota from a longer one, and the server drops the rest."""
    if request.content_length is not None:
        if request.content_length > MAX_PAYLOAD_BYTES:
            raise RequestEntityTooLarge()
        return request.get_data(cache=False)
    if "wsgi.input_terminated" not in request.environ:
        return b""  # neither framing: HTTP says there is no body
    try:
        data: bytes = request.environ["wsgi.input"].read(MAX_PAYLOAD_BYTES + 1)
    except OSError as malformed:  # how werkzeug's de-chunking refuses a bad chunk header or terminator
        raise BadRequest(str(malformed)) from malformed
    if len(data) > MAX_PAYLOAD_BYTES:
        raise RequestEntityTooLarge()
    return data


def _gateway_answer(status: int, message: str) -> Response:
    """An answer from the gateway itself, in API Gateway's shape for its own errors."""
    return Response(json.dumps({"message": message}), status=status, content_type="application/json")
