"""Domain errors. Handlers map these types (never their messages) to responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


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


class InvalidQuestion(DomainError):
    pass


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
