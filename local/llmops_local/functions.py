"""Lambda functions run in-process: each handler module is loaded once (its cold start) under the environment the
template gives it, and every invocation runs under that environment again.

Invocations are serialised: functions share one process, so their environments must not overlap in time.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from llmops_local.deployment import FunctionSpec

_invocation_lock = threading.RLock()

# Each Lambda function has a process of its own, so its own Powertools Logger, Metrics and Tracer, named from its own
# POWERTOOLS_* variables. Sharing one process here, every handler module is loaded with a fresh copy of the module
# that makes them, and the layer's logs are routed through the invoked function's Logger on each invocation.
OBSERVABILITY_MODULE = "llmops.observability"


@contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class LocalLambdaContext:
    """The attributes and method of the Lambda context object that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    def __init__(self, spec: FunctionSpec, runtime_environment: Mapping[str, str]) -> None:
        self.spec = spec
        self._environment = {
            **spec.environment,
            **runtime_environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
        }
        self._module: ModuleType | None = None
        self._observability: ModuleType | None = None

    @property
    def environment(self) -> dict[str, str]:
        return dict(self._environment)

    def _load(self) -> ModuleType:
        module_name, _, _ = self.spec.handler.rpartition(".")
        path = self.spec.code_dir / f"{module_name.replace('.', '/')}.py"
        sys.modules.pop(OBSERVABILITY_MODULE, None)
        if not path.is_file():
            # As in Lambda, a module that is not in the code package is looked up in the layers (here: installed).
            try:
                return importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                raise FileNotFoundError(
                    f"{self.spec.logical_id}: handler module {module_name} is neither {path} nor in a layer"
                ) from error
        unique_name = f"llmops_function_{self.spec.logical_id}"
        spec = importlib.util.spec_from_file_location(unique_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique_name] = module
        spec.loader.exec_module(module)
        return module

    def dispatch(self, function_name: str, event: Any) -> Any:
        """The emulator's entry point (Step Functions tasks, `lambda invoke`)."""
        return self.invoke(event)

    def invoke(self, event: Any) -> Any:
        with _invocation_lock, function_environment(self._environment):
            if self._module is None:
                self._module = self._load()
                self._observability = sys.modules.get(OBSERVABILITY_MODULE)
            if self._observability is not None:
                self._observability.route_platform_logs()
            handler = getattr(self._module, self.spec.handler.rpartition(".")[2])
            context = LocalLambdaContext(
                function_name=self.spec.name,
                memory_limit_in_mb=self.spec.memory_mb,
                invoked_function_arn=self.spec.arn,
                timeout_seconds=self.spec.timeout,
            )
            return handler(event, context)
