"""The prompt catalog through the local runtime: files synced at start, versions, aliases and rollback, dry runs,
and `llmops prompts` against the running platform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from typer.testing import CliRunner

from llmops.domain.answering import DEFAULT_PROMPT
from llmops_local.cli import app
from llmops_local.connection import PlatformEndpoints
from llmops_local.platform import LocalPlatform


def _spec(description: str, user_template: str = "Ticket from {customer}:\n{ticket}") -> dict[str, Any]:
    return {
        "name": "it-ticket-summary",
        "description": description,
        "author": "integration tests",
        "system_template": "Summarise the support ticket in one sentence.",
        "user_template": user_template,
        "variables": ["customer", "ticket"],
        "parameters": {"temperature": 0.1, "max_tokens": 64, "stop": ["\n\n"]},
    }


def _alias(endpoints: PlatformEndpoints, alias: str, version: int) -> requests.Response:
    return requests.put(
        f"{endpoints.api_url}/prompts/it-ticket-summary/aliases/{alias}", json={"version": version}, timeout=30
    )


def test_given_a_fresh_start_then_the_repository_prompt_files_are_in_the_catalog_with_prod_set(
    endpoints: PlatformEndpoints,
) -> None:
    detail = requests.get(f"{endpoints.api_url}/prompts/rag-answer", timeout=30)
    prod = requests.get(f"{endpoints.api_url}/prompts/rag-answer/versions/prod", timeout=30).json()

    assert detail.status_code == 200
    assert detail.json()["latest_version"] == 1
    assert detail.json()["aliases"] == {"prod": 1}
    assert prod["system_template"] == DEFAULT_PROMPT.system
    assert prod["user_template"] == DEFAULT_PROMPT.user_template


def test_versions_are_created_and_prod_moves_forward_and_rolls_back(endpoints: PlatformEndpoints) -> None:
    api = endpoints.api_url
    v1 = requests.post(f"{api}/prompts", json=_spec("first"), timeout=30)
    v2 = requests.post(f"{api}/prompts", json=_spec("second", "{customer} wrote:\n{ticket}"), timeout=30)
    v2_again = requests.post(f"{api}/prompts", json=_spec("second", "{customer} wrote:\n{ticket}"), timeout=30)

    to_v1 = _alias(endpoints, "prod", 1)
    to_v2 = _alias(endpoints, "prod", 2)
    rolled_back = _alias(endpoints, "prod", 1)
    prod = requests.get(f"{api}/prompts/it-ticket-summary/versions/prod", timeout=30).json()
    detail = requests.get(f"{api}/prompts/it-ticket-summary", timeout=30).json()

    assert (v1.status_code, v1.json()["version"]) == (201, 1)
    assert (v2.status_code, v2.json()["version"]) == (201, 2)
    assert (v2_again.status_code, v2_again.json()["version"]) == (200, 2)
    assert [r.status_code for r in (to_v1, to_v2, rolled_back)] == [200, 200, 200]
    assert rolled_back.json() == {"name": "it-ticket-summary", "alias": "prod", "version": 1, "previous_version": 2}
    assert (prod["version"], prod["description"]) == (1, "first")
    assert detail["latest_version"] == 2 and detail["aliases"] == {"prod": 1}
    assert [v["version"] for v in detail["versions"]] == [1, 2]


def test_a_dry_run_renders_the_aliased_version_and_lists_missing_variables(endpoints: PlatformEndpoints) -> None:
    api = endpoints.api_url
    requests.post(f"{api}/prompts", json={**_spec("first"), "name": "it-render"}, timeout=30)
    requests.put(f"{api}/prompts/it-render/aliases/staging", json={"version": 1}, timeout=30)

    rendered = requests.post(
        f"{api}/prompts/it-render/render",
        json={"ref": "staging", "variables": {"customer": "Ada", "ticket": "The {export} button fails."}},
        timeout=30,
    )
    incomplete = requests.post(
        f"{api}/prompts/it-render/render", json={"ref": "staging", "variables": {"customer": "Ada"}}, timeout=30
    )

    assert rendered.status_code == 200
    assert rendered.json()["prompt_id"] == "it-render@1"
    assert rendered.json()["user"] == "Ticket from Ada:\nThe {export} button fails."
    assert rendered.json()["parameters"]["max_tokens"] == 64
    assert incomplete.status_code == 422
    assert "missing variables: ticket" in incomplete.json()["message"]


def test_missing_prompts_and_bad_specs_are_refused(endpoints: PlatformEndpoints) -> None:
    api = endpoints.api_url

    missing = requests.get(f"{api}/prompts/no-such-prompt", timeout=30)
    missing_alias_target = _alias(endpoints, "canary", 99)
    undeclared = requests.post(f"{api}/prompts", json={**_spec("x"), "variables": ["ticket"]}, timeout=30)

    assert missing.status_code == 404
    assert missing_alias_target.status_code == 404
    assert undeclared.status_code == 422
    assert "placeholders not declared in variables: customer" in undeclared.json()["message"]


def test_llmops_prompts_sync_publishes_changed_files_only_and_moves_an_alias(
    platform: LocalPlatform, endpoints: PlatformEndpoints, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    file = folder / "it-synced.yaml"
    file.write_text(
        "name: it-synced\nauthor: cli\nvariables: [question]\nsystem: Be brief.\nuser: '{question}'\nparameters: {}\n"
    )
    runner = CliRunner()
    home = ["--home", str(platform.config.home)]

    first = runner.invoke(app, ["prompts", "sync", "--dir", str(folder), *home])
    again = runner.invoke(app, ["prompts", "sync", "--dir", str(folder), *home])
    file.write_text(file.read_text().replace("Be brief.", "Be very brief."))
    staged = runner.invoke(app, ["prompts", "sync", "--dir", str(folder), "--alias", "staging", *home])
    listed = runner.invoke(app, ["prompts", "list", *home], env={"COLUMNS": "200"})

    assert first.exit_code == 0, first.output
    assert "new version" in first.output
    assert again.exit_code == 0 and "unchanged" in again.output
    assert staged.exit_code == 0 and "staging -> 2" in staged.output, staged.output
    detail = requests.get(f"{endpoints.api_url}/prompts/it-synced", timeout=30).json()
    assert detail["latest_version"] == 2 and detail["aliases"] == {"staging": 2}
    assert "it-synced" in listed.output and "staging=2" in listed.output


def test_an_alias_is_deleted_through_the_api_and_the_cli_but_the_answer_alias_is_kept(
    platform: LocalPlatform, endpoints: PlatformEndpoints
) -> None:
    api = endpoints.api_url
    requests.post(f"{api}/prompts", json={**_spec("first"), "name": "it-unalias"}, timeout=30)
    for alias in ("canary", "staging"):
        requests.put(f"{api}/prompts/it-unalias/aliases/{alias}", json={"version": 1}, timeout=30)

    deleted = requests.delete(f"{api}/prompts/it-unalias/aliases/canary", timeout=30)
    unaliased = CliRunner().invoke(
        app, ["prompts", "unalias", "it-unalias", "staging", "--home", str(platform.config.home)]
    )
    protected = requests.delete(f"{api}/prompts/rag-answer/aliases/prod", timeout=30)

    assert deleted.status_code == 200
    assert deleted.json() == {"name": "it-unalias", "alias": "canary", "previous_version": 1}
    assert unaliased.exit_code == 0 and "it-unalias@staging deleted" in unaliased.output, unaliased.output
    assert requests.get(f"{api}/prompts/it-unalias", timeout=30).json()["aliases"] == {}
    assert protected.status_code == 422
    assert "rag-answer@prod answers every question that names no prompt" in protected.json()["message"]
    assert requests.get(f"{api}/prompts/rag-answer", timeout=30).json()["aliases"] == {"prod": 1}


def test_listing_prompts_with_an_unknown_query_parameter_is_refused(endpoints: PlatformEndpoints) -> None:
    refused = requests.get(f"{endpoints.api_url}/prompts", params={"nmae": "rag-answer"}, timeout=30)

    assert refused.status_code == 422
    assert "unknown query parameter 'nmae'" in refused.json()["message"]


def test_listing_prompts_says_which_prompt_the_platform_answers_with(endpoints: PlatformEndpoints) -> None:
    listed = requests.get(f"{endpoints.api_url}/prompts", timeout=30)

    assert listed.status_code == 200
    assert listed.json()["answer_prompt"] == {"name": "rag-answer", "ref": "prod"}
    assert "rag-answer" in [prompt["name"] for prompt in listed.json()["prompts"]]


def test_an_alias_set_only_if_unset_is_set_once_and_then_stays(
    platform: LocalPlatform, endpoints: PlatformEndpoints, tmp_path: Path
) -> None:
    api = endpoints.api_url
    for description in ("first", "second"):
        requests.post(f"{api}/prompts", json={**_spec(description), "name": "it-if-unset"}, timeout=30)
    path = f"{api}/prompts/it-if-unset/aliases/prod"

    first = requests.put(path, json={"version": 1, "only_if_unset": True}, timeout=30)
    second = requests.put(path, json={"version": 2, "only_if_unset": True}, timeout=30)
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "it-if-unset.yaml").write_text("name: it-if-unset\nauthor: cli\nuser: Changed.\n")
    home = ["--home", str(platform.config.home)]
    synced = CliRunner().invoke(
        app, ["prompts", "sync", "--dir", str(folder), "--alias", "prod", "--if-missing", *home]
    )

    assert first.status_code == 200 and first.json()["previous_version"] is None
    assert second.status_code == 409 and "it-if-unset@prod is set already" in second.json()["message"]
    assert synced.exit_code == 0, synced.output
    assert "new version" in synced.output and "prod -> 3" not in synced.output
    detail = requests.get(f"{api}/prompts/it-if-unset", timeout=30).json()
    assert detail["latest_version"] == 3 and detail["aliases"] == {"prod": 1}


def test_llmops_prompts_sync_checks_the_platforms_answer_prompt_not_its_own_environments(
    platform: LocalPlatform, endpoints: PlatformEndpoints, tmp_path: Path
) -> None:
    # The platform answers with rag-answer@prod (its functions' settings, read before this test's shell changes).
    assert requests.get(f"{endpoints.api_url}/prompts", timeout=30).json()["answer_prompt"]["ref"] == "prod"
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "it-shell-answer.yaml").write_text(
        "name: it-shell-answer\nauthor: cli\nvariables: [question]\nsystem: Be brief.\nuser: '{question}'\n"
    )

    # A shell that names this prompt as the answer prompt does not stop a sync the platform takes.
    synced = CliRunner().invoke(
        app,
        ["prompts", "sync", "--dir", str(folder), "--alias", "staging", "--home", str(platform.config.home)],
        env={"ANSWER_PROMPT_NAME": "it-shell-answer", "ANSWER_PROMPT_REF": "staging"},
    )

    assert synced.exit_code == 0, synced.output
    assert requests.get(f"{endpoints.api_url}/prompts/it-shell-answer", timeout=30).json()["aliases"] == {"staging": 1}


def test_a_spec_written_differently_but_meaning_the_same_is_the_same_version(endpoints: PlatformEndpoints) -> None:
    api = endpoints.api_url
    written = {**_spec("first"), "name": "it-equivalent", "guardrails": {"pii": "flag"}}
    rewritten = {**written, "variables": ["ticket", "customer"], "guardrails": {"pii": {"action": "FLAG"}}}

    first = requests.post(f"{api}/prompts", json=written, timeout=30)
    again = requests.post(f"{api}/prompts", json=rewritten, timeout=30)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the version as its author wrote it
