from __future__ import annotations

from pathlib import Path

import pytest

from llmops_local.template import (
    Resolver,
    TemplateError,
    load_template,
    parameter_values,
    parse_parameter_overrides,
)


def _resolver(**parameters: str) -> Resolver:
    return Resolver(
        region="us-east-1",
        stack_name="stack",
        parameters=parameters,
        conditions={"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
    )


def test_short_form_tags_load_as_intrinsic_functions(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  A:\n    Type: X\n    Properties:\n"
        "      Ref: !Ref B\n      Att: !GetAtt B.Arn\n      Sub: !Sub 'a-${B}'\n      If: !If [IsProd, 1, 2]\n"
    )

    properties = load_template(path)["Resources"]["A"]["Properties"]

    assert properties == {
        "Ref": {"Ref": "B"},
        "Att": {"Fn::GetAtt": ["B", "Arn"]},
        "Sub": {"Fn::Sub": "a-${B}"},
        "If": {"Fn::If": ["IsProd", 1, 2]},
    }


def test_intrinsics_resolve_against_parameters_resources_and_conditions() -> None:
    resolver = _resolver(Stage="prod")
    resolver.refs["Bucket"] = "my-bucket"
    resolver.attributes[("Queue", "Arn")] = "arn:aws:sqs:us-east-1:123456789012:q"

    value = resolver.resolve(
        {
            "name": {"Fn::Sub": "${AWS::StackName}-${Bucket}-${Queue.Arn}-${!Literal}"},
            "level": {"Fn::If": ["IsProd", "INFO", "DEBUG"]},
            "list": [{"Ref": "Bucket"}, {"Ref": "AWS::NoValue"}],
            "joined": {"Fn::Join": [",", ["a", {"Ref": "Stage"}]]},
        }
    )

    assert value == {
        "name": "stack-my-bucket-arn:aws:sqs:us-east-1:123456789012:q-${Literal}",
        "level": "INFO",
        "list": ["my-bucket"],
        "joined": "a,prod",
    }


def test_references_to_resources_local_mode_does_not_emulate_resolve_to_empty() -> None:
    resolver = _resolver()
    resolver.not_emulated.add("VectorCollection")

    assert resolver.resolve({"Fn::GetAtt": ["VectorCollection", "CollectionEndpoint"]}) == ""


def test_unknown_references_are_errors() -> None:
    with pytest.raises(TemplateError, match="Missing"):
        _resolver().resolve({"Ref": "Missing"})


def test_parameter_overrides_are_checked_against_the_template() -> None:
    template = {"Parameters": {"Stage": {"Default": "dev", "AllowedValues": ["dev", "prod"]}}}

    assert parameter_values(template, parse_parameter_overrides('Stage="prod"')) == {"Stage": "prod"}
    with pytest.raises(TemplateError, match="not one of"):
        parameter_values(template, {"Stage": "qa"})
    with pytest.raises(TemplateError, match="unknown parameters"):
        parameter_values(template, {"Nope": "1"})
