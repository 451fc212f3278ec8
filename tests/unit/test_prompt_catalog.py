"""The prompt catalog's rules, on an in-memory store: immutable versions, no duplicate versions for an unchanged
spec, aliases that move (and move back), variables checked at creation and at rendering."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from llmops.domain.answering import I_DONT_KNOW
from llmops.domain.errors import InvalidPrompt, PromptConflict, PromptNotFound
from llmops.domain.prompts import (
    DEFAULT_REFUSAL,
    AliasDeletion,
    ModelParameters,
    PromptCatalog,
    PromptSpec,
    sync_refusal,
)
from tests.fakes import FakePromptStore, stored_by_an_earlier_release


def _spec(**overrides: Any) -> PromptSpec:
    fields: dict[str, Any] = {
        "author": "ana",
        "description": "Summarise a ticket",
        "system_template": "You summarise support tickets for {team}.",
        "user_template": "Ticket:\n{ticket}",
        "variables": ["team", "ticket"],
        **overrides,
    }
    return PromptSpec.model_validate(fields)


@pytest.fixture
def store() -> FakePromptStore:
    return FakePromptStore()


@pytest.fixture
def catalog(store: FakePromptStore) -> PromptCatalog:
    return PromptCatalog(store)


def test_given_a_new_name_when_a_spec_is_published_then_it_is_version_1_with_its_hash(catalog: PromptCatalog) -> None:
    published = catalog.publish("ticket-summary", _spec())

    assert published.created
    assert published.version.version == 1
    assert published.version.prompt_id == "ticket-summary@1"
    assert published.version.content_hash == _spec().fingerprint()
    assert published.version.refusal == DEFAULT_REFUSAL


def test_given_a_published_spec_when_the_same_spec_is_published_again_then_the_latest_is_returned_unwritten(
    catalog: PromptCatalog, store: FakePromptStore
) -> None:
    first = catalog.create_version("ticket-summary", _spec())
    writes = store.writes

    again = catalog.publish("ticket-summary", _spec())

    assert not again.created
    assert again.version == first
    assert store.writes == writes


def test_given_a_changed_spec_when_published_then_it_becomes_the_next_version_and_earlier_ones_stay(
    catalog: PromptCatalog,
) -> None:
    first = catalog.create_version("ticket-summary", _spec())

    second = catalog.create_version("ticket-summary", _spec(parameters={"temperature": 0.2, "stop": ["\n\n"]}))

    assert second.version == 2
    assert catalog.get("ticket-summary", 1) == first
    assert catalog.get("ticket-summary", "latest") == second
    assert second.parameters == ModelParameters(temperature=0.2, stop=("\n\n",))


def test_given_a_spec_equal_to_an_older_version_but_not_the_latest_then_it_is_a_new_version(
    catalog: PromptCatalog,
) -> None:
    catalog.create_version("ticket-summary", _spec())
    catalog.create_version("ticket-summary", _spec(description="v2"))

    back = catalog.create_version("ticket-summary", _spec())

    assert back.version == 3
    assert back.content_hash == catalog.get("ticket-summary", 1).content_hash


def test_given_a_concurrent_writer_took_the_number_when_publishing_then_the_next_number_is_used(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store)
    rival = PromptCatalog(store)
    original_latest = store.latest_version
    raced = []

    def latest_then_rival_writes(name: str) -> Any:
        seen = original_latest(name)
        if not raced:
            raced.append(True)
            rival.create_version(name, _spec(description="the rival's"))
        return seen

    store.latest_version = latest_then_rival_writes  # type: ignore[method-assign]

    mine = catalog.create_version("ticket-summary", _spec())

    assert mine.version == 2
    assert store.get_version("ticket-summary", 1).description == "the rival's"


def test_versions_cannot_be_overwritten_in_the_store(catalog: PromptCatalog, store: FakePromptStore) -> None:
    first = catalog.create_version("ticket-summary", _spec())
    forged = first.model_copy(update={"user_template": "{ticket} changed"})

    with pytest.raises(PromptConflict):
        store.put_version(forged)

    assert catalog.get("ticket-summary", 1).user_template == "Ticket:\n{ticket}"


# An earlier release accepted EMAIL (Comprehend's name) as a PII entity type; it matched no finding.
_OLD_GUARDRAILS = {"pii": {"entities": ["EMAIL"]}}


def test_given_a_stored_version_whose_guardrails_are_now_refused_then_the_catalog_still_reads_it_and_moves_off_it(
    catalog: PromptCatalog, store: FakePromptStore
) -> None:
    store.put_version(stored_by_an_earlier_release(_spec(), "ticket-summary", 1, guardrails=_OLD_GUARDRAILS))
    catalog.set_alias("ticket-summary", "prod", 1)

    with pytest.raises(ValidationError, match=r"did you mean 'EMAIL_ADDRESS'"):
        _spec(guardrails=_OLD_GUARDRAILS)  # publishing it again is refused...
    assert catalog.get("ticket-summary", "prod").guardrails == _OLD_GUARDRAILS  # ...reading is not
    fixed = catalog.create_version("ticket-summary", _spec(guardrails={"pii": {"entities": ["EMAIL_ADDRESS"]}}))
    catalog.set_alias("ticket-summary", "prod", fixed.version)

    assert [v.version for v in catalog.list_versions("ticket-summary")] == [1, 2]
    assert catalog.get("ticket-summary", "prod").version == 2


def test_given_two_versions_when_prod_moves_forward_and_back_then_it_names_each_in_turn(
    catalog: PromptCatalog,
) -> None:
    catalog.create_version("ticket-summary", _spec())
    catalog.create_version("ticket-summary", _spec(description="v2"))

    first = catalog.set_alias("ticket-summary", "prod", 1)
    forward = catalog.set_alias("ticket-summary", "prod", 2)
    rollback = catalog.set_alias("ticket-summary", "prod", 1)

    assert (first.previous_version, forward.previous_version, rollback.previous_version) == (None, 1, 2)
    assert catalog.get("ticket-summary", "prod").version == 1
    assert catalog.aliases("ticket-summary") == {"prod": 1}


def test_an_alias_cannot_name_a_missing_version_or_be_called_latest_or_a_number(catalog: PromptCatalog) -> None:
    catalog.create_version("ticket-summary", _spec())

    with pytest.raises(PromptNotFound, match="no version 7"):
        catalog.set_alias("ticket-summary", "prod", 7)
    with pytest.raises(InvalidPrompt, match="implicit"):
        catalog.set_alias("ticket-summary", "latest", 1)
    with pytest.raises(InvalidPrompt, match="not a slug"):
        catalog.set_alias("ticket-summary", "2", 1)


def test_given_an_expected_version_when_the_alias_points_elsewhere_then_the_move_is_refused(
    catalog: PromptCatalog,
) -> None:
    catalog.create_version("ticket-summary", _spec())
    catalog.create_version("ticket-summary", _spec(description="v2"))
    catalog.set_alias("ticket-summary", "prod", 2)

    with pytest.raises(PromptConflict, match="points at 2, not at 1"):
        catalog.set_alias("ticket-summary", "prod", 1, expected=1)
    with pytest.raises(PromptConflict, match="ticket-summary@staging is not set, not at 1"):
        catalog.set_alias("ticket-summary", "staging", 1, expected=1)

    assert catalog.set_alias("ticket-summary", "prod", 1, expected=2).version == 1


def test_missing_prompts_versions_and_aliases_are_not_found(catalog: PromptCatalog) -> None:
    catalog.create_version("ticket-summary", _spec())

    with pytest.raises(PromptNotFound, match="no prompt named nothing-here"):
        catalog.get("nothing-here")
    with pytest.raises(PromptNotFound, match="has no version 9"):
        catalog.get("ticket-summary", "9")
    with pytest.raises(PromptNotFound, match="has no alias staging"):
        catalog.get("ticket-summary", "staging")
    with pytest.raises(PromptNotFound):
        catalog.list_versions("nothing-here")
    with pytest.raises(PromptNotFound, match="no prompt named nothing-here"):
        catalog.set_alias("nothing-here", "prod", 1)
    with pytest.raises(PromptNotFound, match="ticket-summary has no version 9"):
        catalog.set_alias("ticket-summary", "prod", 9)


def test_prompt_names_are_slugs(catalog: PromptCatalog) -> None:
    with pytest.raises(InvalidPrompt, match="not a slug"):
        catalog.create_version("Ticket Summary", _spec())


def test_when_rendering_then_every_variable_is_filled_and_braces_in_values_stay_literal(
    catalog: PromptCatalog,
) -> None:
    catalog.create_version("ticket-summary", _spec())

    rendered = catalog.render("ticket-summary", "latest", {"team": "billing", "ticket": "Refund {order} please"})

    assert rendered.system == "You summarise support tickets for billing."
    assert rendered.user == "Ticket:\nRefund {order} please"
    assert (rendered.name, rendered.version, rendered.prompt_id) == ("ticket-summary", 1, "ticket-summary@1")


def test_when_rendering_with_missing_or_unknown_variables_then_the_error_lists_them(catalog: PromptCatalog) -> None:
    catalog.create_version("ticket-summary", _spec())

    with pytest.raises(InvalidPrompt, match=r"missing variables: team, ticket"):
        catalog.render("ticket-summary", 1, {})
    with pytest.raises(InvalidPrompt, match=r"does not declare: tone"):
        catalog.render("ticket-summary", 1, {"team": "a", "ticket": "b", "tone": "c"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"variables": ["team"]}, "placeholders not declared in variables: ticket"),
        ({"variables": ["team", "ticket", "tone"]}, "declared variables used by neither template: tone"),
        ({"variables": ["team", "ticket", "team"]}, "declared more than once: team"),
        ({"user_template": "Ticket: {ticket.__class__}"}, "not a plain variable name"),
        ({"user_template": "Ticket: {0}"}, "not a plain variable name"),
        ({"user_template": "Ticket: {}"}, "not a plain variable name"),
        ({"user_template": "Ticket: {ticket!r}"}, "not a plain variable name"),
        ({"user_template": "Ticket: {ticket"}, "literal braces"),
        ({"parameters": {"temperature": 3}}, "less than or equal to 2"),
        ({"parameters": {"top_p": 0}}, "greater than 0"),
        ({"parameters": {"stop": [""]}}, "stop sequences must not be empty"),
        ({"parameters": {"temprature": 0.1}}, "Extra inputs are not permitted"),
        ({"author": ""}, "at least 1 character"),
    ],
)
def test_a_spec_is_checked_at_creation(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _spec(**overrides)


def test_an_empty_variable_name_is_refused_as_such_not_as_an_unused_variable() -> None:
    # It used to be reported as "declared variables used by neither template: " followed by nothing.
    with pytest.raises(ValidationError) as refused:
        _spec(system_template="", user_template="Hello.", variables=[""])

    assert [(error["loc"], error["msg"]) for error in refused.value.errors()] == [
        (
            ("variables", 0),
            "Value error, variable names must be non-empty identifiers: a letter or _ first, then letters, "
            "digits or _, at most 64 characters",
        )
    ]


def test_literal_braces_are_written_doubled_and_are_not_variables(catalog: PromptCatalog) -> None:
    spec = _spec(user_template='Reply as JSON like {{"summary": "..."}}. Ticket: {ticket}')

    rendered = catalog.create_version("json-summary", spec).render({"team": "t", "ticket": "x"})

    assert rendered.user == 'Reply as JSON like {"summary": "..."}. Ticket: x'


def test_given_a_cached_alias_when_it_moves_then_resolve_sees_the_move_after_the_refresh_interval(
    store: FakePromptStore,
) -> None:
    now = [0.0]
    admin = PromptCatalog(store)
    answering = PromptCatalog(store, alias_refresh_seconds=10, clock=lambda: now[0])
    admin.create_version("ticket-summary", _spec())
    admin.create_version("ticket-summary", _spec(description="v2"))
    admin.set_alias("ticket-summary", "prod", 1)
    assert answering.resolve("ticket-summary", "prod").version == 1

    admin.set_alias("ticket-summary", "prod", 2)
    before_refresh = answering.resolve("ticket-summary", "prod").version
    now[0] = 11.0
    after_refresh = answering.resolve("ticket-summary", "prod").version

    assert (before_refresh, after_refresh) == (1, 2)


def test_sync_publishes_only_changes_and_sets_an_alias_only_where_missing(
    catalog: PromptCatalog, store: FakePromptStore
) -> None:
    first = catalog.sync([("a-prompt", _spec()), ("b-prompt", _spec())], "prod", only_where_missing=True)
    catalog.create_version("a-prompt", _spec(description="promoted by hand later"))
    catalog.set_alias("a-prompt", "prod", 2)
    writes = store.writes

    again = catalog.sync([("a-prompt", _spec(description="promoted by hand later"))], "prod", only_where_missing=True)
    changed = catalog.sync([("b-prompt", _spec(description="edited"))], "prod", only_where_missing=True)

    assert [(o.name, o.version, o.created, o.alias_moved) for o in first] == [
        ("a-prompt", 1, True, True),
        ("b-prompt", 1, True, True),
    ]
    assert [(o.version, o.created, o.alias_moved) for o in again] == [(2, False, False)]
    assert store.writes == writes + 1  # only b-prompt's new version
    assert [(o.version, o.created, o.alias_moved) for o in changed] == [(2, True, False)]
    assert catalog.aliases("b-prompt") == {"prod": 1}


def test_sync_with_an_alias_moves_it_to_each_latest_version(catalog: PromptCatalog) -> None:
    catalog.sync([("a-prompt", _spec())], "staging")

    moved = catalog.sync([("a-prompt", _spec(description="v2"))], "staging")

    assert [(o.version, o.alias_moved) for o in moved] == [(2, True)]
    assert catalog.get("a-prompt", "staging").version == 2


def test_listing_summarises_each_prompt_with_its_latest_version_and_aliases(catalog: PromptCatalog) -> None:
    catalog.create_version("b-prompt", _spec())
    catalog.create_version("a-prompt", _spec())
    catalog.create_version("a-prompt", _spec(description="v2"))
    catalog.set_alias("a-prompt", "prod", 1)

    listed = catalog.list_prompts()

    assert [(s.name, s.latest_version, s.aliases) for s in listed] == [
        ("a-prompt", 2, {"prod": 1}),
        ("b-prompt", 1, {}),
    ]


def test_the_default_refusal_is_the_answering_services_wording() -> None:
    assert DEFAULT_REFUSAL == I_DONT_KNOW


# The configured answer prompt (ANSWER_PROMPT_NAME, ANSWER_PROMPT_REF): it answers every question that names none.
ANSWER_PROMPT = ("rag-answer", "prod")


def _answer_spec(**overrides: Any) -> PromptSpec:
    fields = {"author": "ana", "system_template": "{context}", "user_template": "{question}"}
    return PromptSpec.model_validate(fields | {"variables": ["context", "question"]} | overrides)


_CANNOT_ANSWER = {"system_template": "Be brief.", "variables": ["question"]}


def test_given_the_answer_alias_when_moved_to_a_version_that_cannot_answer_then_it_is_refused_and_stays(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store, answer_prompt=ANSWER_PROMPT)
    catalog.create_version("rag-answer", _answer_spec())
    catalog.set_alias("rag-answer", "prod", 1)
    catalog.create_version("rag-answer", _answer_spec(**_CANNOT_ANSWER))

    with pytest.raises(InvalidPrompt) as refused:
        catalog.set_alias("rag-answer", "prod", 2)
    staging = catalog.set_alias("rag-answer", "staging", 2)  # any other alias may try it out

    assert str(refused.value) == (
        "rag-answer@prod answers every question that names no prompt; rag-answer@2 cannot answer questions: "
        "an answer prompt declares {context} and {question} and no other variable (it declares question)"
    )
    assert catalog.aliases("rag-answer") == {"prod": 1, "staging": 2}
    assert staging.version == 2


def test_given_a_sync_that_would_make_prod_a_version_that_cannot_answer_then_it_publishes_nothing(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store, answer_prompt=ANSWER_PROMPT)

    with pytest.raises(InvalidPrompt, match=r"^rag-answer@prod answers every question .* rag-answer@1 cannot answer"):
        catalog.sync(
            [("a-prompt", _spec()), ("rag-answer", _answer_spec(**_CANNOT_ANSWER))], "prod", only_where_missing=True
        )

    assert store.writes == 0


def test_given_prod_is_set_when_a_sync_that_sets_missing_aliases_publishes_a_version_that_cannot_answer_then_prod_stays(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store, answer_prompt=ANSWER_PROMPT)
    catalog.sync([("rag-answer", _answer_spec())], "prod", only_where_missing=True)

    outcomes = catalog.sync([("rag-answer", _answer_spec(**_CANNOT_ANSWER))], "prod", only_where_missing=True)

    assert [(o.version, o.created, o.alias_moved) for o in outcomes] == [(2, True, False)]
    assert catalog.aliases("rag-answer") == {"prod": 1}


def test_given_a_sync_that_moves_prod_to_a_version_that_cannot_answer_then_it_publishes_nothing(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store, answer_prompt=ANSWER_PROMPT)
    catalog.sync([("rag-answer", _answer_spec())], "prod")
    writes = store.writes

    with pytest.raises(InvalidPrompt, match=r"rag-answer@2 cannot answer"):
        catalog.sync([("a-prompt", _spec()), ("rag-answer", _answer_spec(**_CANNOT_ANSWER))], "prod")

    assert store.writes == writes


def test_given_latest_answers_when_a_version_that_cannot_answer_is_published_then_it_is_refused(
    store: FakePromptStore,
) -> None:
    catalog = PromptCatalog(store, answer_prompt=("rag-answer", "latest"))
    catalog.create_version("rag-answer", _answer_spec())

    with pytest.raises(InvalidPrompt, match=r"^rag-answer@latest answers every question .* rag-answer@2 cannot"):
        catalog.publish("rag-answer", _answer_spec(**_CANNOT_ANSWER))

    assert [v.version for v in catalog.list_versions("rag-answer")] == [1]


def test_deleting_an_alias_removes_it_and_says_where_it_pointed(catalog: PromptCatalog) -> None:
    catalog.create_version("ticket-summary", _spec())
    catalog.set_alias("ticket-summary", "staging", 1)
    catalog.set_alias("ticket-summary", "prod", 1)

    deleted = catalog.delete_alias("ticket-summary", "staging")

    assert deleted == AliasDeletion(name="ticket-summary", alias="staging", previous_version=1)
    assert catalog.aliases("ticket-summary") == {"prod": 1}
    with pytest.raises(PromptNotFound, match="ticket-summary has no alias staging"):
        catalog.get("ticket-summary", "staging")


def test_a_missing_alias_latest_and_the_answer_alias_cannot_be_deleted(store: FakePromptStore) -> None:
    catalog = PromptCatalog(store, answer_prompt=ANSWER_PROMPT)
    catalog.create_version("rag-answer", _answer_spec())
    catalog.set_alias("rag-answer", "prod", 1)

    with pytest.raises(PromptNotFound, match="rag-answer has no alias staging"):
        catalog.delete_alias("rag-answer", "staging")
    with pytest.raises(PromptNotFound, match="no prompt named nothing-here"):
        catalog.delete_alias("nothing-here", "prod")
    with pytest.raises(InvalidPrompt, match="implicit"):
        catalog.delete_alias("rag-answer", "latest")
    with pytest.raises(InvalidPrompt, match=r"rag-answer@prod answers every question that names no prompt"):
        catalog.delete_alias("rag-answer", "prod")

    assert catalog.aliases("rag-answer") == {"prod": 1}


def test_given_a_cached_alias_when_it_is_deleted_then_resolve_no_longer_finds_it(store: FakePromptStore) -> None:
    catalog = PromptCatalog(store, alias_refresh_seconds=3600)
    catalog.create_version("ticket-summary", _spec())
    catalog.set_alias("ticket-summary", "canary", 1)
    catalog.resolve("ticket-summary", "canary")

    catalog.delete_alias("ticket-summary", "canary")

    with pytest.raises(PromptNotFound):
        catalog.resolve("ticket-summary", "canary")


class _SetMeanwhile(FakePromptStore):
    """Someone points an alias at `theirs` between the catalog's read of it and its write."""

    def __init__(self, theirs: int) -> None:
        super().__init__()
        self.theirs: int | None = theirs

    def put_alias(self, name: str, alias: str, version: int, *, current: int | None) -> None:
        if self.theirs is not None:
            self.alias_targets[(name, alias)], self.theirs = self.theirs, None
        super().put_alias(name, alias, version, current=current)


