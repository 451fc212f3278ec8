"""Guardrails on questions and answers: prompt injection, personal data (PII) and toxicity.

Each check has an action in a `GuardrailPolicy`: block the text, redact what was found (PII only), flag it (record
the hit, change nothing) or switch the check off. The platform has a default policy (settings) and a prompt may
override parts of it. Detectors are ports: packaged models locally, Comprehend or Bedrock Guardrails on AWS.

Every hit is returned in the verdict (so the handler can count it as a metric) and published as one
`GuardrailTriggered` event. Events never carry the text or what was found in it, only the kinds of finding.
"""

from __future__ import annotations

import difflib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmops.ports import EventPublisher, InjectionDetector, PiiDetector, PiiSpan, ToxicityDetector

logger = logging.getLogger(__name__)


class GuardrailCheck(StrEnum):
    PROMPT_INJECTION = "prompt_injection"
    PII = "pii"
    TOXICITY = "toxicity"


class GuardrailAction(StrEnum):
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"
    OFF = "off"

    @classmethod
    def _missing_(cls, value: object) -> GuardrailAction | None:
        if isinstance(value, str):
            name = value.strip().lower()
            if name in ("mask", "anonymize", "anonymise"):  # what Bedrock Guardrails and Presidio call it
                return cls.REDACT
            return next((member for member in cls if member.value == name), None)
        return None


