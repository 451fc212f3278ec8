"""Comprehend's and Bedrock Guardrails' PII entity types, named as Presidio names them (the platform's names,
whose table lives with the policies that use them: llmops.domain.guardrails).

Policies list entity types once, in these names, whichever detector runs. Types without a counterpart keep their
service's name (AWS_ACCESS_KEY, PASSWORD, ...), so a policy can still name them.
"""

from __future__ import annotations

from llmops.domain.guardrails import AWS_TO_PLATFORM


def platform_entity_type(aws_type: str) -> str:
    return AWS_TO_PLATFORM.get(aws_type, aws_type)
