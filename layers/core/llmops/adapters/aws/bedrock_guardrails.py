"""Guardrail detectors on an Amazon Bedrock guardrail, through the ApplyGuardrail API.

One ApplyGuardrail call assesses a text for every policy the guardrail has, so the three detectors share it: the
assessment of a text is kept (a few, most recent first) and read for prompt attacks, sensitive information and the
harmful-content filters, with denied topics and word filters counted as toxicity. The platform's policy, not the
guardrail's own actions, decides what happens: the guardrail is asked for its full assessment and its findings
become hits like any detector's.

Bedrock reports confidence in steps; they become scores NONE 0, LOW 0.35, MEDIUM 0.65, HIGH 0.9, so the default
threshold (0.8) acts on HIGH only and 0.6 on MEDIUM and above. Sensitive information comes without offsets: every
occurrence of each match in the text is a span (score 1.0). Texts are assessed as INPUT, the source for which
Bedrock evaluates prompt attacks; the guardrail's filters should be configured for both directions alike.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import botocore
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import OperationNotFoundError

from llmops.adapters.aws.pii_entity_types import platform_entity_type
from llmops.domain.errors import GuardrailUnavailable
from llmops.domain.guardrails import CUSTOM_REGEX_PREFIX
from llmops.ports import PiiSpan, ToxicityScore

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

logger = logging.getLogger(__name__)

CONFIDENCE_SCORES = {"NONE": 0.0, "LOW": 0.35, "MEDIUM": 0.65, "HIGH": 0.9}
PROMPT_ATTACK = "PROMPT_ATTACK"
HARMFUL_CONTENT = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


def _filter_score(content_filter: dict[str, Any]) -> float:
    score = CONFIDENCE_SCORES.get(str(content_filter.get("confidence", "NONE")), 0.0)
    if content_filter.get("action") == "BLOCKED" or content_filter.get("detected"):
        score = max(score, CONFIDENCE_SCORES["LOW"])  # the guardrail itself found it, at its configured strength
    return score


def _breached(finding: dict[str, Any]) -> bool:
    return finding.get("action") == "BLOCKED" or bool(finding.get("detected"))


def takes_output_scope(client: Any) -> bool:
    """Whether this botocore knows ApplyGuardrail's `outputScope` (mid-2025). A Lambda runtime's bundled botocore
    may be older, and botocore refuses a parameter its service model lacks before sending anything."""
    try:
        shape = client.meta.service_model.operation_model("ApplyGuardrail").input_shape
    except OperationNotFoundError:  # a botocore older than ApplyGuardrail itself
        return False
    return shape is not None and "outputScope" in shape.members


class BedrockGuardrails:
    """Implements InjectionDetector, PiiDetector and ToxicityDetector with one Bedrock guardrail version."""

    def __init__(
        self, client: BedrockRuntimeClient, guardrail_id: str, guardrail_version: str, cache_size: int = 32
    ) -> None:
        if not guardrail_id or not guardrail_version:
            raise ValueError("BEDROCK_GUARDRAIL_ID and BEDROCK_GUARDRAIL_VERSION are required for Bedrock Guardrails")
        self._client = client
        self._id = guardrail_id
        self._version = guardrail_version
        self._cache: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._scope: dict[str, Any] = {"outputScope": "FULL"} if takes_output_scope(client) else {}
        if not self._scope:
            logger.warning(
                "This botocore has no ApplyGuardrail outputScope: only the findings on which the guardrail acts "
                "(block, anonymize) are reported; detect-only filters go unseen. Bundle a newer boto3 to see them.",
                extra={"botocore": botocore.__version__},
            )

    @property
    def name(self) -> str:
        return f"bedrock-guardrails:{self._id}:{self._version}"

    def injection_score(self, text: str) -> float:
        return max(
            (_filter_score(f) for f in self._content_filters(text) if f.get("type") == PROMPT_ATTACK), default=0.0
        )

    def toxicity(self, text: str) -> ToxicityScore:
        harmful = [f for f in self._content_filters(text) if f.get("type") in HARMFUL_CONTENT]
        scored = [(str(f["type"]), _filter_score(f)) for f in harmful]
        scored += [(category, 1.0) for category in self._denied_topics_and_words(text)]
        return ToxicityScore(
            score=max((score for _, score in scored), default=0.0),
            categories=tuple(dict.fromkeys(kind for kind, score in scored if score > 0)),
        )

    def find_pii(self, text: str, entity_types: Sequence[str]) -> list[PiiSpan]:
        spans: list[PiiSpan] = []
        for assessment in self._assess(text):
            sensitive = assessment.get("sensitiveInformationPolicy", {})
            findings = [
                (platform_entity_type(str(e.get("type"))), e.get("match")) for e in sensitive.get("piiEntities", [])
            ]
            findings += [
                (f"{CUSTOM_REGEX_PREFIX}{r.get('name')}", r.get("match")) for r in sensitive.get("regexes", [])
            ]
            for entity_type, match in findings:
                if not match:
                    continue
                spans.extend(
                    PiiSpan(entity_type=entity_type, start=m.start(), end=m.end(), score=1.0)
                    for m in re.finditer(re.escape(str(match)), text)
                )
        return spans

    def _denied_topics_and_words(self, text: str) -> list[str]:
        """The guardrail's denied topics (TOPIC:name) and word filters (WORDS, PROFANITY) that the text breaches:
        found or not, with no confidence, so each counts as a certain toxicity finding."""
        found: list[str] = []
        for assessment in self._assess(text):
            topics = assessment.get("topicPolicy", {}).get("topics", [])
            found += [f"TOPIC:{topic.get('name')}" for topic in topics if _breached(topic)]
            words = assessment.get("wordPolicy", {})
            found += ["WORDS" for word in words.get("customWords", []) if _breached(word)]
            found += [str(word.get("type")) for word in words.get("managedWordLists", []) if _breached(word)]
        return found

    def _content_filters(self, text: str) -> list[dict[str, Any]]:
        return [f for a in self._assess(text) for f in a.get("contentPolicy", {}).get("filters", [])]

    def _assess(self, text: str) -> list[dict[str, Any]]:
        with self._lock:
            if text in self._cache:
                self._cache.move_to_end(text)
                return self._cache[text]
        try:
            response = self._client.apply_guardrail(
                guardrailIdentifier=self._id,
                guardrailVersion=self._version,
                source="INPUT",
                content=[{"text": {"text": text}}],
                **self._scope,
            )
        except (ClientError, BotoCoreError) as error:
            raise GuardrailUnavailable(f"Bedrock guardrail {self._id}:{self._version} failed: {error}") from error
        assessments: list[dict[str, Any]] = [dict(a) for a in response.get("assessments", [])]
        with self._lock:
            self._cache[text] = assessments
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return assessments
