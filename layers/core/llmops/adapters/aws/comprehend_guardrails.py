"""Guardrail detectors on Amazon Comprehend's pre-trained models: DetectPiiEntities for personal data,
DetectToxicContent for toxicity, and the prompt safety classifier (ClassifyDocument on the endpoint AWS provides)
for prompt injection. English only, as those models are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from llmops.adapters.aws.pii_entity_types import platform_entity_type
from llmops.domain.errors import GuardrailUnavailable
from llmops.ports import PiiSpan, ToxicityScore

PII_MAX_BYTES = 100_000  # DetectPiiEntities
TOXICITY_SEGMENT_MAX_BYTES = 1_000  # DetectToxicContent: each segment under 1 KB ...
TOXICITY_SEGMENTS_PER_CALL = 10  # ... and at most 10 of them per call
PROMPT_SAFETY_MAX_BYTES = 10_000  # ClassifyDocument on the prompt safety endpoint
CATEGORY_MIN_SCORE = 0.5


def prompt_safety_endpoint_arn(region: str) -> str:
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:comprehend:{region}:aws:document-classifier-endpoint/prompt-safety"


def byte_limited_segments(text: str, max_bytes: int) -> list[tuple[int, str]]:
    """(character offset, segment) pairs covering `text`, each at most `max_bytes` in UTF-8, cut at whitespace
    where there is some in the second half of a segment."""
    segments: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end, size = start, 0
        while end < len(text) and size + len(text[end].encode()) <= max_bytes:
            size += len(text[end].encode())
            end += 1
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start + (end - start) // 2:
                end = cut + 1
        end = max(end, start + 1)
        segments.append((start, text[start:end]))
        start = end
    return segments


class ComprehendGuardrails:
    """Implements InjectionDetector, PiiDetector and ToxicityDetector with one Comprehend client."""

    def __init__(self, client: Any, region: str, language_code: str = "en", prompt_safety_arn: str = "") -> None:
        self._client = client
        self._language = language_code
        self._prompt_safety_arn = prompt_safety_arn or prompt_safety_endpoint_arn(region)

    @property
    def name(self) -> str:
        return "comprehend"

    def injection_score(self, text: str) -> float:
        score = 0.0
        for _, segment in byte_limited_segments(text, PROMPT_SAFETY_MAX_BYTES):
            response = self._call(self._client.classify_document, Text=segment, EndpointArn=self._prompt_safety_arn)
            unsafe = [c.get("Score", 0.0) for c in response.get("Classes", []) if c.get("Name") == "UNSAFE_PROMPT"]
            score = max([score, *map(float, unsafe)])
        return score

    def find_pii(self, text: str, entity_types: Sequence[str]) -> list[PiiSpan]:
        spans: list[PiiSpan] = []
        for offset, segment in byte_limited_segments(text, PII_MAX_BYTES):
            response = self._call(self._client.detect_pii_entities, Text=segment, LanguageCode=self._language)
            spans.extend(
                PiiSpan(
                    entity_type=platform_entity_type(entity["Type"]),
                    start=offset + int(entity["BeginOffset"]),
                    end=offset + int(entity["EndOffset"]),
                    score=float(entity.get("Score", 0.0)),
                )
                for entity in response.get("Entities", [])
            )
        return spans

    def toxicity(self, text: str) -> ToxicityScore:
        segments = [s for _, s in byte_limited_segments(text, TOXICITY_SEGMENT_MAX_BYTES)]
        score = 0.0
        categories: dict[str, None] = {}
        for first in range(0, len(segments), TOXICITY_SEGMENTS_PER_CALL):
            batch = segments[first : first + TOXICITY_SEGMENTS_PER_CALL]
            response = self._call(
                self._client.detect_toxic_content,
                TextSegments=[{"Text": s} for s in batch],
                LanguageCode=self._language,
            )
            for result in response.get("ResultList", []):
                score = max(score, float(result.get("Toxicity", 0.0)))
                for label in result.get("Labels", []):
                    if float(label.get("Score", 0.0)) >= CATEGORY_MIN_SCORE:
                        categories[label["Name"]] = None
        return ToxicityScore(score=score, categories=tuple(categories))

    @staticmethod
    def _call(operation: Any, **arguments: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = operation(**arguments)
        except (ClientError, BotoCoreError) as error:
            raise GuardrailUnavailable(f"Comprehend {operation.__name__} failed: {error}") from error
        return response
