"""`llmops prompts sync` through the API, against the prompts function itself (on an in-memory catalog): the
answer prompt it checks is the function's, as GET /prompts reports it, not the one in the client's environment;
the rule is the catalog's own; `--if-missing` leaves an alias that someone sets meanwhile where they set it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from llmops.adapters.prompt_files import PromptFile
from llmops.domain.errors import InvalidPrompt
from llmops.domain.prompts import PromptCatalog, PromptSpec, PromptVersion
from llmops_local import prompt_commands
from llmops_local import prompts as api_sync
from tests.fakes import FakePromptStore
from tests.handler_events import api_event, call_handler
from tests.template.handler_modules import load_handler_module

ANSWERS = {"author": "ana", "system_template": "{context}", "user_template": "{question}"}
CANNOT_ANSWER = {"author": "ana", "system_template": "Be brief.", "user_template": "{question} {tone}"}


class _Api:
    """The prompts function behind `api_call`: each call an API Gateway event to its handler, over one store."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.store = FakePromptStore()
        self.answer_prompt: tuple[str, str] | None = ("rag-answer", "prod")  # the function's settings
        self.reports_answer_prompt = True  # False: a stack deployed before GET /prompts said which it guards
        self.calls: list[tuple[str, str]] = []
        self.before_put: Callable[[], None] = lambda: None

    def catalog(self) -> PromptCatalog:
        return PromptCatalog(self.store, answer_prompt=self.answer_prompt)

    def call(self, api_url: str, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        if method == "PUT":
            self.before_put()
        status, payload = call_handler(self.module, api_event(method, path, body))
        if status >= 400:
            raise api_sync.PromptApiError(status, payload.get("message", ""))
        if path == "/prompts" and method == "GET" and not self.reports_answer_prompt:
            del payload["answer_prompt"]
        return SimpleNamespace(status_code=status, json=lambda: payload)

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]


@pytest.fixture
def api(handler_env: None, monkeypatch: pytest.MonkeyPatch) -> _Api:
    fake = _Api(load_handler_module("prompts"))
    monkeypatch.setattr(fake.module, "catalog", fake.catalog)
    monkeypatch.setattr(api_sync, "api_call", fake.call)
    return fake


def _file(name: str, **fields: Any) -> PromptFile:
    return PromptFile(name=name, path=Path(f"prompts/{name}.yaml"), spec=PromptSpec.model_validate(fields))


def _rag_answer_that_cannot_answer(variables: list[str] | None = None) -> PromptFile:
    return _file("rag-answer", **CANNOT_ANSWER, variables=variables or ["question", "tone"])


def test_the_answer_prompt_the_function_guards_is_checked_not_the_one_in_the_clients_environment(api: _Api) -> None:
    # Given a function that answers with rag-answer@staging, and a client whose environment says rag-answer@prod
    api.answer_prompt = ("rag-answer", "staging")

    # When it syncs, with staging, a rag-answer that cannot answer, then it is refused before anything is written
    with pytest.raises(InvalidPrompt) as refused:
        api_sync.sync_through_api(
            "http://api.invalid", [_rag_answer_that_cannot_answer()], "staging", answer_prompt=("rag-answer", "prod")
        )

    assert str(refused.value).startswith(
        "rag-answer@staging answers every question that names no prompt; prompts/rag-answer.yaml cannot answer"
    )
    assert api.writes() == [] and api.store.writes == 0


def test_a_prompt_only_the_clients_environment_names_as_the_answer_prompt_is_synced(api: _Api) -> None:
    # The function guards rag-answer@prod; the client's environment names another prompt and alias.
    outcomes = api_sync.sync_through_api(
        "http://api.invalid",
        [_file("tone-check", **CANNOT_ANSWER, variables=["question", "tone"])],
        "staging",
        answer_prompt=("tone-check", "staging"),
    )

    assert [(o.name, o.version, o.created, o.alias_moved) for o in outcomes] == [("tone-check", 1, True, True)]
    assert api.catalog().aliases("tone-check") == {"staging": 1}


def test_an_api_that_does_not_say_which_prompt_it_guards_is_checked_against_the_clients_own(api: _Api) -> None:
    api.reports_answer_prompt = False

    with pytest.raises(InvalidPrompt, match=r"^rag-answer@prod answers every question"):
        api_sync.sync_through_api(
            "http://api.invalid", [_rag_answer_that_cannot_answer()], "prod", answer_prompt=("rag-answer", "prod")
        )

    assert api.writes() == []


def test_given_the_latest_answers_then_an_unchanged_file_that_cannot_answer_is_synced_as_the_catalog_would(
    api: _Api,
) -> None:
    # Given rag-answer@1, which cannot answer, stored before the function answered with `latest`
    file = _rag_answer_that_cannot_answer()
    stamp = {"name": "rag-answer", "version": 1, "created_at": "2026-01-01T00:00:00+00:00", "content_hash": "0" * 64}
    api.store.put_version(PromptVersion.model_validate(file.spec.model_dump() | stamp))
    api.answer_prompt = ("rag-answer", "latest")

    # When its file, unchanged, is synced again: the catalog would publish nothing, so nothing is refused
    outcomes = api_sync.sync_through_api("http://api.invalid", [file], answer_prompt=("rag-answer", "latest"))
    direct = api.catalog().sync([(file.name, file.spec)])

    assert [(o.version, o.created) for o in outcomes] == [(1, False)]
    assert [(o.version, o.created) for o in direct] == [(1, False)]


