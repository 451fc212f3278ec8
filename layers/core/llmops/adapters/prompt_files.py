"""Prompts kept as files (one YAML file per prompt: the spec its latest version should have) and their sync into a
prompt store. Used at deployment (the PromptCatalogSync custom resource), by `llmops up` and by `llmops prompts sync
--stack`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from llmops.domain.errors import InvalidPrompt, describe_problems
from llmops.domain.prompts import PromptCatalog, PromptSpec, SyncOutcome, VersionRef, check_name
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


# Compared in lower case: see prompt_file_paths.
SUFFIXES = (".yaml", ".yml")


class PromptFileError(ValueError):
    """A prompt file that cannot become a prompt version; the message names the file and what to change."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice: PyYAML keeps the last one, and `user:` written twice would publish
    the second without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


@dataclass(frozen=True)
class PromptFile:
    path: Path
    name: str
    spec: PromptSpec


def load_prompt_file(path: Path) -> PromptFile:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        raise PromptFileError(f"{path}: not valid YAML: {error}") from error
    except UnicodeDecodeError as error:
        raise PromptFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise PromptFileError(f"{path}: cannot be read ({error.strerror or error})") from error
    if not isinstance(document, dict):
        raise PromptFileError(f"{path}: expected a mapping of name, description, author, variables, system, user ...")
    name = document.get("name")
    if name != path.stem:
        raise PromptFileError(
            f"{path}: `name` must be the file's name without {path.suffix} ({path.stem!r}), not {name!r}"
        )
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


def prompt_file_paths(folder: Path) -> list[Path]:
    """The folder's prompt files: *.yaml and *.yml, the extension in any case, so that greet.YAML is published rather
    than silently left out; sorted, so problems and outcomes come in the same order on every run. Hidden files are
    not prompts (macOS leaves ._greet.yaml beside greet.yaml on some disks), as `llmops ingest` skips them too."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def load_prompt_files(folder: Path) -> list[PromptFile]:
    """Every prompt file of the folder (see prompt_file_paths), by name; all problems at once, so one run fixes them
    all. Two files for one prompt are a problem: each sync would publish both as new versions, forever, and an alias
    would land on whichever sorts last."""
    paths = prompt_file_paths(folder)
    files, problems = [], []
    for path in paths:
        try:
            files.append(load_prompt_file(path))
        except PromptFileError as error:
            problems.append(str(error))
    problems.extend(_clashes(paths))
    if problems:
        raise PromptFileError("\n".join(problems))
    return files


def _clashes(paths: list[Path]) -> list[str]:
    """One problem per prompt that more than one file defines. A file's name must be its prompt's name, so files are
    grouped by name without extension: that finds a clash even when one of its files has other problems too."""
    by_name: dict[str, list[Path]] = {}
    for path in paths:
        by_name.setdefault(path.stem, []).append(path)
    problems = []
    for name, same in by_name.items():
        if len(same) > 1:
            both = "both " if len(same) == 2 else ""
            listed = ", ".join(str(path) for path in same[:-1]) + f" and {same[-1]}"
            problems.append(f"{name} is defined by {both}{listed}: keep one file per prompt")
    return problems


def publish_files(
    store: PromptStore,
    files: list[PromptFile],
    alias: str | None = None,
    *,
    only_where_missing: bool = False,
    answer_prompt: tuple[str, VersionRef] | None = None,
) -> list[SyncOutcome]:
    """Publish loaded prompt files into a store (see sync_into_store)."""
    catalog = PromptCatalog(store, answer_prompt=answer_prompt)
    return catalog.sync([(file.name, file.spec) for file in files], alias, only_where_missing=only_where_missing)


def sync_into_store(
    store: PromptStore,
    folder: Path,
    alias: str | None = None,
    *,
    only_where_missing: bool = False,
    answer_prompt: tuple[str, VersionRef] | None = None,
) -> list[SyncOutcome]:
    """Publish the folder's prompts into a store: a changed file becomes its prompt's next version; `alias` (when given)
    is pointed at each latest version, or, with `only_where_missing`, only where the prompt has no such alias yet.

    Nothing is published unless every file is a valid prompt (within the catalog's size limit among the rest) and
    the sync keeps `answer_prompt` (ANSWER_PROMPT_NAME at ANSWER_PROMPT_REF) able to answer: see PromptCatalog."""
    files = load_prompt_files(folder)
    return publish_files(store, files, alias, only_where_missing=only_where_missing, answer_prompt=answer_prompt)
