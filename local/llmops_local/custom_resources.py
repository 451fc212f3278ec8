"""Custom resources of the template, run as CloudFormation runs them: their function is invoked with a Create
request (a new local home) or, where its properties changed since they were last applied, an Update; one whose
properties are unchanged is not called. It answers at the request's ResponseURL, served here."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llmops_local.deployment import Deployment
from llmops_local.functions import LocalFunction
from llmops_local.template import ACCOUNT_ID


class CustomResourceFailed(RuntimeError):
    """A custom resource answered FAILED, or never answered; the message carries its reason."""


@contextmanager
def response_receiver() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A loopback HTTP endpoint that keeps each PUT body by its path, as CloudFormation's pre-signed URLs do."""
    received: dict[str, dict[str, Any]] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            received[self.path.lstrip("/")] = json.loads(self.rfile.read(length) or b"{}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, name="custom-resource-responses", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def run_custom_resources(
    deployment: Deployment,
    functions: Mapping[str, LocalFunction],
    applied: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each called custom resource's response, by logical id; the first one that fails stops the start, with its
    reason. `applied` holds the properties each resource was last created or updated with (None: a new stack)."""
    by_arn = {function.spec.arn: function for function in functions.values()}
    stack_id = f"arn:aws:cloudformation:{deployment.region}:{ACCOUNT_ID}:stack/{deployment.stack_name}/local"
    responses = {}
    with response_receiver() as (url, received):
        for logical, (kind, properties) in deployment.custom_resources.items():
            previous = (applied or {}).get(logical)
            if previous == properties:
                continue  # CloudFormation updates a resource only when its properties change
            function = by_arn.get(str(properties["ServiceToken"]))
            if function is None:
                raise CustomResourceFailed(f"{logical}: its ServiceToken is not a function of this template")
            request_id = str(uuid.uuid4())
            event = {
                "RequestType": "Create" if previous is None else "Update",
                "ResponseURL": f"{url}/{request_id}",
                "StackId": stack_id,
                "RequestId": request_id,
                "ResourceType": kind,
                "LogicalResourceId": logical,
                "ResourceProperties": properties,
            }
            if previous is not None:
                event["PhysicalResourceId"] = logical
                event["OldResourceProperties"] = dict(previous)
            function.invoke(event)
            response = received.get(request_id)
            if response is None:
                raise CustomResourceFailed(
                    f"{logical} ({kind}): its function returned without answering CloudFormation"
                )
            if response.get("Status") != "SUCCESS":
                raise CustomResourceFailed(f"{logical} ({kind}) failed: {response.get('Reason', 'no reason given')}")
            responses[logical] = response
    return responses