def _given_rag_answer_at_prod(store: FakePromptStore) -> None:
    catalog = PromptCatalog(store)
    catalog.publish("rag-answer", PromptSpec.model_validate(ANSWERS | {"variables": ["context", "question"]}))
    catalog.set_alias("rag-answer", "prod", 1)


def _refusal(sync: Callable[[], object]) -> str | None:
    try:
        sync()
    except InvalidPrompt as error:
        return str(error)
    return None


@pytest.mark.parametrize(
    ("answer_ref", "alias", "only_where_missing", "refused"),
    [
        ("prod", "prod", False, True),
        ("prod", "prod", True, False),  # prod is set: it stays, so nothing is refused
        ("prod", "staging", False, False),
        ("staging", "staging", True, True),  # staging is not set: it would be set
        ("latest", None, False, True),  # a changed spec: published, it would be the latest
    ],
)
def test_the_client_and_the_catalog_refuse_the_same_syncs(
    api: _Api, answer_ref: str, alias: str | None, only_where_missing: bool, refused: bool
) -> None:
    # Given rag-answer@1, which answers, at prod (in the function's catalog, and in a store synced directly), and a
    # changed rag-answer file that cannot answer
    _given_rag_answer_at_prod(api.store)
    api.answer_prompt = ("rag-answer", answer_ref)
    store = FakePromptStore()
    _given_rag_answer_at_prod(store)
    file = _rag_answer_that_cannot_answer()

    through_api = _refusal(
        lambda: api_sync.sync_through_api("http://api.invalid", [file], alias, only_where_missing=only_where_missing)
    )
    direct = _refusal(
        lambda: PromptCatalog(store, answer_prompt=("rag-answer", answer_ref)).sync(
            [(file.name, file.spec)], alias, only_where_missing=only_where_missing
        )
    )

    assert (through_api is not None, direct is not None) == (refused, refused)
    if through_api is not None:
        # The same rule and wording; each names the version as it knows it (the file, or the number it would take).
        assert through_api.replace("prompts/rag-answer.yaml", "rag-answer@2") == direct
        assert api.writes() == []


def test_if_missing_leaves_an_alias_set_meanwhile_where_it_was_set(api: _Api) -> None:
    # Given greet@1, and a changed greet file to sync with prod only where it is missing (prod is not set yet)
    api.catalog().publish("greet", PromptSpec(author="ana", user_template="Hello."))
    file = _file("greet", author="ana", user_template="Hello again.")

    # When someone points prod at 1 just before the sync's PUT reaches the function
    def someone_sets_prod() -> None:
        api.catalog().set_alias("greet", "prod", 1)

    api.before_put = someone_sets_prod
    outcomes = api_sync.sync_through_api("http://api.invalid", [file], "prod", only_where_missing=True)

    # Then prod stays where they set it, and the sync says it did not move it
    assert [(o.version, o.created, o.alias_moved) for o in outcomes] == [(2, True, False)]
    assert api.catalog().aliases("greet") == {"prod": 1}
    assert api.calls == [("GET", "/prompts"), ("POST", "/prompts"), ("PUT", "/prompts/greet/aliases/prod")]


def test_if_missing_sets_a_missing_alias_and_says_so(api: _Api) -> None:
    outcomes = api_sync.sync_through_api(
        "http://api.invalid", [_file("greet", author="ana", user_template="Hello.")], "prod", only_where_missing=True
    )
    again = api_sync.sync_through_api(
        "http://api.invalid", [_file("greet", author="ana", user_template="Hello.")], "prod", only_where_missing=True
    )

    assert [(o.version, o.created, o.alias_moved) for o in outcomes + again] == [(1, True, True), (1, False, False)]
    assert api.catalog().aliases("greet") == {"prod": 1}


def test_llmops_prompts_sync_checks_the_functions_answer_prompt_whatever_its_own_environment_says(
    api: _Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function that answers with rag-answer@staging, and a shell where ANSWER_PROMPT_REF is prod (the default)
    api.answer_prompt = ("rag-answer", "staging")
    monkeypatch.setenv("ANSWER_PROMPT_NAME", "rag-answer")
    monkeypatch.setenv("ANSWER_PROMPT_REF", "prod")

    @contextmanager
    def endpoints(*_: Any) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(api_url="http://api.invalid")

    monkeypatch.setattr(prompt_commands, "platform_endpoints", endpoints)
    monkeypatch.setattr(prompt_commands, "console", Console(width=400, color_system=None))
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "rag-answer.yaml").write_text(
        "name: rag-answer\nauthor: ana\nvariables: [question]\nsystem: Be brief.\nuser: '{question}'\n"
    )

    result = CliRunner().invoke(
        prompt_commands.prompts_app,
        ["sync", "--home", str(tmp_path / "home"), "--dir", str(folder), "--alias", "staging"],
    )

    assert result.exit_code == 1
    assert "rag-answer@staging answers every question that names no prompt" in result.output
    assert api.writes() == []
