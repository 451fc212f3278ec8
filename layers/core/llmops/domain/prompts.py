"""The prompt catalog: named prompts as immutable, numbered versions, with movable aliases (prod, staging, ...).

A version holds a system and a user template with `{variable}` placeholders (str.format style, the same as the
built-in RAG prompt, whose variables are {context} and {question}), the variables it declares, the model and
generation parameters it was written for, the text it answers with when it declines, optional guardrail policy
overrides, a description and an author. Versions are never overwritten: publishing a changed spec makes the next
version, publishing the latest spec again (or one written differently that means the same: see
PromptSpec.fingerprint) returns the latest. `latest` is an implicit alias of every prompt.
"""

from __future__ import annotations

import functools
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
    about,
    describe_problems,
)
from llmops.domain.guardrails import CheckPolicy, GuardrailCheck, GuardrailPolicy, GuardrailStage

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
# A prompt's spec as JSON in UTF-8 (what the store keeps of a version, less a few short fields), at most. Every
# character limit can be met by a spec far too large to store: a template of 50,000 emoji takes 200,000 bytes, of
# control characters 300,000 (JSON writes each as \u0001). DynamoDB refuses an item over 400 KB (409,600 bytes); a
# version's item is this JSON, its name, number, time and hash (under 300 bytes), its author and description once
# more (under 9 KB) and its keys, so 350,000 bytes leave more than 40 KB to spare.
MAX_PROMPT_BYTES = 350_000

# A slug: lowercase words of letters and digits joined by single hyphens, a letter first (so an alias is never
# mistaken for a version number): `rag-answer`, `prod`, `canary-2`; not `rag-`, `rag--answer` or `-rag`.
NAME_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
ALIAS_PATTERN = NAME_PATTERN
MAX_NAME_CHARS = 64
# What earlier releases took as a name or alias (a trailing or doubled hyphen): what they made is still read, moved
# and deleted under it; nothing new is.
STORED_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
VARIABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_STORED_NAME = re.compile(STORED_NAME_PATTERN)
_VARIABLE = re.compile(VARIABLE_PATTERN)
_VERSION_NUMBER = re.compile(r"^-?[0-9]+$")

