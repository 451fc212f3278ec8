"""PromptCatalogSync: the CloudFormation custom resource that publishes prompts/*.yaml into the prompt catalog at
every deployment, so a plain `sam deploy` leaves the catalog holding the repository's prompts.

The function's code package is the prompt files themselves (CodeUri: prompts/, in LAMBDA_TASK_ROOT at run time), which
is why this handler lives in the layer. CloudFormation waits for the result at the request's ResponseURL: every
request is answered there, a failure with its reason, so a bad prompt file fails the deployment saying which file
and what to change, instead of leaving the stack waiting for an hour. So does a sync that would make the configured
answer prompt (ANSWER_PROMPT_NAME at ANSWER_PROMPT_REF, rag-answer@prod) a version that cannot answer; either way
nothing is published.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import urllib3
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from llmops.adapters.prompt_files import sync_into_store
from llmops.composition import build_prompt_store
from llmops.domain.errors import describe_problems
from llmops.domain.prompts import SyncOutcome
from llmops.observability import logger
from llmops.settings import Settings

PHYSICAL_RESOURCE_ID = "prompt-catalog-sync"
# Transient failures of the pre-signed S3 URL are retried with backoff; the answer is small and idempotent.
RESPONSE_RETRIES = urllib3.Retry(total=3, backoff_factor=1, status_forcelist=(500, 502, 503, 504))
REASON_LIMIT = 3000  # CloudFormation shows the reason in stack events; keep well under its 4 KiB response limit


class CustomResourceRequest(BaseModel):
    """The fields of a CloudFormation custom resource request that the response needs."""

    model_config = ConfigDict(extra="ignore")

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: AnyHttpUrl = Field(alias="ResponseURL")
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    properties: dict[str, Any] = Field(default_factory=dict, alias="ResourceProperties")


class SyncProperties(BaseModel):
    """The custom resource's properties (ServiceToken and FilesVersion, which only triggers updates, are ignored)."""

    model_config = ConfigDict(extra="ignore")

    alias: str | None = Field(default="prod", alias="Alias")
    # CloudFormation passes every property as a string.
    only_where_missing: bool = Field(default=True, alias="OnlyWhereMissing")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CustomResourceRequest.model_validate(event)  # without a ResponseURL there is no one to answer
    try:
        data = _handle(request)
    except Exception as error:  # any failure must reach CloudFormation, or the stack waits an hour
        logger.exception("Prompt catalog sync failed", extra={"request_type": request.request_type})
        return _respond(request, "FAILED", reason=str(error) or type(error).__name__)
    return _respond(request, "SUCCESS", data=data)


def _handle(request: CustomResourceRequest) -> dict[str, str]:
    if request.request_type == "Delete":
        return {}  # the catalog's table goes with the stack (or is kept by its own policy); nothing to undo here
    try:
        properties = SyncProperties.model_validate(request.properties)
    except ValidationError as error:
        raise ValueError(describe_problems(error.errors(), whole="PromptCatalogSync properties")) from error
    folder = Path(os.environ.get("LAMBDA_TASK_ROOT", "."))
    settings = Settings()
    outcomes = sync_into_store(
        build_prompt_store(settings),
        folder,
        properties.alias,
        only_where_missing=properties.only_where_missing,
        # A first deployment must not make prod a rag-answer file that cannot answer: every question would fail.
        answer_prompt=(settings.answer_prompt_name, settings.answer_prompt_ref),
    )
    published = ", ".join(f"{o.name}@{o.version}{_what_changed(o)}" for o in outcomes)
    logger.info("Prompt files published", extra={"prompts": published, "folder": str(folder)})
    return {"Prompts": published}


def _what_changed(outcome: SyncOutcome) -> str:
    changes = (["new version"] if outcome.created else []) + ([f"{outcome.alias} set"] if outcome.alias_moved else [])
    return f" ({', '.join(changes)})" if changes else ""


def _respond(
    request: CustomResourceRequest, status: Literal["SUCCESS", "FAILED"], *, reason: str = "", data: dict | None = None
) -> dict[str, Any]:
    response = {
        "Status": status,
        "Reason": reason[:REASON_LIMIT] or "See the function's log",
        "PhysicalResourceId": PHYSICAL_RESOURCE_ID,
        "StackId": request.stack_id,
        "RequestId": request.request_id,
        "LogicalResourceId": request.logical_resource_id,
        "Data": data or {},
    }
    # PoolManager.request, not urllib3.request: the runtime's own urllib3 may be 1.26.
    answer = urllib3.PoolManager().request(
        "PUT",
        str(request.response_url),  # http(s) only: the model refuses other schemes
        body=json.dumps(response).encode(),
        headers={"Content-Type": ""},  # the pre-signed URL is signed for an empty content type
        retries=RESPONSE_RETRIES,
        timeout=30,
    )
    if answer.status >= 400:
        raise RuntimeError(f"CloudFormation's ResponseURL refused the answer: {answer.status} {answer.data[:200]!r}")
    return response
