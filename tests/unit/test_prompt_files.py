"""Prompts kept as files in the repository: the built-in RAG prompt's file, mistakes reported by file (two files
for one prompt among them), and a sync that publishes only what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.adapters.prompt_files import PromptFileError, load_prompt_file, load_prompt_files, sync_into_store
from llmops.domain.answering import DEFAULT_PROMPT
from llmops.domain.prompts import DEFAULT_REFUSAL, ModelParameters, PromptCatalog
from tests.fakes import FakePromptStore

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"

TICKET = """\
name: ticket-summary
description: Summarise a support ticket
author: ana
variables: [ticket]
system: You summarise support tickets.
user: "Ticket: {ticket}"
parameters:
  temperature: 0.2
  max_tokens: 120
  stop: ["\\n\\n"]
refusal: I cannot summarise that ticket.
"""


def test_the_rag_answer_file_is_the_builtin_prompt_word_for_word() -> None:
    prompt = load_prompt_file(PROMPTS / "rag-answer.yaml")

    assert prompt.name == "rag-answer"
    assert prompt.spec.system_template == DEFAULT_PROMPT.system
    assert prompt.spec.user_template == DEFAULT_PROMPT.user_template
    assert prompt.spec.variables == ("context", "question")
    assert prompt.spec.refusal == DEFAULT_REFUSAL
    assert prompt.spec.parameters == ModelParameters()


def test_every_prompt_file_in_the_repository_loads() -> None:
    assert [p.name for p in load_prompt_files(PROMPTS)] == sorted(p.stem for p in PROMPTS.glob("*.yaml"))


def test_a_file_maps_onto_a_spec(tmp_path: Path) -> None:
    (tmp_path / "ticket-summary.yaml").write_text(TICKET)

    (prompt,) = load_prompt_files(tmp_path)

    assert prompt.spec.user_template == "Ticket: {ticket}"
    assert prompt.spec.parameters == ModelParameters(temperature=0.2, max_tokens=120, stop=("\n\n",))
    assert prompt.spec.refusal == "I cannot summarise that ticket."


@pytest.mark.parametrize(
    ("file_name", "text", "message"),
    [
        ("other-name.yaml", TICKET, "`name` must be the file's name without .yaml ('other-name')"),
        ("ticket-summary.yaml", TICKET + "temprature: 1\n", "unknown keys temprature"),
        ("ticket-summary.yaml", TICKET.replace("[ticket]", "[]"), "placeholders not declared in variables: ticket"),
        ("ticket-summary.yaml", TICKET.replace("0.2", "9"), "parameters.temperature"),
        ("ticket-summary.yaml", "- a list\n", "expected a mapping"),
        ("ticket-summary.yaml", "name: [unclosed\n", "not valid YAML"),
        ("ticket-summary.yaml", TICKET + "author: someone else\n", "key 'author' is given twice"),
    ],
)
def test_a_broken_file_is_reported_with_its_path_and_what_to_change(
    tmp_path: Path, file_name: str, text: str, message: str
) -> None:
    (tmp_path / file_name).write_text(text)

    with pytest.raises(PromptFileError) as raised:
        load_prompt_files(tmp_path)

    assert file_name in str(raised.value)
    assert message in str(raised.value)


def test_given_synced_files_when_synced_again_then_nothing_is_written_and_prod_stays(tmp_path: Path) -> None:
    (tmp_path / "ticket-summary.yaml").write_text(TICKET)
    store = FakePromptStore()
    first = sync_into_store(store, tmp_path, "prod", only_where_missing=True)
    writes = store.writes

    again = sync_into_store(store, tmp_path, "prod", only_where_missing=True)
    (tmp_path / "ticket-summary.yaml").write_text(TICKET.replace("0.2", "0.4"))
    edited = sync_into_store(store, tmp_path, "prod", only_where_missing=True)

    assert [(o.version, o.created, o.alias_moved) for o in first] == [(1, True, True)]
    assert [(o.version, o.created, o.alias_moved) for o in again] == [(1, False, False)]
    assert store.writes == writes + 1  # the edited file's version 2
    assert [(o.version, o.created, o.alias_moved) for o in edited] == [(2, True, False)]
    assert PromptCatalog(store).get("ticket-summary", "prod").version == 1


GREET = "name: greet\nauthor: ana\nuser: {text}\n"


@pytest.mark.parametrize("file_names", [("greet.yaml", "greet.yml"), ("greet.YAML", "greet.yaml", "greet.yml")])
def test_given_two_files_for_one_prompt_then_both_are_named_and_nothing_is_published(
    tmp_path: Path, file_names: tuple[str, ...]
) -> None:
    # Each run would otherwise publish both texts as new versions, and an alias would land on the last file.
    for number, file_name in enumerate(file_names):
        (tmp_path / file_name).write_text(GREET.format(text=f"Hello number {number}"))
    store = FakePromptStore()

    with pytest.raises(PromptFileError) as raised:
        sync_into_store(store, tmp_path, "prod")

    assert str(raised.value).startswith("greet is defined by ")
    assert all(str(tmp_path / file_name) in str(raised.value) for file_name in file_names)
    assert store.writes == 0


def test_two_files_for_one_prompt_are_reported_with_the_other_problems_at_once(tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_text(GREET.format(text="Hello"))
    (tmp_path / "greet.yml").write_text("name: greet\n  broken: [\n")  # a clash whatever the file holds
    (tmp_path / "ticket-summary.yaml").write_text(TICKET + "temprature: 1\n")

    with pytest.raises(PromptFileError) as raised:
        load_prompt_files(tmp_path)

    problems = str(raised.value).splitlines()
    assert any(line.startswith("greet is defined by both") for line in problems)
    assert any("greet.yml: not valid YAML" in line for line in problems)
    assert any("ticket-summary.yaml: unknown keys temprature" in line for line in problems)


def test_an_upper_case_extension_is_a_prompt_file_too(tmp_path: Path) -> None:
    (tmp_path / "ticket-summary.YAML").write_text(TICKET)
    (tmp_path / "greet.Yml").write_text(GREET.format(text="Hello"))
    (tmp_path / "notes.txt").write_text("not a prompt")
    (tmp_path / "._greet.yml").write_bytes(b"\x00\x05\x16\x07")  # macOS metadata beside a file: hidden, not a prompt

    assert [prompt.name for prompt in load_prompt_files(tmp_path)] == ["greet", "ticket-summary"]


def test_a_file_that_is_not_utf8_is_reported_with_the_others_instead_of_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "greet.yaml").write_bytes(GREET.format(text="Gr\u00fc\u00df dich").encode("latin-1"))
    (tmp_path / "ticket-summary.yaml").write_text(TICKET + "temprature: 1\n")

    with pytest.raises(PromptFileError) as raised:
        load_prompt_files(tmp_path)

    problems = str(raised.value).splitlines()
    assert any(line.endswith("greet.yaml: not UTF-8 text (invalid start byte at byte 32)") for line in problems)
    assert any("ticket-summary.yaml: unknown keys temprature" in line for line in problems)


def test_a_misnamed_file_is_told_its_own_extension(tmp_path: Path) -> None:
    (tmp_path / "hello.YML").write_text(GREET.format(text="Hello"))

    with pytest.raises(PromptFileError, match=r"hello\.YML: `name` must be the file's name without \.YML"):
        load_prompt_files(tmp_path)