class GuardrailStage(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


# The PII entity types a policy may name: those some detector of the platform reports. Findings carry Presidio's
# names; the Comprehend and Bedrock adapters translate theirs to these where Presidio has one (EMAIL becomes
# EMAIL_ADDRESS) and keep their own otherwise. A name outside this list would match no finding, and a policy listing
# only such names would redact nothing without a word, so it is refused.
PII_ENTITY_TYPES: frozenset[str] = frozenset({
    # Presidio's English recognizers, as the local detector loads them (spaCy NER gives PERSON, LOCATION, NRP,
    # ORGANIZATION and DATE_TIME); most of them are Comprehend's or Bedrock's types too, translated
    "CREDIT_CARD", "CRYPTO", "DATE_TIME", "EMAIL_ADDRESS", "IBAN_CODE", "IP_ADDRESS", "LOCATION", "MAC_ADDRESS",
    "MEDICAL_LICENSE", "NRP", "ORGANIZATION", "PERSON", "PHONE_NUMBER", "UK_NHS", "URL", "US_BANK_NUMBER",
    "US_DRIVER_LICENSE", "US_ITIN", "US_PASSPORT", "US_SSN", "UUID",
    # Presidio's names for types that only Comprehend or Bedrock detect here (no local recognizer for them)
    "IN_AADHAAR", "IN_PAN", "IN_VOTER", "UK_NINO",
    # Comprehend's and Bedrock's types that Presidio has no name for, under the service's name
    "AGE", "AWS_ACCESS_KEY", "AWS_SECRET_KEY", "BANK_ROUTING", "CA_HEALTH_NUMBER", "CA_SOCIAL_INSURANCE_NUMBER",
    "CREDIT_DEBIT_CVV", "CREDIT_DEBIT_EXPIRY", "IN_NREGA", "LICENSE_PLATE", "PASSWORD", "PIN", "SWIFT_CODE",
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", "USERNAME", "VEHICLE_IDENTIFICATION_NUMBER",
    "CREDIT_DEBIT_CARD_CVV", "CREDIT_DEBIT_CARD_EXPIRY", "US_BANK_ROUTING_NUMBER",  # Bedrock's names for these
})  # fmt: skip

# Comprehend's and Bedrock Guardrails' names for the types Presidio also names; their adapters report findings
# under Presidio's name. A policy naming the service's (EMAIL) would match nothing: the error says which to use.
AWS_TO_PLATFORM: dict[str, str] = {
    # Comprehend DetectPiiEntities
    "EMAIL": "EMAIL_ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "CREDIT_DEBIT_NUMBER": "CREDIT_CARD",
    "SSN": "US_SSN",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "NAME": "PERSON",
    "ADDRESS": "LOCATION",
    "URL": "URL",
    "DATE_TIME": "DATE_TIME",
    "PASSPORT_NUMBER": "US_PASSPORT",
    "DRIVER_ID": "US_DRIVER_LICENSE",
    "BANK_ACCOUNT_NUMBER": "US_BANK_NUMBER",
    "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER": "US_ITIN",
    "UK_NATIONAL_HEALTH_SERVICE_NUMBER": "UK_NHS",
    "UK_NATIONAL_INSURANCE_NUMBER": "UK_NINO",
    "IN_AADHAAR": "IN_AADHAAR",
    "IN_PERMANENT_ACCOUNT_NUMBER": "IN_PAN",
    "IN_VOTER_NUMBER": "IN_VOTER",
    # Bedrock Guardrails sensitive information filters (where they differ from Comprehend's)
    "CREDIT_DEBIT_CARD_NUMBER": "CREDIT_CARD",
    "US_SOCIAL_SECURITY_NUMBER": "US_SSN",
    "US_PASSPORT_NUMBER": "US_PASSPORT",
    "US_BANK_ACCOUNT_NUMBER": "US_BANK_NUMBER",
}


def _unknown_entities_message(names: Sequence[str]) -> str:
    """Why `names` are refused as PII entity types: the name to use where one is obvious, and the accepted ones."""
    described = []
    for name in names:
        close = difflib.get_close_matches(name, sorted(PII_ENTITY_TYPES), n=1, cutoff=0.8)  # typos: EMAIL_ADRESS
        translated = AWS_TO_PLATFORM.get(name, name)
        suggestion = translated if translated != name else (close[0] if close else None)
        described.append(
            f"unknown PII entity type {name!r}" + (f" (did you mean {suggestion!r}?)" if suggestion else "")
        )
    return f"{', '.join(described)}; accepted: {', '.join(sorted(PII_ENTITY_TYPES))}"


# A Bedrock guardrail's own regular expressions (sensitive information filters) report findings under the names
# their author gave them; the adapter reports them as REGEX:<name>, and a policy names them the same way, the name
# as written in the guardrail (case kept).
CUSTOM_REGEX_PREFIX = "REGEX:"


def _entity_name(written: str) -> str:
    """A policy's entity name as findings carry it: upper case, but a custom regex keeps its own name's case."""
    name = written.strip()
    if name.upper().startswith(CUSTOM_REGEX_PREFIX):
        return CUSTOM_REGEX_PREFIX + name[len(CUSTOM_REGEX_PREFIX) :].strip()
    return name.upper()


def _known_entity(name: str) -> bool:
    return name in PII_ENTITY_TYPES or name.startswith(CUSTOM_REGEX_PREFIX)


# PERSON is left out on purpose: names in documents and questions are usually legitimate.
DEFAULT_PII_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "IP_ADDRESS",
)

# Which checks run on which side of the model: injection is about what users send, not what the model says.
CHECKS_BY_STAGE: dict[GuardrailStage, tuple[GuardrailCheck, ...]] = {
    GuardrailStage.INPUT: (GuardrailCheck.PROMPT_INJECTION, GuardrailCheck.TOXICITY, GuardrailCheck.PII),
    GuardrailStage.OUTPUT: (GuardrailCheck.TOXICITY, GuardrailCheck.PII),
}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckPolicy(_Strict):
    """What to do when a classifier's score reaches the threshold."""

    action: GuardrailAction
    threshold: float = Field(default=0.8, ge=0.0, le=1.0, description="Score (0 to 1) from which the check hits.")

    @model_validator(mode="after")
    def _no_redaction(self) -> CheckPolicy:
        if self.action is GuardrailAction.REDACT and type(self) is CheckPolicy:
            raise ValueError("only the pii check can redact; use block, flag or off")
        return self


