"""Reading template.yaml: CloudFormation short-form tags, parameters, conditions and intrinsic functions.

The local runtime resolves only what it needs to emulate a resource; anything that refers to a resource local
mode does not emulate (OpenSearch Serverless, IAM roles, log groups) resolves to an empty string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"  # moto's default account


class TemplateError(ValueError):
    pass


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        template = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader plus CloudFormation tags
    if not isinstance(template, dict) or "Resources" not in template:
        raise TemplateError(f"{path} is not a CloudFormation/SAM template (no Resources)")
    return template


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """samconfig's `parameter_overrides = "A=1 B=two"` (values may be quoted)."""
    return {key: value.strip("\"'") for key, value in re.findall(r"(\w+)=(\"[^\"]*\"|'[^']*'|\S+)", text)}


@dataclass
class Resolver:
    """Evaluates intrinsic functions against parameters and the physical resources created so far."""

    region: str
    stack_name: str
    parameters: dict[str, str]
    conditions: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    not_emulated: set[str] = field(default_factory=set)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        if (value := self.pseudo(name)) is not None:
            return value
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if self._is_not_emulated(name):
            return ""
        raise TemplateError(f"!Ref {name}: not created yet or unknown")

    def get_att(self, logical: str, attribute: str) -> str:
        if (logical, attribute) in self.attributes:
            return self.attributes[(logical, attribute)]
        if self._is_not_emulated(logical):
            return ""
        raise TemplateError(f"!GetAtt {logical}.{attribute}: not created yet or unknown")

    def _is_not_emulated(self, name: str) -> bool:
        # SAM's implicit resources (IngestFunctionRole, ...) are named after the resource that makes them.
        return name in self.not_emulated or any(name.startswith(base) for base in self.not_emulated)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(self.conditions[name]))

    def depends_on_missing(self, value: Any) -> bool:
        """Whether resolving `value` would need a resource that has not been created yet."""
        try:
            self.resolve(value)
        except TemplateError:
            return True
        return False

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return _NO_VALUE if argument == "AWS::NoValue" else self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in argument)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(argument[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in argument)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in argument)
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Join":
                separator, items = argument
                return separator.join(str(v) for v in self.resolve(items))
            if key == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(argument))
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        local = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return str(local[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    declared = template.get("Parameters", {})
    for name, spec in declared.items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            raise TemplateError(f"parameter {name} has no default and no override")
        allowed = spec.get("AllowedValues")
        if allowed and str(value) not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        values[name] = str(value)
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"unknown parameters in overrides: {sorted(unknown)}")
    return values
