"""Prompts kept as files (one YAML file per prompt: the spec its latest version should have) and their sync into a
prompt store. Used at deployment (the PromptCatalogSync custom resource), by `llmops up` and by `llmops prompts sync
--stack`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from llmops.domain.errors import InvalidPrompt, describe_problems
from llmops.domain.prompts import PromptCatalog, PromptSpec, SyncOutcome, check_name
from llmops.ports import PromptStore

# File keys -> PromptSpec fields; every other key is an error, so a typo never passes silently.
FILE_FIELDS = {
    "description": "description",
    "author": "author",
    "variables": "variables",
    "system": "system_template",
    "user": "user_template",
    "parameters": "parameters",
    "refusal": "refusal",
    "guardrails": "guardrails",
}


class PromptFileError(ValueError):
    """A prompt file that cannot become a prompt version; the message names the file and what to change."""


@dataclass(frozen=True)
class PromptFile:
    path: Path
    name: str
    spec: PromptSpec


def load_prompt_file(path: Path) -> PromptFile:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PromptFileError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise PromptFileError(f"{path}: expected a mapping of name, description, author, variables, system, user ...")
    name = document.get("name")
    if name != path.stem:
        raise PromptFileError(f"{path}: `name` must be the file's name without .yaml ({path.stem!r}), not {name!r}")
    try:
        check_name(name)
    except InvalidPrompt as error:
        raise PromptFileError(f"{path}: {error}") from error
    unknown = sorted(set(document) - set(FILE_FIELDS) - {"name"})
    if unknown:
        raise PromptFileError(f"{path}: unknown keys {', '.join(unknown)}; known: name, {', '.join(FILE_FIELDS)}")
    fields = {FILE_FIELDS[key]: value for key, value in document.items() if key != "name" and value is not None}
    try:
        spec = PromptSpec.model_validate(fields)
    except ValidationError as error:
        raise PromptFileError(f"{path}: {describe_problems(error.errors(), whole='prompt')}") from error
    return PromptFile(path=path, name=name, spec=spec)


def load_prompt_files(folder: Path) -> list[PromptFile]:
    """Every prompts/*.yaml (and *.yml), by name; all problems at once, so one run fixes them all."""
    files, problems = [], []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            files.append(load_prompt_file(path))
        except PromptFileError as error:
            problems.append(str(error))
    if problems:
        raise PromptFileError("\n".join(problems))
    return files


def sync_into_store(
    store: PromptStore, folder: Path, alias: str | None = None, *, only_where_missing: bool = False
) -> list[SyncOutcome]:
    """Publish the folder's prompts into a store: a changed file becomes its prompt's next version; `alias` (when given)
    is pointed at each latest version, or, with `only_where_missing`, only where the prompt has no such alias yet."""
    files = load_prompt_files(folder)
    return PromptCatalog(store).sync(
        [(file.name, file.spec) for file in files], alias, only_where_missing=only_where_missing
    )
