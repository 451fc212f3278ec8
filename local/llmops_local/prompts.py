"""`llmops prompts sync` through the platform's API, beside the direct sync into a store
(llmops.adapters.prompt_files.publish_files)."""

from __future__ import annotations

from typing import Any

import requests

from llmops.adapters.prompt_files import PromptFile
from llmops.domain.errors import InvalidPrompt
from llmops.domain.prompts import LATEST, SyncOutcome, answer_prompt_refusal, check_alias


class PromptApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def api_call(api_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    response = requests.request(method, f"{api_url}{path}", json=body, timeout=60)
    if response.status_code >= 400:
        try:
            payload = response.json()
            message = payload.get("message") or payload.get("detail") or response.text
        except ValueError:
            message = response.text
        raise PromptApiError(response.status_code, str(message))
    return response


def sync_through_api(
    api_url: str,
    files: list[PromptFile],
    alias: str | None = None,
    *,
    only_where_missing: bool = False,
    answer_prompt: tuple[str, str] | None = None,
) -> list[SyncOutcome]:
    """The same sync as `publish_files`, through the platform's API: POST /prompts (the catalog returns the
    latest version unchanged when the spec is the same), then PUT the alias. `files` come from load_prompt_files,
    which refuses the folder whole when any file is bad.

    The API refuses, request by request, to make `answer_prompt` (ANSWER_PROMPT_NAME at ANSWER_PROMPT_REF) a version
    that cannot answer; a sync that would be refused so is refused before its first request, so that it does not
    stop halfway, with some files published."""
    if alias is not None:
        check_alias(alias)
    if answer_prompt is not None:
        refusals = _answer_prompt_refusals(api_url, files, alias, only_where_missing, answer_prompt)
        if refusals:
            raise InvalidPrompt("\n".join(refusals))
    outcomes = []
    for file in files:
        body = {"name": file.name, **file.spec.model_dump(mode="json")}
        response = api_call(api_url, "POST", "/prompts", body)
        version = int(response.json()["version"])
        moved = False
        if alias is not None:
            current = api_call(api_url, "GET", f"/prompts/{file.name}").json()["aliases"].get(alias)
            if current != version and not (only_where_missing and current is not None):
                api_call(api_url, "PUT", f"/prompts/{file.name}/aliases/{alias}", {"version": version})
                moved = True
        outcomes.append(
            SyncOutcome(
                name=file.name, version=version, created=response.status_code == 201, alias=alias, alias_moved=moved
            )
        )
    return outcomes


def _answer_prompt_refusals(
    api_url: str, files: list[PromptFile], alias: str | None, only_where_missing: bool, answer_prompt: tuple[str, str]
) -> list[str]:
    """What the catalog would refuse of this sync for the answer prompt's sake (see PromptCatalog.sync)."""
    name, ref = answer_prompt
    refusals = []
    for file in files:
        if file.name != name or ref not in (alias, LATEST):
            continue
        if ref == alias and only_where_missing and alias in _aliases(api_url, name):
            continue  # the sync leaves that alias where it is
        refusal = answer_prompt_refusal(name, ref, file.spec, str(file.path))
        if refusal:
            refusals.append(refusal)
    return refusals


def _aliases(api_url: str, name: str) -> dict[str, int]:
    try:
        return dict(api_call(api_url, "GET", f"/prompts/{name}").json()["aliases"])
    except PromptApiError as error:
        if error.status == 404:  # no such prompt yet: no alias either
            return {}
        raise
