"""PII entity types in guardrail policies: a name no detector reports is refused (it would silently redact nothing)."""

from __future__ import annotations

import botocore.session
import pytest
from pydantic import ValidationError

from llmops.adapters.aws.pii_entity_types import platform_entity_type
from llmops.domain.guardrails import (
    AWS_TO_PLATFORM,
    DEFAULT_PII_ENTITIES,
    PII_ENTITY_TYPES,
    GuardrailAction,
    GuardrailPolicy,
    Guardrails,
)
from llmops.domain.prompts import PromptSpec
from llmops.ports import PiiSpan
from llmops.settings import Settings
from tests.unit.test_prompts_handler import BODY


class EveryEmailIsPii:
    """A PII detector that reports john.smith@gmail.com, under the name the adapters give e-mail addresses."""

    name = "fake"

    def find_pii(self, text: str, entity_types: object) -> list[PiiSpan]:
        start = text.find("john.smith@gmail.com")
        return [] if start < 0 else [PiiSpan(entity_type="EMAIL_ADDRESS", start=start, end=start + 20, score=0.99)]


@pytest.mark.parametrize(
    ("entity", "suggestion"),
    [("EMAIL", "EMAIL_ADDRESS"), ("email_adress", "EMAIL_ADDRESS"), ("SSN", "US_SSN"), ("NAME", "PERSON")],
    ids=["comprehend-name", "misspelt", "aws-ssn", "aws-name"],
)
def test_given_an_unknown_entity_type_then_the_policy_is_refused_naming_it_and_what_to_use(
    entity: str, suggestion: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        GuardrailPolicy().merged_with({"pii": {"entities": ["PHONE_NUMBER", entity]}})

    [error] = refused.value.errors()
    message = error["msg"]
    assert f"unknown PII entity type '{entity.upper()}' (did you mean '{suggestion}'?)" in message
    assert "accepted: AGE, AWS_ACCESS_KEY" in message and "EMAIL_ADDRESS, IBAN_CODE" in message
    assert "'PHONE_NUMBER'" not in message  # only the unknown name is reported
    assert error["loc"] == ("pii", "entities")


def test_given_unknown_entity_types_with_no_close_name_then_each_is_named_and_nothing_suggested() -> None:
    with pytest.raises(ValidationError) as refused:
        GuardrailPolicy().merged_with({"pii": {"entities": ["zip_code", "favourite_colour"]}})

    [error] = refused.value.errors()
    assert error["msg"].startswith(
        "Value error, unknown PII entity type 'ZIP_CODE', unknown PII entity type 'FAVOURITE_COLOUR'; accepted: AGE, "
    )
    assert "did you mean" not in error["msg"] and error["msg"].count("accepted:") == 1


def test_given_a_stored_override_with_an_unknown_entity_type_then_checking_fails_rather_than_leaking() -> None:
    guardrails = Guardrails(pii=EveryEmailIsPii())
    question = "Write to john.smith@gmail.com about the invoice."

    with pytest.raises(ValidationError, match="'EMAIL'"):
        guardrails.check_input(question, {"pii": {"entities": ["EMAIL"]}})
    assert guardrails.check_input(question, {"pii": {"entities": ["email_address"]}}).text == (
        "Write to <EMAIL_ADDRESS> about the invoice."
    )


def test_given_known_entity_types_in_any_case_then_they_are_accepted_under_the_platform_names() -> None:
    policy = GuardrailPolicy().merged_with(
        {"pii": {"action": "block", "entities": [" person ", "Email_Address", "AWS_ACCESS_KEY", "PERSON"]}}
    )

    assert policy.pii.entities == ("PERSON", "EMAIL_ADDRESS", "AWS_ACCESS_KEY")
    assert policy.pii.action is GuardrailAction.BLOCK


def test_given_a_custom_regex_name_then_it_is_accepted_with_its_own_case_and_an_empty_one_is_refused() -> None:
    policy = GuardrailPolicy().merged_with({"pii": {"entities": ["EMAIL_ADDRESS", " regex: Employee-ID "]}})

    assert policy.pii.entities == ("EMAIL_ADDRESS", "REGEX:Employee-ID")
    with pytest.raises(ValidationError, match=r"must not be empty \(a custom regex is named REGEX:<name>\)"):
        GuardrailPolicy().merged_with({"pii": {"entities": ["REGEX:"]}})


def test_the_default_policy_names_only_known_entity_types() -> None:
    assert set(DEFAULT_PII_ENTITIES) <= PII_ENTITY_TYPES
    assert GuardrailPolicy.model_validate(GuardrailPolicy().model_dump(mode="json")) == GuardrailPolicy()


def test_given_a_prompt_with_an_unknown_entity_type_then_it_is_refused_at_creation() -> None:
    with pytest.raises(
        ValidationError, match=r"guardrails do not apply: pii\.entities: unknown PII entity type 'EMAIL'"
    ):
        PromptSpec.model_validate({**BODY, "guardrails": {"pii": {"entities": ["EMAIL"]}}})


def test_given_a_prompt_with_no_entity_types_then_it_is_refused_at_creation_rather_than_checking_nothing() -> None:
    with pytest.raises(ValidationError, match=r"pii\.entities: no entity types: .*set \"action\": \"off\""):
        PromptSpec.model_validate({**BODY, "guardrails": {"pii": {"action": "block", "entities": []}}})


def test_given_an_unknown_entity_type_in_guardrail_policy_then_settings_fail_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARDRAIL_POLICY", '{"pii": {"entities": ["EMAIL"]}}')

    with pytest.raises(ValidationError, match=r"GUARDRAIL_POLICY.pii.entities\n.*unknown PII entity type 'EMAIL'"):
        Settings()


# The vocabulary is what the detectors report, no more and no less: Presidio's English recognizers (the local
# detector loads the predefined English ones; its spaCy NER yields PERSON, LOCATION, NRP, ORGANIZATION, DATE_TIME),
# and every Comprehend and Bedrock Guardrails type as the AWS adapters name their findings.


def _presidio_english_entities() -> set[str]:
    presidio = pytest.importorskip("presidio_analyzer")
    registry = presidio.RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    return {entity for recognizer in registry.recognizers for entity in recognizer.supported_entities}


def _aws_entities_as_the_adapters_name_them() -> set[str]:
    session = botocore.session.get_session()
    comprehend = session.get_service_model("comprehend").shape_for("PiiEntityType").enum
    bedrock = session.get_service_model("bedrock-runtime").shape_for("GuardrailPiiEntityType").enum
    return {platform_entity_type(name) for name in [*comprehend, *bedrock] if name != "ALL"}  # ALL: a request value


def test_every_entity_type_a_detector_reports_is_accepted_and_every_accepted_one_is_reported() -> None:
    reported = _presidio_english_entities() | _aws_entities_as_the_adapters_name_them()

    assert reported == PII_ENTITY_TYPES


@pytest.mark.parametrize("service_name", sorted(name for name, ours in AWS_TO_PLATFORM.items() if name != ours))
def test_a_service_name_the_adapters_translate_is_refused_with_the_translation_suggested(service_name: str) -> None:
    with pytest.raises(ValidationError, match=f"'{service_name}' \\(did you mean '{AWS_TO_PLATFORM[service_name]}'"):
        GuardrailPolicy().merged_with({"pii": {"entities": [service_name]}})
