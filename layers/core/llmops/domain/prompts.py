"""The prompt catalog: named prompts as immutable, numbered versions, with movable aliases (prod, staging, ...).

A version holds a system and a user template with `{variable}` placeholders (str.format style, the same as the
built-in RAG prompt, whose variables are {context} and {question}), the variables it declares, the model and
generation parameters it was written for, the text it answers with when it declines, optional guardrail policy
overrides, a description and an author. Versions are never overwritten: publishing a changed spec makes the next
version, publishing the latest spec again returns the latest. `latest` is an implicit alias of every prompt.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llmops.domain.errors import (
    InvalidPrompt,
    PromptConflict,
    PromptNotFound,
    PromptVersionExists,
    UnknownPrompt,
    describe_problems,
)
from llmops.domain.guardrails import GuardrailPolicy

if TYPE_CHECKING:
    from llmops.ports import PromptStore

# The platform's wording when it declines. llmops.domain.answering.I_DONT_KNOW must stay equal to it (a unit test
# checks); answering imports the catalog, so the catalog cannot import answering.
DEFAULT_REFUSAL = "I don't know: the indexed documents do not contain enough information to answer that."
# The variables the answering service fills in for a retrieval-augmented prompt.
RAG_VARIABLES = ("context", "question")
LATEST = "latest"
MAX_VERSION = 999_999
MAX_TEMPLATE_CHARS = 50_000

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
ALIAS_PATTERN = NAME_PATTERN  # a letter first, so an alias is never mistaken for a version number
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_VARIABLE = re.compile(VARIABLE_PATTERN)
_VERSION_NUMBER = re.compile(r"^-?[0-9]+$")

VersionRef = int | str
"""A version number (or its digits), an alias, or `latest`."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelParameters(_Strict):
    """The model a prompt was written for and how to sample it; None leaves the platform's setting."""

    model_id: str | None = Field(default=None, min_length=1, max_length=256)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, allow_inf_nan=False)
    top_k: int | None = Field(default=None, ge=1, le=1000)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    stop: tuple[str, ...] = Field(default=(), max_length=8, description="Stop sequences, at most 8.")

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, stop: tuple[str, ...]) -> tuple[str, ...]:
        if any(not sequence for sequence in stop):
            raise ValueError("stop sequences must not be empty")
        return stop


def placeholders(template: str, where: str = "template") -> list[str]:
    """The variable names a template's `{name}` placeholders use, in order of first use.

    Only plain names are placeholders: no positional `{}`, attribute or index access, conversion or format spec.
    Literal braces are written doubled, `{{` and `}}`.
    """
    found: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"{where}: {error} (write literal braces as {{{{ and }}}})") from error
    for _, field_name, format_spec, conversion in parsed:
        if field_name is None:
            continue
        if not _VARIABLE.match(field_name) or format_spec or conversion:
            shown = field_name + (f"!{conversion}" if conversion else "") + (f":{format_spec}" if format_spec else "")
            raise ValueError(
                f"{where}: placeholder {{{shown}}} is not a plain variable name; use {{name}} "
                "(letters, digits and _), and write literal braces as {{ and }}"
            )
        if field_name not in found:
            found.append(field_name)
    return found


def _variable_name(name: str) -> str:
    # Checked on its own, before the templates: an empty or malformed name can never match a placeholder, and the
    # check that declared variables are used would name it as unused ("used by neither template: " and nothing).
    if not _VARIABLE.fullmatch(name):
        raise ValueError(
            "variable names must be non-empty identifiers: a letter or _ first, then letters, digits or _, "
            "at most 64 characters"
        )
    return name


VariableName = Annotated[str, AfterValidator(_variable_name)]


def answer_prompt_problem(version: PromptVersion) -> str | None:
    """Why a catalog prompt version cannot answer questions, or None when it can."""
    if set(version.variables) != set(RAG_VARIABLES):
        return (
            f"{version.prompt_id} cannot answer questions: an answer prompt declares {{context}} and {{question}} "
            f"and no other variable (it declares {', '.join(version.variables) or 'none'})"
        )
    guardrails = guardrails_problem(version.guardrails)
    if guardrails:
        return f"{version.prompt_id} cannot answer questions: its {guardrails}; publish a version that corrects them"
    return None


