"""Comprehend's and Bedrock Guardrails' PII entity types, named as Presidio names them (the platform's names).

Policies list entity types once, in these names, whichever detector runs. Types without a counterpart keep their
service's name (AWS_ACCESS_KEY, PASSWORD, ...), so a policy can still name them.
"""

from __future__ import annotations

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


def platform_entity_type(aws_type: str) -> str:
    return AWS_TO_PLATFORM.get(aws_type, aws_type)