VersionRef = int | str
"""A version number (or its digits), an alias, or `latest`."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelParameters(_Strict):
    """The model a prompt was written for and how to sample it; None leaves the platform's setting.

    The numbers are strict: `true` is not 1 and "0.2" is not 0.2 (a float takes an integer, as JSON and YAML
    write 1 for 1.0), so a mistyped value is refused rather than sent to the model as something else."""

    model_id: str | None = Field(default=None, min_length=1, max_length=256)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False, strict=True)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, allow_inf_nan=False, strict=True)
    top_k: int | None = Field(default=None, ge=1, le=1000, strict=True)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768, strict=True)
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
    return answer_spec_problem(version, version.prompt_id)


def answer_spec_problem(spec: PromptSpec, what: str) -> str | None:
    """Why a prompt (`what`: its id, or the file it comes from) cannot answer questions, or None when it can."""
    if set(spec.variables) != set(RAG_VARIABLES):
        return (
            f"{what} cannot answer questions: an answer prompt declares {{context}} and {{question}} "
            f"and no other variable (it declares {', '.join(spec.variables) or 'none'})"
        )
    guardrails = guardrails_problem(spec.guardrails)
    if guardrails:
        return f"{what} cannot answer questions: its {guardrails}; publish a version that corrects them"
    return None


def answer_prompt_refusal(name: str, ref: str, spec: PromptSpec, what: str) -> str | None:
    """Why `spec` must not become what `name`@`ref` names when that is the configured answer prompt
    (ANSWER_PROMPT_NAME, ANSWER_PROMPT_REF), or None when it can answer."""
    problem = answer_spec_problem(spec, what)
    return f"{name}@{ref} answers every question that names no prompt; {problem}" if problem else None


def sync_refusal(
    answer_prompt: tuple[str, str] | None,
    name: str,
    spec: PromptSpec,
    alias: str | None,
    *,
    only_where_missing: bool,
    unchanged: Callable[[], bool],
    alias_is_set: Callable[[], bool],
    what: Callable[[bool], str],
) -> str | None:
    """Why syncing `spec` as `name` would leave the answer prompt (`answer_prompt`: ANSWER_PROMPT_NAME at
    ANSWER_PROMPT_REF) naming a version that cannot answer, or None. The one rule for every sync: the catalog's
    (PromptCatalog.sync: files into a store, the deployment's) and the CLI's through the API, which checks it
    before its first request.

    A sync publishes `spec` unless it is `unchanged` from the prompt's latest version, then points `alias` (if any)
    at the latest version; `only_where_missing`, only where `alias_is_set` is false. So with the answer prompt at
    `latest`, an unchanged spec is never refused (nothing is published); at `alias`, it is unless the alias is set
    and stays. The callables read what they need (a store, the API) only when `name` is the answer prompt and the
    rule needs it; `what(unchanged)` names the version in the message (`rag-answer@3`, or the file it comes from)."""
    if answer_prompt is None:
        return None
    answer_name, answer_ref = answer_prompt
    if name != answer_name or answer_ref not in (LATEST, alias):
        return None
    is_unchanged = unchanged()
    if answer_ref == LATEST and is_unchanged:
        return None  # nothing is published
    if answer_ref == alias and only_where_missing and alias_is_set():
        return None  # the alias stays where it is
    return answer_prompt_refusal(answer_name, answer_ref, spec, what(is_unchanged))


def _not_blank(text: str) -> str:
    if text and not text.strip():
        raise ValueError("must not be blank (only whitespace)")
    return text


def guardrails_problem(overrides: Mapping[str, Any] | None) -> str | None:
    """Why a prompt's guardrail overrides do not apply to the platform's policy, or None when they do."""
    if overrides is None:
        return None
    try:
        GuardrailPolicy().merged_with(overrides)
    except ValidationError as invalid:
        return f"guardrails do not apply: {describe_problems(invalid.errors(), whole='policy')}"
    return None


def _canonical_guardrails(overrides: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Guardrail overrides in one form for each meaning, as GuardrailPolicy.merged_with reads them: the shorthand
    written out (`"flag"` is `{"action": "flag"}`), actions by their names (`mask` is `redact`, `BLOCK` is `block`),
    thresholds as floats, PII entity types as findings carry them, sorted and once each, and what changes nothing
    (an empty check, stage or set of overrides) left out. Only the fields the overrides name are kept: one that
    writes out a default (`{"pii": "redact"}`) still differs from none, as the platform's policy may differ.
    Overrides that no longer apply (stored by an earlier release) are kept as written."""
    if overrides is None:
        return None
    try:
        policy = GuardrailPolicy().merged_with(overrides)
    except ValidationError:
        return dict(overrides)
    canonical: dict[str, Any] = {}
    for name, change in overrides.items():
        if name in {stage.value for stage in GuardrailStage}:
            at_stage = policy.at(GuardrailStage(name))
            checks = {
                check: _named_fields(at_stage.for_check(GuardrailCheck(check)), value)
                for check, value in change.items()
            }
            checks = {check: fields for check, fields in checks.items() if fields}
            if checks:
                canonical[name] = checks
        else:
            fields = _named_fields(policy.for_check(GuardrailCheck(name)), change)
            if fields:
                canonical[name] = fields
    return canonical or None


def _named_fields(policy: CheckPolicy, change: Any) -> dict[str, Any]:
    """The fields of a check's policy that `change` (a check's override: an action, or a mapping of fields) names,
    as the policy holds them once the overrides are applied."""
    named = ["action"] if isinstance(change, str) else list(change)
    values = policy.model_dump(mode="json")
    fields = {field: values[field] for field in named}
    if "entities" in fields:
        fields["entities"] = sorted(fields["entities"])
    return fields


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

    @field_validator("author", "system_template", "user_template", "refusal")
    @classmethod
    def _text_not_blank(cls, text: str) -> str:
        """An empty system template means none; whitespace is a mistake (an author of spaces names no one)."""
        return _not_blank(text)

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

    @model_validator(mode="after")
    def _fits_in_the_store(self) -> PromptSpec:
        size = len(self.model_dump_json(include=set(PromptSpec.model_fields)).encode())
        if size > MAX_PROMPT_BYTES:
            raise ValueError(
                f"the prompt takes {size:,} bytes as stored (JSON, UTF-8), at most {MAX_PROMPT_BYTES:,} bytes: "
                "shorten its templates (characters outside ASCII take 2 to 4 bytes, control characters 6)"
            )
        return self

    def fingerprint(self) -> str:
        """sha256 of the spec's canonical JSON: equivalent specs, equal fingerprints. Specs are equivalent when they
        differ only in how they are written: the order of `variables` (rendering fills them by name), or guardrail
        overrides in another form that the policy reads the same (the shorthand `{"pii": "flag"}` and
        `{"pii": {"action": "flag"}}`; see _canonical_guardrails). The spec itself keeps its author's form."""
        fields = self.model_dump(mode="json", include=set(PromptSpec.model_fields))
        fields["variables"] = sorted(fields["variables"])
        fields["guardrails"] = _canonical_guardrails(self.guardrails)
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def same_as(self, other: PromptSpec) -> bool:
        """Whether the two specs are equivalent (equal fingerprints), computed now: a stored version's
        content_hash may come from an earlier release's fingerprint, so it is not compared."""
        return self.fingerprint() == other.fingerprint()


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

    name: str = Field(pattern=STORED_NAME_PATTERN)
    version: int = Field(ge=1, le=MAX_VERSION)
    created_at: str
    content_hash: str = Field(
        description="PromptSpec.fingerprint() of this version's spec when it was published (an earlier release's "
        "fingerprint for a version it published: to compare specs, fingerprint them again)."
    )

    # A stored version reads as it was published, even where a later release refuses what it holds (a PII entity
    # type it no longer accepts, a blank author, a size over MAX_PROMPT_BYTES, a name with a trailing hyphen): the
    # catalog can still list and show it and move aliases off it. Publishing checks the spec before a version is made.

    @field_validator("guardrails")
    @classmethod
    def _guardrails_apply(cls, overrides: dict[str, Any] | None) -> dict[str, Any] | None:
        """Such a version cannot answer; `answer_prompt_problem` says why."""
        return overrides

    @field_validator("author", "system_template", "user_template", "refusal")
    @classmethod
    def _text_not_blank(cls, text: str) -> str:
        return text

    @model_validator(mode="after")
    def _fits_in_the_store(self) -> PromptVersion:
        return self

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
            raise InvalidPrompt(f"cannot render {self.prompt_id}: {'; '.join(problems)}", field=("variables",))
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


class AliasDeletion(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    alias: str
    previous_version: int = Field(description="The version the alias named until it was deleted.")


class SyncOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    created: bool
    alias: str | None = None
    alias_moved: bool = False


_SLUG_RULE = (
    "lowercase letters and digits in words joined by single hyphens, a letter first, "
    f"{MAX_NAME_CHARS} characters at most (e.g. rag-answer)"
)


def _is_slug(text: str, *, existing: bool) -> bool:
    if existing:
        return bool(_STORED_NAME.fullmatch(text))
    return len(text) <= MAX_NAME_CHARS and bool(_NAME.fullmatch(text))


def check_name(name: str, *, existing: bool = False) -> str:
    """A prompt name, for a new prompt or (`existing`) to find one, which may have been named under the looser
    rule of an earlier release (STORED_NAME_PATTERN)."""
    if not _is_slug(name, existing=existing):
        raise InvalidPrompt(f"prompt name {name!r} is not a slug: {_SLUG_RULE}")
    return name


def check_alias(alias: str, *, existing: bool = False) -> str:
    """An alias, to set or (`existing`) to find, move off or delete one made under an earlier release's rule."""
    if alias == LATEST:
        raise InvalidPrompt("`latest` is implicit: it always names the newest version and cannot be moved or deleted")
    if not _is_slug(alias, existing=existing):
        raise InvalidPrompt(f"alias {alias!r} is not a slug: {_SLUG_RULE}")
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
    return check_alias(ref, existing=True)


def _checked_name_and_ref(name: str, ref: VersionRef) -> int | str:
    """`parse_ref(ref)` once `name` is known to be a name; a refusal says which of the two it is about."""
    with about("name"):
        check_name(name, existing=True)
    with about("ref"):
        return parse_ref(ref)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _stamped(name: str, spec: PromptSpec, number: int, fingerprint: str) -> PromptVersion:
    """`spec` as version `number` of `name`, made now."""
    fields = {**spec.model_dump(), "name": name, "version": number, "created_at": _now(), "content_hash": fingerprint}
    return PromptVersion.model_validate(fields)


class PromptCatalog:
    """Publishes, finds, aliases and renders prompt versions kept in a PromptStore.

    `answer_prompt` is the prompt and version reference that answer every question that names no prompt
    (ANSWER_PROMPT_NAME, ANSWER_PROMPT_REF): were it to name a version that cannot answer, or nothing, every such
    question would fail. So the catalog refuses (InvalidPrompt) to point that alias at a version that cannot answer
    or to delete it; when the reference is `latest`, to publish such a version. Whoever writes through the catalog
    (the API, `llmops prompts sync`, the deployment's sync) is held to it."""

    def __init__(
        self,
        store: PromptStore,
        *,
        alias_refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 5,
        answer_prompt: tuple[str, VersionRef] | None = None,
    ) -> None:
        self._store = store
        self._alias_refresh = alias_refresh_seconds
        self._clock = clock
        self._attempts = attempts
        # As text: an alias starts with a letter, so a version number here protects nothing (versions never change).
        self._answer_prompt = (answer_prompt[0], str(answer_prompt[1])) if answer_prompt else None
        self._versions: dict[tuple[str, int], PromptVersion] = {}
        self._aliases: dict[tuple[str, str], tuple[int, float]] = {}

    @property
    def answer_prompt(self) -> tuple[str, str] | None:
        """The prompt and version reference that answer every question that names no prompt, as this catalog guards
        them; None when it guards none."""
        return self._answer_prompt

    # -- writing ------------------------------------------------------------------------------------------------
    def publish(self, name: str, spec: PromptSpec) -> Published:
        """Make `spec` the latest version of `name` (its first version when the prompt is new).

        When the latest version already has this spec, or an equivalent one (PromptSpec.fingerprint), it is returned
        and nothing is written: the latest's spec is fingerprinted again rather than its stored content_hash read,
        which an earlier release may have computed otherwise. Two writers racing for the same number cannot
        overwrite each other: the loser reads again and takes the next number.
        """
        with about("name"):
            check_name(name)
        fingerprint = spec.fingerprint()
        for _ in range(self._attempts):
            latest = self._store.latest_version(name)
            if latest is not None and latest.same_as(spec):
                return Published(version=latest, created=False)
            number = latest.version + 1 if latest else 1
            if number > MAX_VERSION:
                raise InvalidPrompt(f"{name} has reached {MAX_VERSION} versions")
            version = _stamped(name, spec, number, fingerprint)
            with about():  # the spec as a whole
                self._refuse_if_it_cannot_answer(name, LATEST, version)
            try:
                self._store.put_version(version)
            except PromptVersionExists:
                continue
            return Published(version=version, created=True)
        raise PromptConflict(f"{name}: other writers kept taking the next version number; try again")

    def create_version(self, name: str, spec: PromptSpec) -> PromptVersion:
        return self.publish(name, spec).version

    def set_alias(
        self, name: str, alias: str, version: int, *, expected: int | None = None, only_if_unset: bool = False
    ) -> AliasMove:
        """Point `alias` at `version` (which must exist). With `expected`, only if the alias points there now; with
        `only_if_unset`, only if the alias is not set: PromptConflict if it points at another version (nothing
        changes where it points at `version` already). Either condition is checked by the store's write itself, so
        no one can move the alias between the check and the write."""
        if only_if_unset and expected is not None:
            raise InvalidPrompt(
                "expected_version and only_if_unset exclude each other: the first moves a set alias", field=()
            )
        with about("name"):
            check_name(name, existing=True)
        with about("alias"):
            check_alias(alias, existing=True)
            if not _is_slug(alias, existing=False) and self._store.get_alias(name, alias) is None:
                check_alias(alias)  # made under an earlier release's rule, it may move; a new alias must be a slug
        guarded = self._is_answer_prompt(name, alias)
        if guarded and not only_if_unset:
            with about("version"):
                self._refuse_if_it_cannot_answer(name, alias, self.get(name, version))
        for _ in range(self._attempts):
            current = self._store.get_alias(name, alias)
            if expected is not None and current != expected:
                where = "is not set" if current is None else f"points at {current}"
                raise PromptConflict(f"{name}@{alias} {where}, not at {expected}")
            if only_if_unset and current not in (None, version):
                raise PromptConflict(f"{name}@{alias} is set already (it points at {current}); it stays there")
            if current == version:
                if self._store.get_version(name, version) is None:  # cannot happen unless a version was deleted
                    raise self._missing(name, f"version {version}")
                return AliasMove(name=name, alias=alias, version=version, previous_version=current)
            if guarded and only_if_unset:  # refused only where it would move: a set alias stays, whatever `version`
                with about("version"):
                    self._refuse_if_it_cannot_answer(name, alias, self.get(name, version))
            try:
                self._store.put_alias(name, alias, version, current=current)
            except PromptNotFound as error:
                raise self._missing(name, f"version {version}") from error
            except PromptConflict:
                if expected is not None:
                    raise
                continue  # moved meanwhile: read again (only_if_unset: set meanwhile, so it stays)
            self._aliases.pop((name, alias), None)
            return AliasMove(name=name, alias=alias, version=version, previous_version=current)
        raise PromptConflict(f"{name}@{alias} kept moving meanwhile; try again")

    def delete_alias(self, name: str, alias: str) -> AliasDeletion:
        """Remove `alias` from the prompt; the versions stay. The answer prompt's alias cannot be deleted."""
        with about("name"):
            check_name(name, existing=True)
        with about("alias"):
            check_alias(alias, existing=True)
        if self._is_answer_prompt(name, alias):
            raise InvalidPrompt(
                f"{name}@{alias} answers every question that names no prompt and cannot be deleted; point it at "
                "another version instead",
                field=("alias",),
            )
        for _ in range(self._attempts):
            current = self._store.get_alias(name, alias)
            if current is None:
                raise self._missing(name, f"alias {alias}")
            try:
                self._store.delete_alias(name, alias, current=current)
            except PromptConflict:  # moved meanwhile: delete what it names now
                continue
            self._aliases.pop((name, alias), None)
            return AliasDeletion(name=name, alias=alias, previous_version=current)
        raise PromptConflict(f"{name}@{alias} kept moving meanwhile; try again")

    def sync(
        self, prompts: Iterable[tuple[str, PromptSpec]], alias: str | None = None, *, only_where_missing: bool = False
    ) -> list[SyncOutcome]:
        """Publish each (name, spec) whose spec differs from (is not equivalent to) its latest version's, and
        optionally point `alias` at each one's latest version: always, or `only_where_missing` (a first deployment
        sets `prod`, later ones leave promotion to people; an alias set meanwhile stays). Running it twice changes
        nothing the second time.

        What the answer prompt's rule would refuse is found before anything is written, for every prompt at once,
        so a refused sync publishes nothing."""
        if alias is not None:
            check_alias(alias)
        prompts = list(prompts)
        for name, _ in prompts:
            check_name(name)
        refusals = [
            refusal for name, spec in prompts if (refusal := self._sync_refusal(name, spec, alias, only_where_missing))
        ]
        if refusals:
            raise InvalidPrompt("\n".join(refusals))
        outcomes = []
        for name, spec in prompts:
            published = self.publish(name, spec)
            moved = False
            if alias is not None:
                moved = self._point_alias(name, alias, published.version, only_where_missing)
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

    def _point_alias(self, name: str, alias: str, version: PromptVersion, only_where_missing: bool) -> bool:
        if not only_where_missing:
            move = self.set_alias(name, alias, version.version)
            return move.previous_version != version.version
        try:
            move = self.set_alias(name, alias, version.version, only_if_unset=True)
        except PromptConflict:  # set already, or by someone else meanwhile: theirs stands
            return False
        return move.previous_version is None

    def _sync_refusal(self, name: str, spec: PromptSpec, alias: str | None, only_where_missing: bool) -> str | None:
        """Why syncing (name, spec) would break the answer prompt, or None (see sync_refusal). Reads the store,
        writes nothing."""
        latest = functools.cache(lambda: self._store.latest_version(name))

        def unchanged() -> bool:
            found = latest()
            return found is not None and found.same_as(spec)

        def what(unchanged: bool) -> str:
            # The version the answer prompt would name: the latest when unchanged, else the one published.
            found = latest()
            if found is None:
                return f"{name}@1"
            return f"{name}@{found.version if unchanged else found.version + 1}"

        return sync_refusal(
            self._answer_prompt,
            name,
            spec,
            alias,
            only_where_missing=only_where_missing,
            unchanged=unchanged,
            alias_is_set=lambda: alias is not None and self._store.get_alias(name, alias) is not None,
            what=what,
        )

    def _is_answer_prompt(self, name: str, ref: str) -> bool:
        return self._answer_prompt == (name, ref)

    def _answer_refusal(self, name: str, ref: str, version: PromptVersion) -> str | None:
        if not self._is_answer_prompt(name, ref):
            return None
        return answer_prompt_refusal(name, ref, version, version.prompt_id)

    def _refuse_if_it_cannot_answer(self, name: str, ref: str, version: PromptVersion) -> None:
        refusal = self._answer_refusal(name, ref, version)
        if refusal:
            raise InvalidPrompt(refusal)

    # -- reading ------------------------------------------------------------------------------------------------
    def get(self, name: str, ref: VersionRef = LATEST) -> PromptVersion:
        """The version `ref` names, read from the store now."""
        parsed = _checked_name_and_ref(name, ref)
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
        parsed = _checked_name_and_ref(name, ref)
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
        with about("name"):
            check_name(name, existing=True)
        versions = sorted(self._store.list_versions(name), key=lambda v: v.version)
        if not versions:
            raise UnknownPrompt(f"no prompt named {name}")
        return versions

    def aliases(self, name: str) -> dict[str, int]:
        """The prompt's explicit aliases (`latest` is implicit and not listed)."""
        with about("name"):
            check_name(name, existing=True)
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
