"""Contract checks: sample events parse with the models their handlers use; the layer's requirements match."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    S3EventNotificationEventBridgeModel,
    SqsModel,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _ingest_event(event: dict[str, Any]) -> None:
    for record in SqsModel.model_validate(event).Records:
        S3EventNotificationEventBridgeModel.model_validate_json(record.body)


def _query_event(event: dict[str, Any]) -> None:
    from tests.template.handler_modules import load_handler_module

    request_model = load_handler_module("query").QueryRequest
    parsed = APIGatewayProxyEventModel.model_validate(event)
    request_model.model_validate_json(parsed.body or "")


PARSERS: dict[str, Callable[[dict[str, Any]], None]] = {"ingest": _ingest_event, "query": _query_event}


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "events").glob("*.json")), ids=lambda p: p.name)
def test_every_sample_event_parses_with_its_function_model(path: Path) -> None:
    function = path.stem.split("_", 1)[0]

    assert function in PARSERS, f"{path.name}: name sample events <function>_<case>.json; known: {sorted(PARSERS)}"
    PARSERS[function](json.loads(path.read_text()))


def _names(requirements: list[str]) -> dict[str, str]:
    return {re.split(r"[\[<>=!~ ]", line, maxsplit=1)[0].lower(): line.replace(" ", "") for line in requirements}


def test_layer_requirements_are_the_package_dependencies_without_boto3() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    declared = _names([d for d in pyproject["project"]["dependencies"] if not d.startswith("boto3")])
    lines = (PROJECT_ROOT / "layers/core/requirements.txt").read_text().splitlines()
    layer = _names([line.strip() for line in lines if line.strip() and not line.startswith("#")])

    assert layer == declared


def test_every_function_environment_variable_is_a_setting_or_read_by_powertools() -> None:
    from llmops.settings import Settings
    from llmops_local.template import load_template

    template = load_template(PROJECT_ROOT / "template.yaml")
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    settings = {field.alias for field in Settings.model_fields.values()}

    # A misspelt variable would be ignored silently (Settings ignores unknown names) and its default used instead.
    assert {name for name in names - settings if not name.startswith("POWERTOOLS_")} == set()
