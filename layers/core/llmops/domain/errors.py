"""Domain errors. Handlers map these types (never their messages) to responses."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    `field`, where the raiser knows it: the input the error is about, as a path into what the domain was given (an
    argument such as `("question",)`, or a field of a request model such as `("candidates", 0, "prompt")`); `()` for
    that input as a whole, None for an error about no one input. The API answers it as the request field the route
    took that input from."""

    def __init__(self, *args: object, field: tuple[str | int, ...] | None = None) -> None:
        super().__init__(*args)
        self.field = field


@contextmanager
def about(*field: str | int) -> Iterator[None]:
    """A domain error raised inside, by a check that does not know which input it was given, is about `field`."""
    try:
        yield
    except DomainError as error:
        if error.field is None:
            error.field = field
        raise


class DeploymentMisconfigured(DomainError):
    """The deployment's settings, not the request, are at fault (a setting that is missing or cannot be read):
    nothing the caller sends can fix it, so the API answers a server error and logs it for the operators."""


class DocumentRejected(DomainError):
    """A document cannot be ingested as it is; the message tells the user what to change."""


class UnsupportedFormat(DocumentRejected):
    pass


class UnreadableDocument(DocumentRejected):
    pass


class DocumentTooLarge(DocumentRejected):
    pass


class DocumentNotFound(DomainError):
    pass


class SupersededChange(DomainError):
    """The registry already holds a later change to the document (by S3 sequencer) than the one being recorded."""


class InvalidQuestion(DomainError):
    pass


class InvalidSearch(DomainError):
    """Search options that do not fit together (fusion weights for a search that fuses nothing)."""


class ModelInvocationError(DomainError):
    """The language or embedding model failed; retrying later may succeed."""


class ReindexInProgress(DomainError):
    pass


class NothingToRollBack(DomainError):
    pass


class IndexNotReady(DomainError):
    """A switch was asked for an index that is not the one being built."""


class InvalidCursor(DomainError):
    """A pagination cursor that this service did not hand out."""


class PromptNotFound(DomainError):
    """No prompt by that name, or no version or alias of it by that reference."""


class UnknownPrompt(PromptNotFound):
    """No prompt by that name at all (not: the prompt is there without that version or alias)."""


class AnswerPromptUnusable(DeploymentMisconfigured):
    """The platform's configured answer prompt (ANSWER_PROMPT_NAME at ANSWER_PROMPT_REF) cannot answer: the
    deployment's fault, not the request's."""


class InvalidPrompt(DomainError):
    """A prompt name, alias, reference or set of variables that the catalog cannot accept as it is."""


class UnsupportedParameters(InvalidPrompt):
    """Generation parameters (a prompt's or the settings') that the model would refuse or could not be sent."""


class PromptConflict(DomainError):
    """The catalog changed meanwhile (an alias moved, a version number was taken); read again and retry."""


class PromptVersionExists(PromptConflict):
    """A store refused to overwrite a version: versions are immutable."""


class GuardrailUnavailable(ModelInvocationError):
    """A guardrail detector failed, so the text could not be checked; retrying later may succeed."""


def plain_message(error: Mapping[str, Any]) -> str:
    """One pydantic error's message as a user reads it: without pydantic's "Value error, " prefix."""
    return str(error.get("msg", "")).removeprefix("Value error, ")


def describe_problems(errors: Iterable[Mapping[str, Any]], whole: str = "input") -> str:
    """pydantic errors as one line, `field.path: message; ...`; an error of the whole model is under `whole`."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or whole}: {plain_message(e)}" for e in errors)
