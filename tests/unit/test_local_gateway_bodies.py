"""Request bodies through the local API gateway: a chunked body reaches the handler in full, as API Gateway passes it,
and a body over API Gateway's 10 MB payload quota is refused with 413 before any handler runs. The HTTP is werkzeug's
server; these tests check what the platform's gateway makes of it."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops_local.api_gateway import MAX_PAYLOAD_BYTES, LocalApiServer, compile_route
from llmops_local.deployment import FunctionSpec
from llmops_local.functions import LocalFunction

# Records what it was given (one line per call) and answers with it, so a test can tell both what arrived and whether
# the function ran at all.
HANDLER = """
import base64
import hashlib
import json
import os

def lambda_handler(event, context):
    body = event["body"] or ""
    data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
    seen = {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    with open(os.environ["CALLS_FILE"], "a") as calls:
        calls.write(json.dumps(seen) + "\\n")
    headers = {"Content-Type": "application/json", "X-Seen-Request-Id": event["requestContext"]["requestId"]}
    return {"statusCode": 200, "headers": headers, "body": json.dumps(seen)}
"""

# Long enough for a loopback transfer of a little over 10 MB; short enough that a server waiting for bytes that never
# come fails the test instead of hanging it.
SOCKET_TIMEOUT_SECONDS = 10.0


class Gateway:
    def __init__(self, server: LocalApiServer, calls_file: Path) -> None:
        self.server = server
        self._calls_file = calls_file

    @property
    def port(self) -> int:
        return int(self.server.url.rsplit(":", 1)[1])

    def calls(self) -> list[dict[str, Any]]:
        if not self._calls_file.exists():
            return []
        return [json.loads(line) for line in self._calls_file.read_text().splitlines()]

    def post(self, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST with http.client: bytes go with a Content-Length, an iterator chunked (http.client's own framing)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=SOCKET_TIMEOUT_SECONDS)
        try:
            connection.request("POST", "/echo", body=body, headers={"Content-Type": "text/plain", **(headers or {})})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def send_raw(self, request: bytes) -> tuple[int, Any]:
        """Write `request` as is, then read the whole answer (the gateway closes the connection after it)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=SOCKET_TIMEOUT_SECONDS) as connection:
            connection.sendall(request)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), json.loads(payload)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    code_dir = tmp_path / "EchoFunction"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER)
    calls_file = tmp_path / "calls.jsonl"
    spec = FunctionSpec(
        logical_id="EchoFunction",
        name="llmops-local-echofunction",
        code_dir=code_dir,
        handler="app.lambda_handler",
        environment={"CALLS_FILE": str(calls_file)},
        timeout=30,
        memory_mb=256,
    )
    function = LocalFunction(spec, {})
    server = LocalApiServer([compile_route("POST", "/echo", function)], "127.0.0.1", 0, "local")
    server.start()
    try:
        yield Gateway(server, calls_file)
    finally:
        server.stop()


def _seen(data: bytes) -> dict[str, Any]:
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


TOO_LARGE = {"message": f"HTTP content length exceeded {MAX_PAYLOAD_BYTES} bytes."}


def test_given_a_chunked_body_then_the_handler_gets_all_of_it(gateway: Gateway) -> None:
    # As `requests` sends a generator body, or curl -H 'Transfer-Encoding: chunked': no Content-Length at all.
    data = b"".join(f"line {n}: some text to ask about\n".encode() for n in range(20_000))

    status, answer = gateway.post(_chunks(data, 70_000))

    assert status == 200
    assert answer == _seen(data)
    assert gateway.calls() == [_seen(data)]


def test_given_chunked_framing_the_server_cannot_read_then_400_in_the_gateways_shape_and_no_handler_runs(
    gateway: Gateway,
) -> None:
    # werkzeug's server reads no chunk extensions (";name=value"); no common client sends them.
    request = (
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;note=first\r\nhello\r\n0\r\n\r\n"
    )

    status, answer = gateway.send_raw(request)

    assert status == 400 and answer["message"].startswith("Unreadable request body: ")
    assert gateway.calls() == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_given_a_body_of_exactly_the_payload_quota_then_it_is_passed_on(gateway: Gateway, framing: str) -> None:
    data = b"a" * MAX_PAYLOAD_BYTES

    status, answer = gateway.post(data if framing == "content-length" else _chunks(data, 1024 * 1024))

    assert (status, answer) == (200, _seen(data))


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_given_a_body_over_the_payload_quota_then_413_and_the_handler_is_not_called(
    gateway: Gateway, framing: str
) -> None:
    # The client sends the whole body before it reads the answer, as `requests` and curl without Expect do.
    data = b"a" * (MAX_PAYLOAD_BYTES + 1)

    status, answer = gateway.post(data if framing == "content-length" else _chunks(data, 1024 * 1024))

    assert (status, answer) == (413, TOO_LARGE)
    assert gateway.calls() == []


def test_given_a_declared_length_over_the_quota_then_413_comes_before_any_of_the_body(gateway: Gateway) -> None:
    # The gateway decides from the header: it neither waits for nor buffers a body it is going to refuse.
    request = f"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {MAX_PAYLOAD_BYTES + 1}\r\n\r\n".encode()

    status, answer = gateway.send_raw(request)

    assert (status, answer) == (413, TOO_LARGE)
    assert gateway.calls() == []


def test_every_answer_names_its_request_with_the_id_the_function_got(gateway: Gateway) -> None:
    # As API Gateway does: x-amzn-RequestId is requestContext.requestId, which guardrail events and logs carry.
    ids = []
    for _ in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=SOCKET_TIMEOUT_SECONDS)
        connection.request("POST", "/echo", body=b"{}")
        response = connection.getresponse()
        response.read()
        connection.close()
        ids.append(response.getheader("x-amzn-RequestId"))
        assert ids[-1] and ids[-1] == response.getheader("X-Seen-Request-Id")
    assert ids[0] != ids[1]