def test_given_only_if_unset_when_someone_sets_the_alias_meanwhile_then_theirs_stays_and_the_move_is_refused() -> None:
    store = _SetMeanwhile(theirs=1)
    catalog = PromptCatalog(store)
    catalog.create_version("ticket-summary", _spec())
    catalog.create_version("ticket-summary", _spec(description="v2"))

    with pytest.raises(
        PromptConflict, match=r"^ticket-summary@prod is set already \(it points at 1\); it stays there$"
    ):
        catalog.set_alias("ticket-summary", "prod", 2, only_if_unset=True)

    assert catalog.aliases("ticket-summary") == {"prod": 1}


def test_given_only_if_unset_and_an_expected_version_then_the_move_is_refused(catalog: PromptCatalog) -> None:
    catalog.create_version("ticket-summary", _spec())

    with pytest.raises(InvalidPrompt, match="exclude each other"):
        catalog.set_alias("ticket-summary", "prod", 1, expected=1, only_if_unset=True)

    assert catalog.aliases("ticket-summary") == {}


def test_the_sync_rule_reads_nothing_for_a_prompt_that_is_not_the_answer_prompt() -> None:
    # What it needs is read (from a store, or through the API) only for the answer prompt's file.
    def unread() -> bool:
        raise AssertionError("read for a prompt that is not the answer prompt")

    for name, alias in (("a-prompt", "prod"), ("rag-answer", "staging"), ("rag-answer", None)):
        refusal = sync_refusal(
            ANSWER_PROMPT,
            name,
            _answer_spec(**_CANNOT_ANSWER),
            alias,
            only_where_missing=True,
            unchanged=unread,
            alias_is_set=unread,
            what=lambda _: "unread",
        )
        assert refusal is None