def guardrails_problem(overrides: Mapping[str, Any] | None) -> str | None:
    """Why a prompt's guardrail overrides do not apply to the platform's policy, or None when they do."""
    if overrides is None:
        return None
    try:
        GuardrailPolicy().merged_with(overrides)
    except ValidationError as invalid:
        return f"guardrails do not apply: {describe_problems(invalid.errors(), whole='policy')}"
    return None


class PromptSpec(_Strict):
    """What an author writes: everything about a prompt version except its name, number, time and hash."""

    description: str = Field(default="", max_length=2000)
    author: str = Field(min_length=1, max_length=256)
    system_template: str = Field(default="", max_length=MAX_TEMPLATE_CHARS)
    user_template: str = Field(min_length=1, max_length=MAX_TEMPLATE_CHARS)
    variables: tuple[VariableName, ...] = Field(
        default=(), description="Every placeholder the templates use, and no other."
    )
    parameters: ModelParameters = Field(default_factory=ModelParameters)
    refusal: str = Field(default=DEFAULT_REFUSAL, min_length=1, max_length=2000)
    guardrails: dict[str, Any] | None = Field(
        default=None, description="Guardrail policy overrides for answers made with this prompt (validated there)."
    )

    @field_validator("guardrails")
    @classmethod
    def _guardrails_apply(cls, overrides: dict[str, Any] | None) -> dict[str, Any] | None:
        """Refused at publish time: a policy that does not apply would fail every answer made with the prompt."""
        problem = guardrails_problem(overrides)
        if problem:
            raise ValueError(problem)
        return overrides

    @model_validator(mode="after")
    def _variables_match_placeholders(self) -> PromptSpec:
        used = placeholders(self.system_template, "system_template")
        used += [v for v in placeholders(self.user_template, "user_template") if v not in used]
        duplicates = sorted({v for v in self.variables if self.variables.count(v) > 1})
        if duplicates:
            raise ValueError(f"variables declared more than once: {', '.join(duplicates)}")
        undeclared = [v for v in used if v not in self.variables]
        unused = [v for v in self.variables if v not in used]
        problems = []
        if undeclared:
            problems.append(f"placeholders not declared in variables: {', '.join(undeclared)}")
        if unused:
            problems.append(f"declared variables used by neither template: {', '.join(unused)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def fingerprint(self) -> str:
        """sha256 of the spec's canonical JSON: equal specs, equal fingerprints."""
        fields = self.model_dump(mode="json", include=set(PromptSpec.model_fields))
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class RenderedPrompt(_Strict):
    name: str
    version: int
    prompt_id: str
    system: str
    user: str
    parameters: ModelParameters
    refusal: str


class PromptVersion(PromptSpec):
    """One immutable version of a named prompt, as stored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1, le=MAX_VERSION)
    created_at: str
    content_hash: str = Field(description="PromptSpec.fingerprint() of this version's spec.")

    @field_validator("guardrails")
    @classmethod
    def _guardrails_apply(cls, overrides: dict[str, Any] | None) -> dict[str, Any] | None:
        """A stored version reads as it was published, even where a later release refuses its guardrails (a PII
        entity type it no longer accepts): the catalog can still list and show it and move aliases off it. It cannot
        answer; `answer_prompt_problem` says why. Publishing checks the spec before a version is made."""
        return overrides

    @property
    def prompt_id(self) -> str:
        """What an answer records: `name@version`."""
        return f"{self.name}@{self.version}"

    def render(self, variables: Mapping[str, str]) -> RenderedPrompt:
        """The templates with every declared variable filled in; missing or unknown variables are an error."""
        missing = [v for v in self.variables if v not in variables]
        unknown = sorted(set(variables) - set(self.variables))
        problems = []
        if missing:
            problems.append(f"missing variables: {', '.join(missing)}")
        if unknown:
            problems.append(f"variables {self.prompt_id} does not declare: {', '.join(unknown)}")
        if problems:
            raise InvalidPrompt(f"cannot render {self.prompt_id}: {'; '.join(problems)}")
        values = {name: str(value) for name, value in variables.items()}
        return RenderedPrompt(
            name=self.name,
            version=self.version,
            prompt_id=self.prompt_id,
            system=self.system_template.format_map(values),
            user=self.user_template.format_map(values),
            parameters=self.parameters,
            refusal=self.refusal,
        )


class PromptSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    latest_version: int
    description: str
    author: str
    updated_at: str = Field(description="When the latest version was created.")
    aliases: dict[str, int] = Field(default_factory=dict)


class Published(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: PromptVersion
    created: bool = Field(description="False when the spec equalled the latest version's, which is returned.")


class AliasMove(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    alias: str
    version: int
    previous_version: int | None = Field(description="Where the alias pointed before; None when it is new.")


class SyncOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    created: bool
    alias: str | None = None
    alias_moved: bool = False


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidPrompt(
            f"prompt name {name!r} is not a slug: lowercase letters, digits and hyphens, a letter first, 64 at most"
        )
    return name


def check_alias(alias: str) -> str:
    if alias == LATEST:
        raise InvalidPrompt("`latest` is implicit: it always names the newest version and cannot be moved")
    if not _NAME.match(alias):
        raise InvalidPrompt(
            f"alias {alias!r} is not a slug: lowercase letters, digits and hyphens, a letter first, 64 at most"
        )
    return alias


def parse_ref(ref: VersionRef) -> int | str:
    """A version number, or an alias name (`latest` included)."""
    # "-1" is a version number gone wrong, not an alias name: the out-of-range message says what is wrong.
    if isinstance(ref, int) or (isinstance(ref, str) and _VERSION_NUMBER.match(ref)):
        number = int(ref)
        if not 1 <= number <= MAX_VERSION:
            raise InvalidPrompt(f"version {number} is out of range (1 to {MAX_VERSION})")
        return number
    if ref == LATEST:
        return LATEST
    return check_alias(ref)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class PromptCatalog:
    """Publishes, finds, aliases and renders prompt versions kept in a PromptStore."""

    def __init__(
        self,
        store: PromptStore,
        *,
        alias_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 5,
    ) -> None:
        self._store = store
        self._alias_refresh = alias_refresh_seconds
        self._clock = clock
        self._attempts = attempts
        self._versions: dict[tuple[str, int], PromptVersion] = {}
        self._aliases: dict[tuple[str, str], tuple[int, float]] = {}

    # -- writing ------------------------------------------------------------------------------------------------
    def publish(self, name: str, spec: PromptSpec) -> Published:
        """Make `spec` the latest version of `name` (its first version when the prompt is new).

        When the latest version already has this spec it is returned, and nothing is written. Two writers racing
        for the same number cannot overwrite each other: the loser reads again and takes the next number.
        """
        check_name(name)
        fingerprint = spec.fingerprint()
        for _ in range(self._attempts):
            latest = self._store.latest_version(name)
            if latest is not None and latest.content_hash == fingerprint:
                return Published(version=latest, created=False)
            number = latest.version + 1 if latest else 1
            if number > MAX_VERSION:
                raise InvalidPrompt(f"{name} has reached {MAX_VERSION} versions")
            version = PromptVersion.model_validate(
                {
                    **spec.model_dump(),
                    "name": name,
                    "version": number,
                    "created_at": _now(),
                    "content_hash": fingerprint,
                }
            )
            try:
                self._store.put_version(version)
            except PromptVersionExists:
                continue
            return Published(version=version, created=True)
        raise PromptConflict(f"{name}: other writers kept taking the next version number; try again")

    def create_version(self, name: str, spec: PromptSpec) -> PromptVersion:
        return self.publish(name, spec).version

    def set_alias(self, name: str, alias: str, version: int, *, expected: int | None = None) -> AliasMove:
        """Point `alias` at `version` (which must exist). With `expected`, only if the alias points there now."""
        check_name(name)
        check_alias(alias)
        for _ in range(self._attempts):
            current = self._store.get_alias(name, alias)
            if expected is not None and current != expected:
                where = "is not set" if current is None else f"points at {current}"
                raise PromptConflict(f"{name}@{alias} {where}, not at {expected}")
            if current == version:
                if self._store.get_version(name, version) is None:  # cannot happen unless a version was deleted
                    raise self._missing(name, f"version {version}")
                return AliasMove(name=name, alias=alias, version=version, previous_version=current)
            try:
                self._store.put_alias(name, alias, version, current=current)
            except PromptNotFound as error:
                raise self._missing(name, f"version {version}") from error
            except PromptConflict:
                if expected is not None:
                    raise
                continue
            self._aliases.pop((name, alias), None)
            return AliasMove(name=name, alias=alias, version=version, previous_version=current)
        raise PromptConflict(f"{name}@{alias} kept moving meanwhile; try again")

    def sync(
        self, prompts: Iterable[tuple[str, PromptSpec]], alias: str | None = None, *, only_where_missing: bool = False
    ) -> list[SyncOutcome]:
        """Publish each (name, spec) whose spec differs from its latest version, and optionally point `alias` at
        each one's latest version: always, or `only_where_missing` (a first deployment sets `prod`, later ones
        leave promotion to people). Running it twice changes nothing the second time."""
        if alias is not None:
            check_alias(alias)
        outcomes = []
        for name, spec in prompts:
            published = self.publish(name, spec)
            moved = False
            if alias is not None:
                moved = self._point_alias(name, alias, published.version.version, only_where_missing)
            outcomes.append(
                SyncOutcome(
                    name=name,
                    version=published.version.version,
                    created=published.created,
                    alias=alias,
                    alias_moved=moved,
                )
            )
        return outcomes

    def _point_alias(self, name: str, alias: str, version: int, only_where_missing: bool) -> bool:
        if not only_where_missing:
            move = self.set_alias(name, alias, version)
            return move.previous_version != version
        if self._store.get_alias(name, alias) is not None:
            return False
        try:
            self._store.put_alias(name, alias, version, current=None)
        except PromptConflict:  # set by someone else meanwhile: theirs stands
            return False
        return True

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, name: str, ref: VersionRef = LATEST) -> PromptVersion:
        """The version `ref` names, read from the store now."""
        check_name(name)
        parsed = parse_ref(ref)
        if parsed == LATEST:
            version = self._store.latest_version(name)
            if version is None:
                raise UnknownPrompt(f"no prompt named {name}")
            return version
        number = parsed if isinstance(parsed, int) else self._alias_target(name, parsed)
        found = self._store.get_version(name, number)
        if found is None:
            raise self._missing(name, f"version {number}")
        return found

    def resolve(self, name: str, ref: VersionRef = LATEST) -> PromptVersion:
        """`get` for the hot path (answering): versions are immutable and kept once read; what an alias or
        `latest` points at is read again after `alias_refresh_seconds`."""
        check_name(name)
        parsed = parse_ref(ref)
        if isinstance(parsed, int):
            return self._cached_version(name, parsed)
        cached = self._aliases.get((name, parsed))
        if cached is not None and self._clock() - cached[1] < self._alias_refresh:
            return self._cached_version(name, cached[0])
        version = self.get(name, parsed)
        self._versions[(name, version.version)] = version
        self._aliases[(name, parsed)] = (version.version, self._clock())
        return version

    def render(self, name: str, ref: VersionRef, variables: Mapping[str, str]) -> RenderedPrompt:
        """A dry run: the texts the model would be sent."""
        return self.get(name, ref).render(variables)

    def list_prompts(self) -> list[PromptSummary]:
        return sorted(self._store.list_prompts(), key=lambda summary: summary.name)

    def list_versions(self, name: str) -> list[PromptVersion]:
        check_name(name)
        versions = sorted(self._store.list_versions(name), key=lambda v: v.version)
        if not versions:
            raise UnknownPrompt(f"no prompt named {name}")
        return versions

    def aliases(self, name: str) -> dict[str, int]:
        """The prompt's explicit aliases (`latest` is implicit and not listed)."""
        check_name(name)
        return dict(sorted(self._store.aliases(name).items()))

    def _alias_target(self, name: str, alias: str) -> int:
        target = self._store.get_alias(name, alias)
        if target is None:
            raise self._missing(name, f"alias {alias}")
        return target

    def _cached_version(self, name: str, number: int) -> PromptVersion:
        key = (name, number)
        if key not in self._versions:
            self._versions[key] = self.get(name, number)
        return self._versions[key]

    def _missing(self, name: str, what: str) -> PromptNotFound:
        if self._store.latest_version(name) is None:
            return UnknownPrompt(f"no prompt named {name}")
        return PromptNotFound(f"{name} has no {what}")
