"""The template's API routes served over HTTP as API Gateway REST (v1) proxy events.

Local mode does not check IAM signatures: the server listens on the loopback interface only.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llmops_local.functions import LocalFunction
from llmops_local.template import ACCOUNT_ID

log = logging.getLogger(__name__)


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


class LocalApiServer:
    def __init__(self, routes: list[Route], host: str, port: int, stage: str) -> None:
        self._routes = routes
        self._stage = stage
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("api: %s", format % args)

        self._host = host
        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._httpd.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        path = urlsplit(request.path).path
        matching = [route for route in self._routes if route.pattern.match(path)]
        route = next((r for r in matching if r.method in (method, "ANY")), None)
        if route is None:
            status = 405 if matching else 404
            self._reply(
                request,
                status,
                {"Content-Type": "application/json"},
                json.dumps(
                    {"message": "Missing Authentication Token" if status == 404 else "Method Not Allowed"}
                ).encode(),
            )
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        event = proxy_event(route, method, request.path, dict(request.headers.items()), body, self._stage)
        try:
            response = route.function.invoke(event)
        except Exception:
            log.exception("%s failed on %s %s", route.function.spec.logical_id, method, path)
            self._reply(request, 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')
            return
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._reply(request, int(response.get("statusCode", 200)), headers, data)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
