"""Equivalent specs are one version: a spec that differs from the latest only in how it is written (the order of its
declared variables, a guardrail override in another form that the policy reads the same) publishes and syncs as
unchanged, also over versions whose content hash an earlier release computed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from llmops.domain.prompts import PromptCatalog, PromptSpec, PromptVersion
from tests.fakes import FakePromptStore


def _spec(**overrides: Any) -> PromptSpec:
    fields: dict[str, Any] = {
        "author": "ana",
        "system_template": "You summarise support tickets for {team}.",
        "user_template": "Ticket:\n{ticket}",
        "variables": ["team", "ticket"],
        **overrides,
    }
    return PromptSpec.model_validate(fields)


def _earlier_release_hash(spec: PromptSpec) -> str:
    """What releases before equivalence stored as a version's content_hash: the spec's JSON as written."""
    fields = spec.model_dump(mode="json", include=set(PromptSpec.model_fields))
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored_by_an_earlier_release(spec: PromptSpec, name: str, version: int) -> PromptVersion:
    stamp = {"name": name, "version": version, "created_at": "2026-01-01T00:00:00+00:00"}
    return PromptVersion.model_validate(
        spec.model_dump(mode="json") | stamp | {"content_hash": _earlier_release_hash(spec)}
    )


# Pairs written differently that GuardrailPolicy.merged_with reads the same, over any platform policy.
EQUIVALENT_GUARDRAILS = [
    pytest.param({"pii": "flag"}, {"pii": {"action": "flag"}}, id="shorthand"),
    pytest.param({"pii": {"action": "mask"}}, {"pii": {"action": "redact"}}, id="action-synonym"),
    pytest.param({"toxicity": {"action": " BLOCK "}}, {"toxicity": {"action": "block"}}, id="action-case"),
    pytest.param({"toxicity": {"threshold": 1}}, {"toxicity": {"threshold": 1.0}}, id="integer-threshold"),
    pytest.param(
        {"pii": {"entities": ["us_ssn", "EMAIL_ADDRESS", "email_address"]}},
        {"pii": {"entities": ["EMAIL_ADDRESS", "US_SSN"]}},
        id="entity-case-order-repeats",
    ),
    pytest.param({"input": {"toxicity": "flag"}}, {"input": {"toxicity": {"action": "flag"}}}, id="stage-shorthand"),
    pytest.param({"pii": "block", "input": {}}, {"pii": "block"}, id="empty-stage"),
    pytest.param({}, None, id="empty-overrides"),
]

# Pairs that look alike but are not the same policy everywhere: the platform's default policy may differ.
DIFFERENT_GUARDRAILS = [
    pytest.param({"pii": "redact"}, None, id="the-default-written-out"),
    pytest.param({"pii": {"action": "block", "threshold": 0.4}}, {"pii": {"action": "block"}}, id="a-field-more"),
    pytest.param({"input": {"toxicity": "flag"}}, {"toxicity": "flag"}, id="one-stage-or-both"),
    pytest.param({"pii": {"entities": ["US_SSN"]}}, {"pii": {"entities": ["US_SSN", "EMAIL_ADDRESS"]}}, id="entities"),
]


def test_the_order_of_declared_variables_does_not_change_the_fingerprint() -> None:
    assert _spec(variables=["ticket", "team"]).fingerprint() == _spec().fingerprint()
    assert _spec(variables=["ticket", "team"]).fingerprint() != _spec(user_template="{ticket}").fingerprint()


@pytest.mark.parametrize(("written", "other"), EQUIVALENT_GUARDRAILS)
def test_guardrail_overrides_read_the_same_have_one_fingerprint(
    written: dict[str, Any], other: dict[str, Any] | None
) -> None:
    assert _spec(guardrails=written).fingerprint() == _spec(guardrails=other).fingerprint()


@pytest.mark.parametrize(("written", "other"), DIFFERENT_GUARDRAILS)
def test_guardrail_overrides_that_differ_somewhere_have_different_fingerprints(
    written: dict[str, Any], other: dict[str, Any] | None
) -> None:
    assert _spec(guardrails=written).fingerprint() != _spec(guardrails=other).fingerprint()


def test_given_a_published_spec_when_an_equivalent_one_is_published_then_nothing_is_written_and_it_keeps_its_form(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store)
    first = catalog.publish("ticket-summary", _spec(guardrails={"pii": "flag"}))
    writes = store.writes

    again = catalog.publish(
        "ticket-summary", _spec(variables=["ticket", "team"], guardrails={"pii": {"action": "flag"}})
    )

    assert not again.created and again.version == first.version
    assert store.writes == writes
    # What the author wrote is what is stored, and shown: the order of variables, the shorthand.
    assert again.version.variables == ("team", "ticket") and again.version.guardrails == {"pii": "flag"}


def test_given_a_version_hashed_by_an_earlier_release_when_its_spec_is_synced_again_then_nothing_is_published(
    store: FakePromptStore,
) -> None:
    # Given version 1 as an earlier release stored it: its content_hash is the spec's JSON as written
    spec = _spec(guardrails={"pii": "flag"})
    store.put_version(_stored_by_an_earlier_release(spec, "ticket-summary", 1))
    catalog = PromptCatalog(store)
    writes = store.writes

    # When the same file, then an equivalent one, is synced (and published) again
    same = catalog.sync([("ticket-summary", spec)], "prod", only_where_missing=True)
    equivalent = catalog.sync(
        [("ticket-summary", _spec(variables=["ticket", "team"], guardrails={"pii": {"action": "FLAG"}}))], "prod"
    )
    published = catalog.publish("ticket-summary", _spec(variables=["ticket", "team"], guardrails={"pii": "FLAG"}))

    # Then no version is made: the latest's spec is compared, not the hash it was stored with
    assert [(o.version, o.created) for o in same + equivalent] == [(1, False), (1, False)]
    assert not published.created
    assert [v.version for v in catalog.list_versions("ticket-summary")] == [1]
    assert store.writes == writes + 1  # prod set once, on version 1
    assert catalog.get("ticket-summary", 1).content_hash == _earlier_release_hash(spec)  # stored as it was


def test_given_a_version_hashed_by_an_earlier_release_when_a_changed_spec_is_published_then_it_is_the_next_version(
    store: FakePromptStore,
) -> None:
    store.put_version(_stored_by_an_earlier_release(_spec(), "ticket-summary", 1))
    catalog = PromptCatalog(store)

    changed = catalog.publish("ticket-summary", _spec(guardrails={"pii": "flag"}))

    assert changed.created and changed.version.version == 2
    assert changed.version.content_hash == _spec(guardrails={"pii": "flag"}).fingerprint()


def test_given_latest_answers_and_an_equivalent_spec_of_a_version_that_cannot_answer_then_a_sync_publishes_nothing(
    store: FakePromptStore,
) -> None:
    # A version that cannot answer, stored before ANSWER_PROMPT_REF became `latest`: syncing its file again (written
    # otherwise) publishes nothing, so the rule has nothing to refuse.
    cannot_answer = {"system_template": "Be brief.", "user_template": "{question} {tone}"}
    store.put_version(
        _stored_by_an_earlier_release(_spec(**cannot_answer, variables=["question", "tone"]), "rag-answer", 1)
    )
    catalog = PromptCatalog(store, answer_prompt=("rag-answer", "latest"))

    outcomes = catalog.sync([("rag-answer", _spec(**cannot_answer, variables=["tone", "question"]))])

    assert [(o.version, o.created) for o in outcomes] == [(1, False)]


@pytest.fixture
def store() -> FakePromptStore:
    return FakePromptStore()
