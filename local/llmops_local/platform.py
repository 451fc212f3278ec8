"""The local platform: emulated AWS, the template deployed into it, functions wired to their event sources,
the API served over HTTP, and state kept across restarts."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from llmops_local import emulator_patches
from llmops_local.api_gateway import LocalApiServer, compile_route
from llmops_local.deployment import Deployment, LocalDeployer
from llmops_local.event_sources import SqsPoller
from llmops_local.functions import LocalFunction
from llmops_local.persistence import LocalStateStore
from llmops_local.template import Resolver, load_template, parameter_values, parse_parameter_overrides

log = logging.getLogger(__name__)

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # moto accepts any


class PlatformError(RuntimeError):
    pass


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding template.yaml: the current one or a parent, else the checkout this package came from."""
    for folder in [(start or Path.cwd()).resolve(), *(start or Path.cwd()).resolve().parents]:
        if (folder / "template.yaml").is_file():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "template.yaml").is_file():
        return checkout
    raise PlatformError("no template.yaml here or in a parent folder; run from the platform's checkout")


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Refuse a port another server listens on. Connections of a platform stopped a moment ago linger in TIME-WAIT
    for up to a minute; the servers bind with SO_REUSEADDR and start despite them, so the probe does too."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PlatformError(
                f"{what} port {host}:{port} is in use ({error.strerror}); is `llmops up` running already?"
            ) from error


@dataclass(frozen=True)
class PlatformConfig:
    project_root: Path
    home: Path
    host: str = "127.0.0.1"
    aws_port: int = 4566
    api_port: int = 3000
    config_env: str = "local"
    snapshot_seconds: float = 30.0
    log_level: str = "WARNING"