class PiiPolicy(CheckPolicy):
    """What to do with personal data of the listed entity types found with at least `threshold` confidence."""

    threshold: float = Field(default=0.4, ge=0.0, le=1.0, description="Lowest detector score that counts.")
    entities: tuple[str, ...] = Field(default=DEFAULT_PII_ENTITIES, description="Entity types to act on.")

    @field_validator("entities")
    @classmethod
    def _entity_names(cls, entities: tuple[str, ...]) -> tuple[str, ...]:
        if not entities:
            raise ValueError(
                'no entity types: the check would find nothing; list the types to act on, or set "action": "off"'
            )
        names = [_entity_name(entity) for entity in entities]
        if any(not name or name == CUSTOM_REGEX_PREFIX for name in names):
            raise ValueError(f"entity types must not be empty (a custom regex is named {CUSTOM_REGEX_PREFIX}<name>)")
        unknown = [name for name in dict.fromkeys(names) if not _known_entity(name)]
        if unknown:
            raise ValueError(_unknown_entities_message(unknown))
        return tuple(dict.fromkeys(names))


def _check_shorthand(value: Any) -> Any:
    """`"block"` stands for `{"action": "block"}`."""
    return {"action": value} if isinstance(value, str) else value


class GuardrailPolicy(_Strict):
    """An action per check. Serialises to, and validates from, a JSON object such as
    `{"pii": {"action": "block"}, "toxicity": {"threshold": 0.9}}` or the shorthand `{"pii": "flag"}`.

    `input` and `output` change a check for questions or for answers only, over the check's own policy:
    `{"toxicity": "block", "input": {"toxicity": "flag"}}` records swearing in questions and blocks it in answers.
    """

    prompt_injection: CheckPolicy = CheckPolicy(action=GuardrailAction.BLOCK, threshold=0.8)
    pii: PiiPolicy = PiiPolicy(action=GuardrailAction.REDACT)
    toxicity: CheckPolicy = CheckPolicy(action=GuardrailAction.BLOCK, threshold=0.8)
    input: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='Changes for questions only, by check, e.g. {"toxicity": "flag"}.'
    )
    output: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Changes for answers only, by check.")

    @field_validator("prompt_injection", "pii", "toxicity", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _check_shorthand(value)

    @field_validator("input", "output", mode="before")
    @classmethod
    def _stage_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # refused as not a dict, with the field's name
        return {name: _check_shorthand(check) for name, check in value.items()}

    @model_validator(mode="after")
    def _stage_changes_apply(self) -> GuardrailPolicy:
        for stage in GuardrailStage:
            changes = getattr(self, stage.value)
            checks = {check.value for check in CHECKS_BY_STAGE[stage]}
            elsewhere = [name for name in changes if name not in checks]
            if elsewhere:
                raise ValueError(
                    f"{stage.value}: {', '.join(map(repr, elsewhere))} is not a check run on {stage.value} "
                    f"(there: {', '.join(sorted(checks))})"
                )
            try:
                self.at(stage)
            except ValidationError as invalid:
                problem = invalid.errors()[0]
                where = ".".join(str(part) for part in problem["loc"])
                raise ValueError(f"{stage.value}.{where}: {problem['msg'].removeprefix('Value error, ')}") from None
        return self

    def at(self, stage: GuardrailStage) -> GuardrailPolicy:
        """The policy that applies on one side of the model: the checks with that stage's changes applied."""
        changes = getattr(self, stage.value)
        if not changes:
            return self
        checks = self.model_dump(mode="json", exclude={"input", "output"})
        return GuardrailPolicy.model_validate(_merge_checks(checks, changes))

    def for_check(self, check: GuardrailCheck) -> CheckPolicy:
        policy: CheckPolicy = getattr(self, check.value)
        return policy

    def merged_with(self, overrides: GuardrailPolicy | Mapping[str, Any] | None) -> GuardrailPolicy:
        """This policy with `overrides` applied: a whole policy replaces it; a mapping changes only the checks and
        fields it names (a prompt saying `{"pii": {"action": "block"}}` keeps the default threshold and entities).
        Raises pydantic's ValidationError on unknown checks, fields or actions."""
        if overrides is None:
            return self
        if isinstance(overrides, GuardrailPolicy):
            return overrides
        return GuardrailPolicy.model_validate(_merge_checks(self.model_dump(mode="json"), overrides))

    @classmethod
    def from_json(cls, text: str) -> GuardrailPolicy:
        """The default policy changed by a JSON object of overrides; an empty string means the defaults."""
        return cls() if not text.strip() else cls().merged_with(_json_object(text))


_STAGE_NAMES = frozenset(stage.value for stage in GuardrailStage)


def _merge_checks(policy: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's JSON form with overrides applied field by field, within each check and each stage's checks."""
    merged = dict(policy)
    for name, value in overrides.items():
        if name in _STAGE_NAMES:
            # Not a mapping: left for validation to refuse with the stage's name.
            merged[name] = _merge_checks(merged.get(name) or {}, value) if isinstance(value, Mapping) else value
            continue
        value = _check_shorthand(value)
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def _json_object(text: str) -> Mapping[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a guardrail policy is a JSON object")
    return value


class GuardrailHit(_Strict):
    check: GuardrailCheck
    stage: GuardrailStage
    action: GuardrailAction = Field(description="What was done about it: block, redact or flag.")
    score: float = Field(description="The detector's score (for PII, the highest of its findings).")
    categories: tuple[str, ...] = Field(
        default=(), description="What was found: PII entity types, toxicity categories. Never the text itself."
    )
    count: int = Field(default=1, description="Findings behind this hit (PII spans).")
    detector: str = Field(description="The detector that found it, e.g. local:presidio or comprehend.")


class GuardrailVerdict(_Strict):
    stage: GuardrailStage
    text: str = Field(description="The text to carry on with: the PII found redacted, unless the policy only flags it.")
    hits: tuple[GuardrailHit, ...] = ()
    blocked: bool = False
    blocked_by: GuardrailCheck | None = None
    message: str | None = Field(default=None, description="For the user when blocked: which check stopped it.")
    checks: tuple[GuardrailCheck, ...] = Field(default=(), description="The checks that ran.")
    latency_ms: float = 0.0

    @property
    def redacted(self) -> bool:
        return any(hit.action is GuardrailAction.REDACT for hit in self.hits)

    @property
    def flagged(self) -> bool:
        return any(hit.action is GuardrailAction.FLAG for hit in self.hits)


class GuardrailTriggered(_Strict):
    """The event published for every hit."""

    detail_type: ClassVar[str] = "Guardrail Triggered"

    check: GuardrailCheck
    stage: GuardrailStage
    action: GuardrailAction
    blocked: bool
    score: float
    categories: tuple[str, ...] = ()
    count: int = 1
    detector: str
    prompt_id: str | None = None
    request_id: str | None = None
    occurred_at: str

    def detail(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


_CHECK_NAMES = {
    GuardrailCheck.PROMPT_INJECTION: "prompt-injection",
    GuardrailCheck.PII: "personal data (PII)",
    GuardrailCheck.TOXICITY: "toxicity",
}


def block_message(check: GuardrailCheck, stage: GuardrailStage, categories: Sequence[str] = ()) -> str:
    """What the user is told when `check` stops a question or an answer; names the check, never the finding."""
    guardrail = f"the {_CHECK_NAMES[check]} guardrail"
    if stage is GuardrailStage.INPUT:
        reason = {
            GuardrailCheck.PROMPT_INJECTION: "it reads as an attempt to override the assistant's instructions. "
            "Ask a question about your documents instead.",
            GuardrailCheck.TOXICITY: "it contains abusive or offensive language. Rephrase it and ask again.",
            GuardrailCheck.PII: f"it contains personal data ({', '.join(categories)}). Remove it and ask again.",
        }[check]
        return f"Your question was blocked by {guardrail}: {reason}"
    reason = {
        GuardrailCheck.PROMPT_INJECTION: "it carried instructions aimed at the assistant.",
        GuardrailCheck.TOXICITY: "the generated text contained abusive or offensive language.",
        GuardrailCheck.PII: f"it contained personal data ({', '.join(categories)}).",
    }[check]
    return f"The answer was withheld by {guardrail}: {reason}"


def redact(text: str, spans: Sequence[PiiSpan]) -> str:
    """`text` with every span replaced by `<ENTITY_TYPE>`; overlapping spans become one, named after the
    highest-scoring of them, so that no part of a finding survives."""
    merged: list[tuple[int, int, PiiSpan]] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1][1]:
            start, end, best = merged[-1]
            merged[-1] = (start, max(end, span.end), span if span.score > best.score else best)
        else:
            merged.append((span.start, span.end, span))
    parts: list[str] = []
    cursor = 0
    for start, end, span in merged:
        parts.append(text[cursor:start])
        parts.append(f"<{span.entity_type}>")
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


class Guardrails:
    """Runs the checks a policy asks for on a question (`check_input`) or an answer (`check_output`).

    A detector left out (None) means that check cannot run here; it is skipped. Detector failures propagate
    (adapters raise GuardrailUnavailable): a guardrail that cannot run does not let text through unchecked.
    """

    def __init__(
        self,
        *,
        injection: InjectionDetector | None = None,
        pii: PiiDetector | None = None,
        toxicity: ToxicityDetector | None = None,
        events: EventPublisher | None = None,
        default_policy: GuardrailPolicy | None = None,
    ) -> None:
        self._injection = injection
        self._pii = pii
        self._toxicity = toxicity
        self._events = events
        self._default_policy = default_policy or GuardrailPolicy()

    @property
    def default_policy(self) -> GuardrailPolicy:
        return self._default_policy

    def policy_for(self, override: GuardrailPolicy | Mapping[str, Any] | None) -> GuardrailPolicy:
        """The default policy with a prompt's overrides applied (a mapping changes only what it names)."""
        return self._default_policy.merged_with(override)

    def check_input(
        self,
        text: str,
        policy: GuardrailPolicy | Mapping[str, Any] | None = None,
        *,
        prompt_id: str | None = None,
        request_id: str | None = None,
    ) -> GuardrailVerdict:
        """Checks a question: prompt injection, toxicity, then PII. `policy` is a prompt's override (a mapping
        changes only what it names, a GuardrailPolicy replaces the default); the ids only label the events."""
        return self._check(GuardrailStage.INPUT, text, self.policy_for(policy), prompt_id, request_id)

    def check_output(
        self,
        text: str,
        policy: GuardrailPolicy | Mapping[str, Any] | None = None,
        *,
        prompt_id: str | None = None,
        request_id: str | None = None,
    ) -> GuardrailVerdict:
        """Checks an answer: toxicity, then PII (prompt injection is a property of what users send)."""
        return self._check(GuardrailStage.OUTPUT, text, self.policy_for(policy), prompt_id, request_id)

    def _check(
        self,
        stage: GuardrailStage,
        text: str,
        policy: GuardrailPolicy,
        prompt_id: str | None,
        request_id: str | None,
    ) -> GuardrailVerdict:
        started = time.perf_counter()
        hits: list[GuardrailHit] = []
        ran: list[GuardrailCheck] = []
        result = text
        policy = policy.at(stage)
        for check in CHECKS_BY_STAGE[stage]:
            if policy.for_check(check).action is GuardrailAction.OFF or not text.strip():
                continue
            detected = self._detect(check, stage, result, policy)
            if detected is None:  # no detector for this check here
                continue
            ran.append(check)
            hit, result = detected
            if hit is not None:
                hits.append(hit)
                if hit.action is GuardrailAction.BLOCK:
                    break  # the remaining checks cannot change the outcome

        blocking = next((hit for hit in hits if hit.action is GuardrailAction.BLOCK), None)
        verdict = GuardrailVerdict(
            stage=stage,
            text=result,
            hits=tuple(hits),
            blocked=blocking is not None,
            blocked_by=blocking.check if blocking else None,
            message=block_message(blocking.check, stage, blocking.categories) if blocking else None,
            checks=tuple(ran),
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if hits:
            logger.info(
                "Guardrail hits",
                extra={
                    "stage": stage.value,
                    "hits": [hit.model_dump(mode="json") for hit in hits],
                    "blocked_by": verdict.blocked_by,
                    "prompt_id": prompt_id,
                },
            )
            self._publish(verdict, prompt_id, request_id)
        return verdict

    def _detect(
        self, check: GuardrailCheck, stage: GuardrailStage, text: str, policy: GuardrailPolicy
    ) -> tuple[GuardrailHit | None, str] | None:
        """(the hit or None, the text after the check) for one check; None when no detector is configured for it."""
        if check is GuardrailCheck.PII:
            if self._pii is None:
                return None
            return self._run_pii(stage, text, policy.pii)
        rule = policy.for_check(check)
        categories: tuple[str, ...] = ()
        if check is GuardrailCheck.PROMPT_INJECTION:
            if self._injection is None:
                return None
            score, detector = self._injection.injection_score(text), self._injection.name
        else:
            if self._toxicity is None:
                return None
            toxicity = self._toxicity.toxicity(text)
            score, categories, detector = toxicity.score, toxicity.categories, self._toxicity.name
        if score < rule.threshold:
            return None, text
        hit = GuardrailHit(
            check=check,
            stage=stage,
            action=rule.action,
            score=round(score, 4),
            categories=tuple(categories),
            detector=detector,
        )
        return hit, text

    def _run_pii(self, stage: GuardrailStage, text: str, rule: PiiPolicy) -> tuple[GuardrailHit | None, str]:
        if self._pii is None or not rule.entities:  # checked by the caller; kept for the type checker
            return None, text
        wanted = set(rule.entities)
        spans = [
            span
            for span in self._pii.find_pii(text, rule.entities)
            if span.entity_type in wanted and span.score >= rule.threshold and 0 <= span.start < span.end <= len(text)
        ]
        if not spans:
            return None, text
        hit = GuardrailHit(
            check=GuardrailCheck.PII,
            stage=stage,
            action=rule.action,
            score=round(max(span.score for span in spans), 4),
            categories=tuple(sorted({span.entity_type for span in spans})),
            count=len(spans),
            detector=self._pii.name,
        )
        # Blocked text is redacted too: whoever logs or stores the verdict keeps no personal data by accident.
        keeps_text = rule.action is GuardrailAction.FLAG
        return hit, text if keeps_text else redact(text, spans)

    def _publish(self, verdict: GuardrailVerdict, prompt_id: str | None, request_id: str | None) -> None:
        if self._events is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        events = [
            GuardrailTriggered(
                check=hit.check,
                stage=hit.stage,
                action=hit.action,
                blocked=hit.action is GuardrailAction.BLOCK,
                score=hit.score,
                categories=hit.categories,
                count=hit.count,
                detector=hit.detector,
                prompt_id=prompt_id,
                request_id=request_id,
                occurred_at=now,
            )
            for hit in verdict.hits
        ]
        try:
            self._events.publish_many([(GuardrailTriggered.detail_type, event.detail()) for event in events])
        except Exception:  # an event that cannot be sent never costs the user an answer
            logger.exception("Could not publish guardrail events", extra={"events": len(events)})
