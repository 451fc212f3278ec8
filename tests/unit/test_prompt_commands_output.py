"""What `llmops prompts` prints: on an 80-column terminal every field readable and descriptions whole; the users'
text and the API's errors as written (brackets are text, not rich markup)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from llmops_local import prompt_commands
from llmops_local.prompts import PromptApiError

DESCRIPTION = (
    'Answer from the numbered context passages with [n] citations, or say "I don\'t know" [bold]politely[/bold].'
)


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Console:
    narrow = Console(width=80, color_system=None)
    monkeypatch.setattr(prompt_commands, "console", narrow)
    return narrow


def _version(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": "rag-answer",
        "version": number,
        "author": "llmops platform",
        "created_at": "2026-11-22T00:39:46.123456+00:00",
        "content_hash": "b62487123059aa00ff",
        "description": DESCRIPTION,
    } | fields


def _printed_lines(console: Console, print_it: Any, payload: dict[str, Any]) -> list[str]:
    with console.capture() as captured:
        print_it(payload)
    return captured.get().splitlines()


def _description_under(lines: list[str], header_index: int) -> str:
    """The indented lines after a header line, joined back into one text."""
    following = []
    for line in lines[header_index + 1 :]:
        if not line.startswith("    "):
            break
        following.append(line.strip())
    return " ".join(following)


def test_prompts_list_prints_each_prompt_on_a_line_with_its_whole_description_underneath(console: Console) -> None:
    listed = {
        "prompts": [
            {
                "name": "rag-answer",
                "latest_version": 3,
                "aliases": {"prod": 2, "staging": 3},
                "author": "llmops platform",
                "updated_at": "2026-11-22T00:39:46+00:00",
                "description": DESCRIPTION,
            },
            {
                "name": "judge",
                "latest_version": 1,
                "aliases": {},
                "author": "qa",
                "updated_at": "2026-11-21T10:00:00+00:00",
                "description": "",
            },
        ]
    }

    lines = _printed_lines(console, prompt_commands._print_prompt_list, listed)

    assert all(len(line) <= 80 for line in lines)
    header = lines[0].split()
    assert header[:3] == ["rag-answer", "latest", "3"]
    assert "prod=2, staging=3  by llmops platform  2026-11-22 00:39" in lines[0]
    assert _description_under(lines, 0) == DESCRIPTION
    judge = next(index for index, line in enumerate(lines) if line.startswith("judge"))
    assert "no alias" in lines[judge] and lines[judge].index("latest") == lines[0].index("latest")


def test_prompts_show_lists_versions_newest_aliases_and_hash_with_descriptions(console: Console) -> None:
    detail = {
        "name": "rag-answer",
        "latest_version": 2,
        "aliases": {"prod": 1},
        "versions": [_version(2, description="Shorter."), _version(1)],
    }

    lines = _printed_lines(console, prompt_commands._print_versions, detail)

    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split()[:2] == ["rag-answer@2", "latest"]
    assert _description_under(lines, 0) == "Shorter."
    first = next(index for index, line in enumerate(lines) if line.startswith("rag-answer@1"))
    assert "prod" in lines[first] and "hash b6248712 " in lines[first] + " " and "2026-11-22 00:39" in lines[first]
    assert _description_under(lines, first) == DESCRIPTION


def test_prompts_show_version_prints_templates_and_refusal_as_written(console: Console) -> None:
    found = _version(
        1,
        variables=["context", "question"],
        parameters={"temperature": 0.2, "stop": []},
        system_template="Cite passages as [1], [2]. [red]Never[/red] guess.",
        user_template="{context}\n\nQuestion: {question}",
        refusal="I don't know [yet].",
    )

    printed = "\n".join(_printed_lines(console, prompt_commands._print_version, found))

    assert "rag-answer@1  by llmops platform, 2026-11-22 00:39" in printed
    assert "[n] citations" in printed
    assert "Cite passages as [1], [2]. [red]Never[/red] guess." in printed
    assert "parameters: temperature=0.2\n" in printed  # as people read it, not a Python dict
    assert "refusal I don't know [yet]." in printed


def test_prompts_show_version_prints_its_guardrail_policy_as_compact_json_only_when_it_has_one(
    console: Console,
) -> None:
    spec = {
        "variables": [],
        "parameters": {},
        "system_template": "",
        "user_template": "{question}",
        "refusal": "No.",
    }
    guarded = _version(2, guardrails={"pii": {"action": "block", "entities": ["EMAIL_ADDRESS"]}}, **spec)

    lines = _printed_lines(console, prompt_commands._print_version, guarded)
    unguarded = _printed_lines(console, prompt_commands._print_version, _version(1, guardrails=None, **spec))

    assert 'guardrails: {"pii":{"action":"block","entities":["EMAIL_ADDRESS"]}}' in lines
    assert not any(line.startswith("guardrails") for line in unguarded)


def test_prompts_show_version_prints_every_parameter_readably_and_stop_sequences_visibly(console: Console) -> None:
    found = _version(
        3,
        variables=[],
        parameters={"model_id": "claude-haiku", "temperature": 0.2, "top_k": None, "stop": ["\n\n", "Q:"]},
        system_template="",
        user_template="Hello.",
        refusal="No.",
    )

    lines = _printed_lines(console, prompt_commands._print_version, found)

    assert 'parameters: model_id=claude-haiku, temperature=0.2, stop=["\\n\\n","Q:"]' in lines


def _render(monkeypatch: pytest.MonkeyPatch, rendered: dict[str, Any]) -> Any:
    monkeypatch.setattr(prompt_commands, "_call", lambda *_args, **_: rendered)
    return CliRunner().invoke(prompt_commands.prompts_app, ["render", "greet", "--var", "name=Ada"])


def test_prompts_render_prints_the_parameters_the_model_would_be_called_with(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = {
        "name": "greet",
        "version": 2,
        "prompt_id": "greet@2",
        "system": "Be [bold]kind[/bold].",
        "user": "Hello Ada.",
        "parameters": {"model_id": None, "temperature": 0.7, "max_tokens": 64, "stop": []},
        "refusal": "No.",
    }

    with console.capture() as captured:
        result = _render(monkeypatch, rendered)
    defaults = {**rendered, "parameters": {"model_id": None, "temperature": None, "stop": []}}
    with console.capture() as captured_defaults:
        _render(monkeypatch, defaults)

    assert result.exit_code == 0, result.output
    lines = captured.get().splitlines()
    assert lines[:2] == ["greet@2", "parameters: temperature=0.7, max_tokens=64"]
    assert "Be [bold]kind[/bold]." in lines and "Hello Ada." in lines
    assert "parameters: (platform settings)" in captured_defaults.get().splitlines()


def test_prompts_unalias_deletes_the_alias_and_says_where_it_pointed(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []

    def call(_home: Any, _aws: Any, _api: Any, method: str, path: str, body: Any = None) -> dict[str, Any]:
        calls.append((method, path))
        return {"name": "greet", "alias": "canary", "previous_version": 3}

    monkeypatch.setattr(prompt_commands, "_call", call)

    with console.capture() as captured:
        result = CliRunner().invoke(prompt_commands.prompts_app, ["unalias", "greet", "canary"])

    assert result.exit_code == 0, result.output
    assert calls == [("DELETE", "/prompts/greet/aliases/canary")]
    assert captured.get().splitlines()[0] == "greet@canary deleted (it named version 3)"


MARKUP_LIKE_ERROR = "user_template: unknown placeholder in '[INST] {question} [/INST]' [type=value_error]"


def test_an_api_error_quoting_brackets_is_printed_as_written_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def endpoints(*_: Any) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(api_url="http://api")

    def refuse(*_: Any) -> None:
        raise PromptApiError(422, MARKUP_LIKE_ERROR)

    monkeypatch.setattr(prompt_commands, "platform_endpoints", endpoints)
    monkeypatch.setattr(prompt_commands, "api_call", refuse)

    with pytest.raises(typer.Exit) as exited:
        prompt_commands._call(Path("home"), 4566, 3000, "POST", "/prompts", {})

    assert exited.value.exit_code == 1
    assert capsys.readouterr().err == f"422: {MARKUP_LIKE_ERROR}\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["alias", "conc", "../../greet/aliases/staging", "3"], "alias '../../greet/aliases/staging' is not a slug"),
        (["show", "../prompts"], "prompt name '../prompts' is not a slug"),
        (["show", "greet", "--version", "../../judge-answer"], "alias '../../judge-answer' is not a slug"),
        (["render", "greet?x=1"], "prompt name 'greet?x=1' is not a slug"),
        (["unalias", "greet", "../../judge"], "alias '../../judge' is not a slug"),
    ],
    ids=["alias-of-another-prompt", "name-up-the-path", "version-up-the-path", "query-in-name", "unalias-up-the-path"],
)
def test_a_name_alias_or_version_that_would_leave_its_route_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch, arguments: list[str], message: str
) -> None:
    called: list[str] = []
    monkeypatch.setattr(prompt_commands, "_call", lambda *args, **_: called.append(args[4]) or {})

    result = CliRunner().invoke(prompt_commands.prompts_app, arguments)

    assert result.exit_code == 1 and called == []
    assert message in result.output
