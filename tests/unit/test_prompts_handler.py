"""The prompts function on an in-memory catalog: routes, status codes and error mapping."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from llmops.domain.prompts import MAX_PROMPT_BYTES, PromptCatalog
from tests.fakes import FakePromptStore
from tests.handler_events import api_event, call_handler
from tests.template.handler_modules import load_handler_module

BODY = {
    "name": "ticket-summary",
    "author": "ana",
    "system_template": "You summarise tickets for {team}.",
    "user_template": "{ticket}",
    "variables": ["team", "ticket"],
}


@pytest.fixture
def prompts_app(handler_env: None, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module("prompts")
    # As the function builds it: the configured answer prompt (ANSWER_PROMPT_NAME, ANSWER_PROMPT_REF) protected.
    catalog = PromptCatalog(FakePromptStore(), answer_prompt=("rag-answer", "prod"))
    monkeypatch.setattr(module, "catalog", lambda: catalog)
    return module


def _call(
    module: ModuleType, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    return call_handler(module, api_event(method, path, body, query=query))


def test_creating_a_version_answers_201_and_the_same_spec_again_answers_200_with_it(prompts_app: ModuleType) -> None:
    created = _call(prompts_app, "POST", "/prompts", BODY)
    unchanged = _call(prompts_app, "POST", "/prompts", BODY)

    assert created[0] == 201 and created[1]["version"] == 1 and created[1]["name"] == "ticket-summary"
    assert unchanged == (200, created[1])


def test_an_invalid_spec_is_422_with_the_reason(prompts_app: ModuleType) -> None:
    status, body = _call(prompts_app, "POST", "/prompts", {**BODY, "variables": ["ticket"]})

    assert status == 422
    assert "placeholders not declared in variables: team" in json.dumps(body)


def test_guardrail_overrides_that_do_not_apply_are_refused_at_publish_time(prompts_app: ModuleType) -> None:
    # Accepted, such a version would fail every answer made with it.
    redacting_toxicity = _call(prompts_app, "POST", "/prompts", {**BODY, "guardrails": {"toxicity": "redact"}})
    unknown_action = _call(prompts_app, "POST", "/prompts", {**BODY, "guardrails": {"pii": "redact-all"}})
    accepted = _call(prompts_app, "POST", "/prompts", {**BODY, "guardrails": {"pii": {"action": "block"}}})

    assert redacting_toxicity[0] == 422
    assert "guardrails do not apply: toxicity: only the pii check can redact" in redacting_toxicity[1]["message"]
    assert unknown_action[0] == 422 and "pii.action" in unknown_action[1]["message"]
    assert accepted[0] == 201


def test_domain_errors_map_to_404_409_and_422(prompts_app: ModuleType) -> None:
    _call(prompts_app, "POST", "/prompts", BODY)
    _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/prod", {"version": 1})

    missing = _call(prompts_app, "GET", "/prompts/nothing-here")
    missing_version = _call(prompts_app, "GET", "/prompts/ticket-summary/versions/4")
    stale = _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/prod", {"version": 1, "expected_version": 3})
    latest = _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/latest", {"version": 1})
    unrendered = _call(prompts_app, "POST", "/prompts/ticket-summary/render", {"ref": "prod", "variables": {}})

    assert missing[0] == 404 and "no prompt named nothing-here" in missing[1]["message"]
    assert missing_version[0] == 404
    assert stale[0] == 409
    assert latest[0] == 422
    assert unrendered[0] == 422 and "missing variables: team, ticket" in unrendered[1]["message"]


def test_the_configured_answer_alias_cannot_move_to_a_version_that_cannot_answer(prompts_app: ModuleType) -> None:
    answers = {"author": "a", "system_template": "{context}", "user_template": "{question}"}
    _call(prompts_app, "POST", "/prompts", {"name": "rag-answer", **answers, "variables": ["context", "question"]})
    _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/prod", {"version": 1})
    only_question = {"name": "rag-answer", **answers, "system_template": "Be brief.", "variables": ["question"]}
    _call(prompts_app, "POST", "/prompts", only_question)

    refused = _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/prod", {"version": 2})
    staging = _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/staging", {"version": 2})

    assert refused[0] == 422 and "rag-answer@prod answers every question that names no prompt" in refused[1]["message"]
    assert _call(prompts_app, "GET", "/prompts/rag-answer")[1]["aliases"] == {"prod": 1, "staging": 2}
    assert staging[0] == 200  # any other alias may try it out


def test_posting_a_prompt_with_an_unknown_pii_entity_type_answers_422_and_a_known_one_201(
    prompts_app: ModuleType,
) -> None:
    misspelt = _call(prompts_app, "POST", "/prompts", {**BODY, "guardrails": {"pii": {"entities": ["EMAIL"]}}})
    spelt = _call(prompts_app, "POST", "/prompts", {**BODY, "guardrails": {"pii": {"entities": ["EMAIL_ADDRESS"]}}})

    assert misspelt[0] == 422
    assert "unknown PII entity type 'EMAIL' (did you mean 'EMAIL_ADDRESS'?)" in misspelt[1]["message"]
    assert spelt[0] == 201


def test_rendering_without_a_body_renders_the_latest_version_with_no_variables(prompts_app: ModuleType) -> None:
    # Every field of the render request has a default: no body means all of them, as `{}` does.
    _call(prompts_app, "POST", "/prompts", {"name": "greeting", "author": "ana", "user_template": "Hello."})

    status, rendered = _call(prompts_app, "POST", "/prompts/greeting/render")

    assert status == 200, rendered
    assert rendered["user"] == "Hello." and rendered["version"] == 1


@pytest.mark.parametrize(
    "name", ["", "team name", "1st", "x" * 65], ids=["empty", "with-a-space", "digit-first", "65-characters"]
)
def test_a_variable_name_that_is_not_an_identifier_is_422_saying_what_a_name_may_be(
    prompts_app: ModuleType, name: str
) -> None:
    status, body = _call(prompts_app, "POST", "/prompts", {**BODY, "variables": ["team", "ticket", name]})

    assert status == 422
    assert body["message"] == (
        "body.variables.2: variable names must be non-empty identifiers: a letter or _ first, then letters, digits "
        "or _, at most 64 characters"
    )


def test_a_spec_too_large_to_store_is_422_before_anything_is_written(prompts_app: ModuleType) -> None:
    # Within every character limit: 4 bytes a character in UTF-8, 180,000 bytes a template.
    heavy = "\U0001f600" * 45_000

    status, body = _call(
        prompts_app,
        "POST",
        "/prompts",
        {**BODY, "system_template": heavy + "{team}", "user_template": heavy + "{ticket}"},
    )

    assert status == 422
    assert f"at most {MAX_PROMPT_BYTES:,} bytes" in body["message"]
    assert _call(prompts_app, "GET", "/prompts")[1]["prompts"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "ticket-"}, "body.name"),
        ({"author": "  "}, "body.author"),
        ({"parameters": {"temperature": True}}, "body.parameters.temperature"),
        ({"parameters": {"max_tokens": True}}, "body.parameters.max_tokens"),
    ],
    ids=["trailing-hyphen", "blank-author", "bool-temperature", "bool-max-tokens"],
)
def test_what_a_spec_must_not_be_is_422_naming_the_field(
    prompts_app: ModuleType, change: dict[str, Any], field: str
) -> None:
    status, body = _call(prompts_app, "POST", "/prompts", {**BODY, **change})

    assert status == 422, body
    assert body["message"].startswith(f"{field}: ")


def test_a_query_parameter_is_422_naming_it_as_no_prompts_route_takes_one(prompts_app: ModuleType) -> None:
    # A client that sends ?name=rag-answer must not take the whole catalog for the answer.
    status, body = _call(prompts_app, "GET", "/prompts", query={"name": "rag-answer", "limit": "5"})
    listed = _call(prompts_app, "GET", "/prompts")
    _call(prompts_app, "POST", "/prompts", BODY)
    _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/canary", {"version": 1})
    hoped_for = _call(prompts_app, "DELETE", "/prompts/ticket-summary/aliases/canary", query={"expected_version": "1"})

    assert status == 422
    assert body["message"] == "unknown query parameters 'limit', 'name'; GET /prompts takes none"
    assert body["detail"] == [
        {"loc": ["query", name], "msg": "unknown query parameter; GET /prompts takes none", "type": "extra_forbidden"}
        for name in ("limit", "name")
    ]
    assert listed[0] == 200
    assert hoped_for[0] == 422 and "unknown query parameter 'expected_version'" in hoped_for[1]["message"]
    assert _call(prompts_app, "GET", "/prompts/ticket-summary")[1]["aliases"] == {"canary": 1}


def test_deleting_an_alias_answers_where_it_pointed_and_the_prompt_no_longer_has_it(prompts_app: ModuleType) -> None:
    _call(prompts_app, "POST", "/prompts", BODY)
    _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/canary", {"version": 1})

    deleted = _call(prompts_app, "DELETE", "/prompts/ticket-summary/aliases/canary")
    again = _call(prompts_app, "DELETE", "/prompts/ticket-summary/aliases/canary")
    latest = _call(prompts_app, "DELETE", "/prompts/ticket-summary/aliases/latest")

    assert deleted == (200, {"name": "ticket-summary", "alias": "canary", "previous_version": 1})
    assert _call(prompts_app, "GET", "/prompts/ticket-summary")[1]["aliases"] == {}
    assert again[0] == 404 and again[1]["message"] == "ticket-summary has no alias canary"
    assert latest[0] == 422


def test_the_configured_answer_alias_cannot_be_deleted(prompts_app: ModuleType) -> None:
    answers = {"author": "a", "system_template": "{context}", "user_template": "{question}"}
    _call(prompts_app, "POST", "/prompts", {"name": "rag-answer", **answers, "variables": ["context", "question"]})
    _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/prod", {"version": 1})

    status, body = _call(prompts_app, "DELETE", "/prompts/rag-answer/aliases/prod")

    assert status == 422
    assert body["message"].startswith("rag-answer@prod answers every question that names no prompt")
    assert _call(prompts_app, "GET", "/prompts/rag-answer")[1]["aliases"] == {"prod": 1}


def test_listing_prompts_says_which_prompt_answers_every_question_that_names_none(
    prompts_app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The function's own ANSWER_PROMPT_NAME and ANSWER_PROMPT_REF, which a client's environment need not share.
    listed = _call(prompts_app, "GET", "/prompts")
    monkeypatch.setattr(prompts_app, "catalog", lambda: PromptCatalog(FakePromptStore()))
    unguarded = _call(prompts_app, "GET", "/prompts")

    assert listed == (200, {"prompts": [], "answer_prompt": {"name": "rag-answer", "ref": "prod"}})
    assert unguarded == (200, {"prompts": [], "answer_prompt": None})


def test_the_list_routes_response_model_declares_the_answer_prompt(prompts_app: ModuleType) -> None:
    schema = prompts_app.PromptList.model_json_schema()

    assert set(schema["required"]) == {"prompts", "answer_prompt"}
    assert schema["$defs"]["AnswerPrompt"]["required"] == ["name", "ref"]


def test_only_if_unset_sets_a_missing_alias_and_leaves_a_set_one_where_it_is(prompts_app: ModuleType) -> None:
    _call(prompts_app, "POST", "/prompts", BODY)
    _call(prompts_app, "POST", "/prompts", {**BODY, "description": "v2"})
    path = "/prompts/ticket-summary/aliases/prod"

    set_now = _call(prompts_app, "PUT", path, {"version": 1, "only_if_unset": True})
    set_already = _call(prompts_app, "PUT", path, {"version": 2, "only_if_unset": True})
    there_already = _call(prompts_app, "PUT", path, {"version": 1, "only_if_unset": True})
    both = _call(prompts_app, "PUT", path, {"version": 2, "only_if_unset": True, "expected_version": 1})
    not_a_bool = _call(prompts_app, "PUT", path, {"version": 2, "only_if_unset": "yes"})

    assert set_now == (200, {"name": "ticket-summary", "alias": "prod", "version": 1, "previous_version": None})
    assert set_already[0] == 409
    assert set_already[1]["message"] == "ticket-summary@prod is set already (it points at 1); it stays there"
    assert there_already == (200, {"name": "ticket-summary", "alias": "prod", "version": 1, "previous_version": 1})
    assert both[0] == 422 and "exclude each other" in both[1]["message"]
    assert not_a_bool[0] == 422 and "only_if_unset" in not_a_bool[1]["message"]
    assert _call(prompts_app, "GET", "/prompts/ticket-summary")[1]["aliases"] == {"prod": 1}


def test_only_if_unset_on_the_answer_alias_refuses_a_version_that_cannot_answer_only_where_it_would_move(
    prompts_app: ModuleType,
) -> None:
    answers = {"name": "rag-answer", "author": "a", "system_template": "{context}", "user_template": "{question}"}
    _call(prompts_app, "POST", "/prompts", {**answers, "variables": ["context", "question"]})
    _call(prompts_app, "POST", "/prompts", {**answers, "system_template": "Be brief.", "variables": ["question"]})
    path = "/prompts/rag-answer/aliases/prod"

    unset = _call(prompts_app, "PUT", path, {"version": 2, "only_if_unset": True})
    _call(prompts_app, "PUT", path, {"version": 1})
    set_already = _call(prompts_app, "PUT", path, {"version": 2, "only_if_unset": True})

    assert unset[0] == 422 and unset[1]["message"].startswith("rag-answer@prod answers every question")
    assert set_already[0] == 409  # nothing would move, so nothing is refused: a sync --if-missing carries on
    assert _call(prompts_app, "GET", "/prompts/rag-answer")[1]["aliases"] == {"prod": 1}


def _located(body: dict[str, Any]) -> list[list[str | int]]:
    return [entry["loc"] for entry in body.get("detail", [])]


def test_a_catalog_refusal_names_the_path_parameter_or_body_field_it_is_about(prompts_app: ModuleType) -> None:
    answers = {"author": "a", "system_template": "{context}", "user_template": "{question}"}
    _call(prompts_app, "POST", "/prompts", {"name": "rag-answer", **answers, "variables": ["context", "question"]})
    _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/prod", {"version": 1})
    _call(
        prompts_app,
        "POST",
        "/prompts",
        {"name": "rag-answer", **answers, "system_template": "Be brief.", "variables": ["question"]},
    )
    _call(prompts_app, "POST", "/prompts", BODY)
    alias = "/prompts/ticket-summary/aliases/prod"

    refusals = {
        "name": _call(prompts_app, "GET", "/prompts/Not_A_Slug/versions/1"),
        "ref": _call(prompts_app, "GET", "/prompts/ticket-summary/versions/Not_A_Slug"),
        "alias": _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/Not_A_Slug", {"version": 1}),
        "latest": _call(prompts_app, "PUT", "/prompts/ticket-summary/aliases/latest", {"version": 1}),
        "both conditions": _call(
            prompts_app, "PUT", alias, {"version": 1, "expected_version": 1, "only_if_unset": True}
        ),
        "cannot answer": _call(prompts_app, "PUT", "/prompts/rag-answer/aliases/prod", {"version": 2}),
        "answer alias": _call(prompts_app, "DELETE", "/prompts/rag-answer/aliases/prod"),
        "render ref": _call(prompts_app, "POST", "/prompts/ticket-summary/render", {"ref": "Not_A_Slug"}),
        "variables": _call(prompts_app, "POST", "/prompts/ticket-summary/render", {"variables": {"team": "ops"}}),
    }

    assert {case: status for case, (status, _) in refusals.items()} == dict.fromkeys(refusals, 422)
    assert {case: _located(body) for case, (_, body) in refusals.items()} == {
        "name": [["path", "name"]],
        "ref": [["path", "ref"]],
        "alias": [["path", "alias"]],
        "latest": [["path", "alias"]],
        "both conditions": [["body"]],
        "cannot answer": [["body", "version"]],
        "answer alias": [["path", "alias"]],
        "render ref": [["body", "ref"]],
        "variables": [["body", "variables"]],
    }
    # Each entry says what the message says: the message is unchanged, the field is added.
    assert all(body["detail"][0]["msg"] == body["message"] for _, body in refusals.values())
    assert _call(prompts_app, "GET", "/prompts/rag-answer")[1]["aliases"] == {"prod": 1}
