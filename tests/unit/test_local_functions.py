"""Functions share one process locally; on Lambda each has its own. What a function logs must still name the
function's own service (its template POWERTOOLS_SERVICE_NAME), whichever function was loaded first, and so must what
the layer's modules log while the function runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_local.deployment import FunctionSpec
from llmops_local.functions import LocalFunction

HANDLER = """
import logging

from llmops.observability import logger

layer_logger = logging.getLogger("llmops.domain.probe")  # as the layer's modules log

def lambda_handler(event, context):
    logger.info("handled")
    layer_logger.info("in the layer")
    return logger.service
"""


def _function(code_root: Path, logical_id: str, service: str) -> LocalFunction:
    code_dir = code_root / logical_id
    code_dir.mkdir()
    (code_dir / "app.py").write_text(HANDLER)
    spec = FunctionSpec(
        logical_id=logical_id,
        name=f"llmops-local-{logical_id.lower()}",
        code_dir=code_dir,
        handler="app.lambda_handler",
        environment={"POWERTOOLS_SERVICE_NAME": service},
        timeout=30,
        memory_mb=256,
    )
    return LocalFunction(spec, {"POWERTOOLS_LOG_LEVEL": "INFO"})


def test_given_two_functions_in_one_process_then_each_logs_under_its_own_service_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = _function(tmp_path, "QueryFunction", "query")
    prompts = _function(tmp_path, "PromptsFunction", "prompts")

    served = [query.invoke({}), prompts.invoke({}), query.invoke({})]

    assert served == ["query", "prompts", "query"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(line["message"], line["service"]) for line in logged] == [
        ("handled", "query"),
        ("in the layer", "query"),
        ("handled", "prompts"),
        ("in the layer", "prompts"),
        ("handled", "query"),
        ("in the layer", "query"),
    ]
