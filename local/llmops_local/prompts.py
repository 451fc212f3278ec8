"""`llmops prompts sync` through the platform's API, beside the direct sync into a store
(llmops.adapters.prompt_files.publish_files)."""

from __future__ import annotations

from typing import Any

import requests

from llmops.adapters.prompt_files import PromptFile
from llmops.domain.errors import InvalidPrompt
from llmops.domain.prompts import PromptVersion, SyncOutcome, check_alias, sync_refusal


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
    latest version unchanged when the spec is the same, or equivalent), then PUT the alias; `only_where_missing`,
    with `only_if_unset`, so that an alias someone sets meanwhile stays where they set it. `files` come from
    load_prompt_files, which refuses the folder whole when any file is bad.

    The API refuses, request by request, to make its answer prompt (the prompts function's ANSWER_PROMPT_NAME at
    ANSWER_PROMPT_REF, which GET /prompts reports) a version that cannot answer; a sync that would be refused so is
    refused before its first write (domain.prompts.sync_refusal, the catalog's own rule), so that it does not stop
    halfway, with some files published. `answer_prompt` is used only where the API does not report its own (a
    stack deployed before it did)."""
    if alias is not None:
        check_alias(alias)
    guarded = _answer_prompt(api_url, answer_prompt)
    refusals = [
        refusal for file in files if (refusal := _sync_refusal(api_url, guarded, file, alias, only_where_missing))
    ]
    if refusals:
        raise InvalidPrompt("\n".join(refusals))
    outcomes = []
    for file in files:
        body = {"name": file.name, **file.spec.model_dump(mode="json")}
        response = api_call(api_url, "POST", "/prompts", body)
        version = int(response.json()["version"])
        moved = False
        if alias is not None:
            moved = _point_alias(api_url, file.name, alias, version, only_where_missing)
        outcomes.append(
            SyncOutcome(
                name=file.name, version=version, created=response.status_code == 201, alias=alias, alias_moved=moved
            )
        )
    return outcomes


def _sync_refusal(
    api_url: str, guarded: tuple[str, str] | None, file: PromptFile, alias: str | None, only_where_missing: bool
) -> str | None:
    """The catalog's rule (sync_refusal), with what it needs read from the API, and only if it needs it."""
    return sync_refusal(
        guarded,
        file.name,
        file.spec,
        alias,
        only_where_missing=only_where_missing,
        unchanged=lambda: _unchanged(api_url, file),
        alias_is_set=lambda: alias in _aliases(api_url, file.name),
        what=lambda _unchanged: str(file.path),
    )


def _point_alias(api_url: str, name: str, alias: str, version: int, only_where_missing: bool) -> bool:
    """PUT the alias (`only_where_missing`: only if it is not set, decided by the catalog's conditional write);
    whether it moved."""
    request: dict[str, Any] = {"version": version}
    if only_where_missing:
        request["only_if_unset"] = True
    try:
        move = api_call(api_url, "PUT", f"/prompts/{name}/aliases/{alias}", request).json()
    except PromptApiError as error:
        if only_where_missing and error.status == 409:  # set already, or by someone else meanwhile: theirs stands
            return False
        raise
    return bool(move["previous_version"] != version)


def _answer_prompt(api_url: str, fallback: tuple[str, str] | None) -> tuple[str, str] | None:
    """The answer prompt the API's catalog guards, as GET /prompts reports it (None: it guards none); `fallback`
    where the API does not say."""
    listed = api_call(api_url, "GET", "/prompts").json()
    if "answer_prompt" not in listed:
        return fallback
    reported = listed["answer_prompt"]
    return (str(reported["name"]), str(reported["ref"])) if reported else None


def _unchanged(api_url: str, file: PromptFile) -> bool:
    """Whether the file's spec is equivalent to its prompt's latest version (so the sync publishes nothing)."""
    try:
        latest = api_call(api_url, "GET", f"/prompts/{file.name}/versions/latest").json()
    except PromptApiError as error:
        if error.status == 404:  # no such prompt yet
            return False
        raise
    return PromptVersion.model_validate(latest).same_as(file.spec)


def _aliases(api_url: str, name: str) -> dict[str, int]:
    try:
        return dict(api_call(api_url, "GET", f"/prompts/{name}").json()["aliases"])
    except PromptApiError as error:
        if error.status == 404:  # no such prompt yet: no alias either
            return {}
        raise
