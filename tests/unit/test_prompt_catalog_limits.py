"""What the catalog refuses before anything is written: a spec too large to be stored, blank text, a name that is not
a slug, a bool given as a number. What earlier releases stored under looser rules is still read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from llmops.adapters.prompt_files import PromptFileError, sync_into_store
from llmops.domain.errors import InvalidPrompt
from llmops.domain.prompts import MAX_PROMPT_BYTES, MAX_TEMPLATE_CHARS, PromptCatalog, PromptSpec
from tests.fakes import FakePromptStore, stored_by_an_earlier_release


def _spec(**overrides: Any) -> PromptSpec:
    fields: dict[str, Any] = {"author": "ana", "user_template": "Ticket:\n{ticket}", "variables": ["ticket"]}
    return PromptSpec.model_validate(fields | overrides)


def _escaped_heavy_template(characters: int) -> str:
    # A control character takes 6 bytes in JSON (\u0001): within the character limit, far over the byte limit.
    return "{ticket}" + "\x01" * (characters - len("{ticket}"))


def test_a_spec_within_every_character_limit_but_too_large_to_store_is_refused_saying_by_how_much() -> None:
    # Given templates at the character limit whose JSON takes 6 bytes a character
    heavy = _escaped_heavy_template(MAX_TEMPLATE_CHARS)

    # When the spec is made, then it is refused with its size and the limit
    with pytest.raises(ValidationError) as refused:
        _spec(system_template="\x01" * MAX_TEMPLATE_CHARS, user_template=heavy)

    message = str(refused.value)
    assert f"at most {MAX_PROMPT_BYTES:,} bytes" in message
    assert "600," in message  # its own size, in bytes


def test_a_spec_just_under_the_byte_limit_is_accepted() -> None:
    room = MAX_PROMPT_BYTES - 1 - len(_spec(user_template="{ticket}").model_dump_json().encode())
    system = "\U0001f600" * MAX_TEMPLATE_CHARS  # 4 bytes a character
    rest = room - 4 * MAX_TEMPLATE_CHARS
    user = "{ticket}" + "\U0001f600" * (rest // 4) + "x" * (rest % 4)

    spec = _spec(system_template=system, user_template=user)

    assert len(spec.model_dump_json().encode()) == MAX_PROMPT_BYTES - 1


def test_a_sync_with_one_file_too_large_to_store_publishes_none_of_them(tmp_path: Path) -> None:
    # Given a good file beside one too large to store
    (tmp_path / "a-good.yaml").write_text("name: a-good\nauthor: ana\nuser: Hello\n")
    big = "😀" * (MAX_TEMPLATE_CHARS - 5_000)  # 4 bytes a character in UTF-8: 180,000 bytes a template
    (tmp_path / "z-big.yaml").write_text(
        f"name: z-big\nauthor: ana\nuser: '{big}'\nsystem: '{big}'\n", encoding="utf-8"
    )
    store = FakePromptStore()

    # When synced, then the big file is named and nothing is published
    with pytest.raises(PromptFileError, match=r"z-big\.yaml: .*bytes"):
        sync_into_store(store, tmp_path, "prod")
    assert store.writes == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"author": "   "}, "author"),
        ({"user_template": " \n\t"}, "user_template"),
        ({"system_template": "  "}, "system_template"),
        ({"refusal": "\n"}, "refusal"),
    ],
)
def test_blank_text_is_refused_where_text_is_required(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _spec(**overrides)

    assert [(error["loc"], error["msg"]) for error in refused.value.errors()] == [
        ((field,), "Value error, must not be blank (only whitespace)")
    ]


def test_an_empty_system_template_still_means_no_system_text() -> None:
    assert _spec(system_template="").system_template == ""


@pytest.mark.parametrize(
    "parameters",
    [{"temperature": True}, {"top_p": True}, {"top_k": True}, {"max_tokens": True}, {"temperature": "0.2"}],
    ids=["temperature-true", "top_p-true", "top_k-true", "max_tokens-true", "temperature-as-text"],
)
def test_a_numeric_model_parameter_must_be_a_number_not_a_bool_or_text(parameters: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        _spec(parameters=parameters)

    assert refused.value.errors()[0]["loc"] == ("parameters", *parameters)


def test_an_integer_is_a_valid_temperature() -> None:
    assert _spec(parameters={"temperature": 1, "top_p": 1}).parameters.temperature == 1.0


@pytest.mark.parametrize("name", ["par-", "par--allel", "-par", "par_allel", "p" * 65])
def test_a_prompt_name_must_be_a_slug(name: str) -> None:
    with pytest.raises(InvalidPrompt, match="is not a slug"):
        PromptCatalog(FakePromptStore()).publish(name, _spec())


@pytest.mark.parametrize("alias", ["prod-", "pre--prod"])
def test_an_alias_must_be_a_slug(alias: str) -> None:
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("ticket-summary", _spec())

    with pytest.raises(InvalidPrompt, match="is not a slug"):
        catalog.set_alias("ticket-summary", alias, 1)


def test_slugs_with_single_hyphens_and_digits_are_names() -> None:
    published = PromptCatalog(FakePromptStore()).publish("rag-answer-v2", _spec())

    assert published.version.prompt_id == "rag-answer-v2@1"


def test_a_prompt_stored_under_the_looser_rules_of_an_earlier_release_is_still_read_and_its_aliases_moved() -> None:
    # Given a version and an alias that the rules of an earlier release let through
    store = FakePromptStore()
    store.put_version(stored_by_an_earlier_release(_spec(), "par-", 1, author="   "))
    store.alias_targets[("par-", "prod-")] = 1
    catalog = PromptCatalog(store)

    # When it is read and its alias moved, then the catalog serves it (a new prompt by that name is refused)
    assert catalog.get("par-", "prod-").author == "   "
    assert [v.version for v in catalog.list_versions("par-")] == [1]
    assert catalog.set_alias("par-", "staging", 1).version == 1
