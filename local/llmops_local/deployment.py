"""Creating the template's resources in the emulated AWS account (moto), the way CloudFormation would.

Each supported resource type has a creator; resources are created once their references can be resolved.
Functions are not created in moto: their specs are kept for the in-process dispatcher.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_local.template import ACCOUNT_ID, Resolver, TemplateError

# Resource types that local mode stands in for by other means, or that have no local effect.
NOT_EMULATED = {
    "AWS::OpenSearchServerless::Collection": "stood in for by LanceDB (VECTOR_STORE=lancedb)",
    "AWS::OpenSearchServerless::SecurityPolicy": "no local effect",
    "AWS::OpenSearchServerless::AccessPolicy": "no local effect",
    "AWS::Serverless::LayerVersion": "the layer's package is installed in the local environment",
    "AWS::Logs::LogGroup": "function logs go to the local runtime's console",
    "AWS::SQS::QueuePolicy": "moto does not enforce queue policies",
    "AWS::IAM::Role": "moto does not enforce IAM",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM",
    "AWS::CloudWatch::Alarm": "no local effect",
}
_GLOBAL_ENVIRONMENT = "__GlobalsEnvironment"


SQS_DEFAULT_BATCH_SIZE = 10  # what Lambda uses for an SQS event source that sets no BatchSize


def sqs_batch_size(event_properties: Mapping[str, Any]) -> int:
    """Messages per invocation of an SQS event source of a function in the template."""
    return int(event_properties.get("BatchSize", SQS_DEFAULT_BATCH_SIZE))


@dataclass(frozen=True)
class SqsEventSource:
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class ApiRoute:
    api: str
    path: str
    method: str


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_mb: int
    sqs_sources: list[SqsEventSource] = field(default_factory=list)
    api_routes: list[ApiRoute] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return function_arn(self.name)


def function_arn(name: str, region: str = "us-east-1") -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


@dataclass
class Deployment:
    """What was created: names the CLI and tests need, and the functions to dispatch to."""

    stack_name: str
    region: str
    buckets: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> why
    # Custom resources run once the functions can: logical id -> (type, resolved properties).
    custom_resources: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack_name": self.stack_name,
            "region": self.region,
            "buckets": self.buckets,
            "tables": self.tables,
            "queues": self.queues,
            "state_machines": self.state_machines,
            "functions": {logical: spec.name for logical, spec in self.functions.items()},
        }


class LocalDeployer:
    def __init__(self, template: dict[str, Any], root: Path, resolver: Resolver, clients: Callable[[str], Any]) -> None:
        self._template = template
        self._root = root
        self._resolver = resolver
        self._client = clients
        self._globals = template.get("Globals", {}).get("Function", {})
        self.deployment = Deployment(stack_name=resolver.stack_name, region=resolver.region)
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::Table": self._table,
            "AWS::SQS::Queue": self._queue,
            "AWS::Events::Rule": self._rule,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::Api": self._api,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Events::EventBus": self._event_bus,
        }

    def _creator(self, kind: str) -> Callable[[str, dict[str, Any]], None] | None:
        if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource":
            return lambda logical, properties: self._custom_resource(logical, kind, properties)
        return self._creators.get(kind)

    def deploy(self) -> Deployment:
        resources: dict[str, dict[str, Any]] = self._template["Resources"]
        for logical, resource in resources.items():
            if self._creator(resource["Type"]) is None:
                self._resolver.not_emulated.add(logical)
                self.deployment.skipped[logical] = NOT_EMULATED.get(resource["Type"], "not emulated locally")
        pending = {k: v for k, v in resources.items() if self._creator(v["Type"]) is not None}
        self._reserve_names(pending)
        # Create in dependency order: a resource whose properties still refer to a missing one waits a round.
        while pending:
            ready = [k for k, v in pending.items() if not self._resolver.depends_on_missing(self._deferred(v))]
            if not ready:
                raise TemplateError(f"cannot resolve references among {sorted(pending)}")
            for logical in ready:
                resource = pending.pop(logical)
                creator = self._creator(resource["Type"])
                assert creator is not None
                creator(logical, self._resolver.resolve(self._deferred(resource)))
        return self.deployment

    def _deferred(self, resource: dict[str, Any]) -> dict[str, Any]:
        properties = dict(resource.get("Properties", {}))
        if resource["Type"] == "AWS::Serverless::Function":
            # A function also depends on what its Globals environment refers to.
            properties[_GLOBAL_ENVIRONMENT] = self._globals.get("Environment", {}).get("Variables", {})
        return properties

    def _code_dir(self, properties: Mapping[str, Any]) -> Path:
        return (self._root / properties.get("CodeUri", self._globals.get("CodeUri", "."))).resolve()

    def _physical_name(self, logical: str) -> str:
        return f"{self._resolver.stack_name}-{logical}".lower()

    def _reserve_names(self, resources: dict[str, dict[str, Any]]) -> None:
        """Names and ARNs are known before creation, so references between resources resolve in any order."""
        region = self._resolver.region
        for logical, resource in resources.items():
            name = self._physical_name(logical)
            kind = resource["Type"]
            if kind == "AWS::Serverless::Function":
                self._resolver.refs[logical] = name
                self._resolver.attributes[(logical, "Arn")] = function_arn(name, region)
                if alias := resource.get("Properties", {}).get("AutoPublishAlias"):
                    # SAM publishes a new version when the code changes; locally the version is named by a digest of
                    # the code package, so that what refers to it (a custom resource's property) changes with it.
                    version = code_version(self._code_dir(resource.get("Properties", {})))
                    self._resolver.refs[f"{logical}.Version"] = f"{function_arn(name, region)}:{version}"
                    self._resolver.refs[f"{logical}.Alias"] = f"{function_arn(name, region)}:{alias}"
            elif kind == "AWS::Events::Rule":
                self._resolver.refs[logical] = name
                self._resolver.attributes[(logical, "Arn")] = f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{name}"
            elif kind == "AWS::Serverless::StateMachine":
                arn = f"arn:aws:states:{region}:{ACCOUNT_ID}:stateMachine:{name}"
                self._resolver.refs[logical] = arn
                self._resolver.attributes[(logical, "Arn")] = arn
                self._resolver.attributes[(logical, "Name")] = name
            elif kind == "AWS::Serverless::Api":
                self._resolver.refs[logical] = name

    def _bucket(self, logical: str, properties: dict[str, Any]) -> None:
        name = properties.get("BucketName") or self._physical_name(logical)
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name)
        if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self.deployment.buckets[logical] = name
        self._resolver.refs[logical] = name
        self._resolver.attributes[(logical, "Arn")] = f"arn:aws:s3:::{name}"

    def enable_bucket_notifications(self) -> None:
        """Turned on after local state is restored, so restoring objects does not look like new uploads."""
        s3 = self._client("s3")
        for logical, resource in self._template["Resources"].items():
            if resource["Type"] != "AWS::S3::Bucket":
                continue
            notification = resource.get("Properties", {}).get("NotificationConfiguration", {})
            if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=self.deployment.buckets[logical],
                    NotificationConfiguration={"EventBridgeConfiguration": {}},
                )

    def _table(self, logical: str, properties: dict[str, Any]) -> None:
        name = properties.get("TableName") or self._physical_name(logical)
        arguments: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "KeySchema": properties["KeySchema"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if arguments["BillingMode"] == "PROVISIONED":
            arguments["ProvisionedThroughput"] = properties.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification"):
            if optional in properties:
                arguments[optional] = properties[optional]
        self._client("dynamodb").create_table(**arguments)
        self.deployment.tables[logical] = name
        self._resolver.refs[logical] = name
        self._resolver.attributes[(logical, "Arn")] = (
            f"arn:aws:dynamodb:{self._resolver.region}:{ACCOUNT_ID}:table/{name}"
        )

    def _queue(self, logical: str, properties: dict[str, Any]) -> None:
        name = properties.get("QueueName") or self._physical_name(logical)
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in properties:
                attributes[key] = str(properties[key])
        if "RedrivePolicy" in properties:
            attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
        if properties.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        url = self._client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.deployment.queues[logical] = url
        self._resolver.refs[logical] = url
        self._resolver.attributes[(logical, "Arn")] = f"arn:aws:sqs:{self._resolver.region}:{ACCOUNT_ID}:{name}"
        self._resolver.attributes[(logical, "QueueName")] = name
        self._resolver.attributes[(logical, "QueueUrl")] = url

    def _event_bus(self, logical: str, properties: dict[str, Any]) -> None:
        name = properties.get("Name") or self._physical_name(logical)
        arn = self._client("events").create_event_bus(Name=name)["EventBusArn"]
        self._resolver.refs[logical] = name
        self._resolver.attributes[(logical, "Arn")] = arn
        self._resolver.attributes[(logical, "Name")] = name

    def _rule(self, logical: str, properties: dict[str, Any]) -> None:
        name = properties.get("Name") or self._physical_name(logical)
        events = self._client("events")
        bus = properties.get("EventBusName", "default")
        arguments: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": properties.get("State", "ENABLED")}
        if "EventPattern" in properties:
            arguments["EventPattern"] = json.dumps(properties["EventPattern"])
        if "ScheduleExpression" in properties:
            arguments["ScheduleExpression"] = properties["ScheduleExpression"]
        events.put_rule(**arguments)
        targets = [{"Id": t["Id"], "Arn": t["Arn"]} for t in properties.get("Targets", [])]
        unsupported = [t["Arn"] for t in targets if ":sqs:" not in t["Arn"]]
        if unsupported:
            raise TemplateError(f"{logical}: local mode routes rules to SQS targets only, not {unsupported}")
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    def _function(self, logical: str, properties: dict[str, Any]) -> None:
        merged_env = {
            **properties.get(_GLOBAL_ENVIRONMENT, {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        code_dir = self._code_dir(properties)
        spec = FunctionSpec(
            logical_id=logical,
            name=properties.get("FunctionName") or self._physical_name(logical),
            code_dir=code_dir,
            handler=properties.get("Handler", self._globals.get("Handler", "app.lambda_handler")),
            environment={key: str(value) for key, value in merged_env.items()},
            timeout=int(properties.get("Timeout", self._globals.get("Timeout", 3))),
            memory_mb=int(properties.get("MemorySize", self._globals.get("MemorySize", 128))),
        )
        for event_name, event in properties.get("Events", {}).items():
            kind, event_properties = event["Type"], event.get("Properties", {})
            if kind == "SQS":
                spec.sqs_sources.append(
                    SqsEventSource(
                        queue_arn=event_properties["Queue"],
                        batch_size=sqs_batch_size(event_properties),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in event_properties.get("FunctionResponseTypes", []),
                    )
                )
            elif kind == "Api":
                spec.api_routes.append(
                    ApiRoute(
                        api=str(event_properties.get("RestApiId", "ServerlessRestApi")),
                        path=event_properties["Path"],
                        method=event_properties["Method"].upper(),
                    )
                )
            else:
                self.deployment.skipped[f"{logical}.{event_name}"] = f"event type {kind} is not emulated locally"
        self.deployment.functions[logical] = spec

    def _custom_resource(self, logical: str, kind: str, properties: dict[str, Any]) -> None:
        if "ServiceToken" not in properties:
            raise TemplateError(f"{logical}: a custom resource needs a ServiceToken")
        self.deployment.custom_resources[logical] = (kind, properties)

    def _api(self, logical: str, properties: dict[str, Any]) -> None:
        # Routes come from the functions' Api events; the local API server serves every stage at its root.
        self._resolver.refs[logical] = self._physical_name(logical)

    def _state_machine(self, logical: str, properties: dict[str, Any]) -> None:
        if "DefinitionUri" in properties:
            definition = (self._root / properties["DefinitionUri"]).read_text()
        else:
            definition = json.dumps(properties["Definition"])
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = self._resolver.attributes[(logical, "Name")]
        arn = self._client("stepfunctions").create_state_machine(
            name=name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-role",
            type=properties.get("Type", "STANDARD"),
        )["stateMachineArn"]
        self.deployment.state_machines[logical] = arn


def code_version(code_dir: Path) -> str:
    """A digest of a code package's files (their paths and contents): it changes exactly when the code does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in code_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(code_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
