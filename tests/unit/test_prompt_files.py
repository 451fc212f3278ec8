"""Prompts kept as files in the repository: the built-in RAG prompt's file, mistakes reported by file, and a sync
that publishes only what changed."""

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