class LocalPlatform:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.deployment: Deployment | None = None
        self.functions: dict[str, LocalFunction] = {}
        self._moto: Any = None
        self._api: LocalApiServer | None = None
        self._pollers: list[SqsPoller] = []
        self._stop_snapshots = threading.Event()
        self._snapshot_thread: threading.Thread | None = None
        self._state = LocalStateStore(config.home / "state", self.client)
        self._deployer: LocalDeployer | None = None

    # -- endpoints ---------------------------------------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.config.aws_port}"

    @property
    def api_url(self) -> str:
        if self._api is None:
            raise PlatformError("the platform is not started")
        return self._api.url

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        emulator_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise

        ensure_port_free(self.config.host, self.config.aws_port, "AWS emulator")
        ensure_port_free(self.config.host, self.config.api_port, "API")
        self.config.home.mkdir(parents=True, exist_ok=True)
        self._moto = ThreadedMotoServer(ip_address=self.config.host, port=self.config.aws_port, verbose=False)
        self._moto.start()
        # moto's Step Functions engine calls Lambda through the server at this port.
        os.environ["MOTO_PORT"] = str(self.config.aws_port)
        # moto's state is per process, not per server: start from an empty account, then restore ours.
        requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(
            f"{self.aws_endpoint}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=10,
        ).raise_for_status()

        template = load_template(self.config.project_root / "template.yaml")
        overrides = self._samconfig_overrides()
        overrides["LanceDbUri"] = str(self.config.home / "vectors")
        resolver = Resolver(
            region=REGION,
            stack_name=self._stack_name(),
            parameters=parameter_values(template, overrides),
            conditions=template.get("Conditions", {}),
        )
        self._deployer = LocalDeployer(template, self.config.project_root, resolver, self.client)
        self.deployment = self._deployer.deploy()
        restored = self._state.restore(self.deployment.buckets, self.deployment.tables)
        if restored:
            log.info("restored %d objects and items from %s", restored, self.config.home / "state")
        self._deployer.enable_bucket_notifications()

        runtime_environment = {
            **CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self.config.log_level,
            "POWERTOOLS_IDEMPOTENCY_DISABLED": "false",
        }
        self.functions = {
            logical: LocalFunction(spec, runtime_environment) for logical, spec in self.deployment.functions.items()
        }
        self._register_functions_with_emulator()
        self._run_custom_resources(restored=bool(restored))
        self._start_event_sources()
        self._start_api()
        self._snapshot_thread = threading.Thread(target=self._snapshot_loop, name="local-snapshots", daemon=True)
        self._snapshot_thread.start()
        self._write_runtime_file()

    def stop(self) -> None:
        for function in self.functions.values():
            emulator_patches.unregister_function(function.spec.name)
        for poller in self._pollers:
            poller.stop()
        self._pollers.clear()
        if self._api is not None:
            self._api.stop()
        self._stop_snapshots.set()
        if self._snapshot_thread is not None:
            self._snapshot_thread.join(timeout=30)
        if self.deployment is not None:
            self._state.snapshot(self.deployment.buckets, self.deployment.tables)
        if self._moto is not None:
            self._moto.stop()
        self.runtime_file.unlink(missing_ok=True)

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- wiring ------------------------------------------------------------------------------------------------
    def _samconfig_overrides(self) -> dict[str, str]:
        samconfig = self.config.project_root / "samconfig.toml"
        if not samconfig.exists():
            return {}
        document = tomllib.loads(samconfig.read_text())
        section = document.get(self.config.config_env, {}).get("deploy", {}).get("parameters", {})
        return parse_parameter_overrides(section.get("parameter_overrides", ""))

    def _stack_name(self) -> str:
        samconfig = self.config.project_root / "samconfig.toml"
        if samconfig.exists():
            document = tomllib.loads(samconfig.read_text())
            name = document.get(self.config.config_env, {}).get("deploy", {}).get("parameters", {}).get("stack_name")
            if name:
                return str(name)
        return "llmops-local"

    def _run_custom_resources(self, restored: bool) -> None:
        """The template's custom resources (PromptCatalogSync publishes prompts/*.yaml), after state is restored so
        that restored prompt versions count, as a stack update finds them. As on a stack update, one whose properties
        are what they were at the last start is not called: unchanged prompt files publish nothing, so a start does
        not add a version on top of those published since through the API."""
        assert self.deployment is not None
        from llmops_local.custom_resources import CustomResourceFailed, run_custom_resources

        record = self.config.home / "custom_resources.json"
        applied = self._applied_custom_resources(record) if restored else None
        try:
            responses = run_custom_resources(self.deployment, self.functions, applied)
        except CustomResourceFailed as error:
            raise PlatformError(f"deploying the template failed: {error}") from error
        for logical, response in responses.items():
            log.info("%s: %s", logical, ", ".join(f"{k} {v}" for k, v in response.get("Data", {}).items()) or "done")
        current = {logical: properties for logical, (_, properties) in self.deployment.custom_resources.items()}
        temporary = record.with_suffix(".tmp")
        temporary.write_text(json.dumps(current, indent=2))
        temporary.replace(record)

    @staticmethod
    def _applied_custom_resources(record: Path) -> dict[str, Any] | None:
        """The properties the custom resources were last applied with; None where unknown, so each is created again
        (a sync that publishes only prompt files that differ from their latest version)."""
        try:
            applied = json.loads(record.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("%s is unreadable (%s); the custom resources run as on a new stack", record, error)
            return None
        return applied if isinstance(applied, dict) else None

    def _register_functions_with_emulator(self) -> None:
        """Functions exist in the emulated Lambda service (so state machines can call them by ARN) and run here."""
        iam, lambda_client = self.client("iam"), self.client("lambda")
        role_arn = iam.create_role(
            RoleName="llmops-local-function-role",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("README.txt", "Local mode runs this function's handler in-process.")
        for function in self.functions.values():
            lambda_client.create_function(
                FunctionName=function.spec.name,
                Runtime="python3.12",
                Role=role_arn,
                Handler=function.spec.handler,
                Code={"ZipFile": package.getvalue()},
                Timeout=function.spec.timeout,
                MemorySize=function.spec.memory_mb,
            )
            emulator_patches.register_function(function.spec.name, function.dispatch)

    def _start_event_sources(self) -> None:
        assert self.deployment is not None
        queue_urls = {
            f"arn:aws:sqs:{REGION}:123456789012:{url.rsplit('/', 1)[-1]}": url
            for url in self.deployment.queues.values()
        }
        sqs = self.client("sqs")
        for function in self.functions.values():
            for source in function.spec.sqs_sources:
                if source.queue_arn not in queue_urls:
                    raise PlatformError(f"{function.spec.logical_id}: queue {source.queue_arn} is not in the template")
                poller = SqsPoller(sqs, queue_urls[source.queue_arn], source, function, REGION)
                poller.start()
                self._pollers.append(poller)

    def _start_api(self) -> None:
        routes = [
            compile_route(route.method, route.path, function)
            for function in self.functions.values()
            for route in function.spec.api_routes
        ]
        stage = self._deployer._resolver.parameters.get("Stage", "local") if self._deployer else "local"
        self._api = LocalApiServer(routes, self.config.host, self.config.api_port, stage)
        self._api.start()

    def _snapshot_loop(self) -> None:
        while not self._stop_snapshots.wait(self.config.snapshot_seconds):
            try:
                assert self.deployment is not None
                self._state.snapshot(self.deployment.buckets, self.deployment.tables)
            except Exception:
                log.exception("snapshot of local state failed")

    # -- discovery by other processes (the CLI) ----------------------------------------------------------------
    @property
    def runtime_file(self) -> Path:
        return self.config.home / "runtime.json"

    def _write_runtime_file(self) -> None:
        assert self.deployment is not None
        info = {
            "pid": os.getpid(),
            "aws_endpoint": self.aws_endpoint,
            "api_url": self.api_url,
            **self.deployment.to_json(),
        }
        self.runtime_file.write_text(json.dumps(info, indent=1))
