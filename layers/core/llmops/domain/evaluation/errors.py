"""Errors of the evaluation service. Handlers map these types to responses."""

from __future__ import annotations

from llmops.domain.errors import DomainError


class InvalidDataset(DomainError):
    """A dataset that cannot be stored as it is; `problems` are (line number, message), lines counted from 1."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class DatasetNotFound(DomainError):
    pass


class EvaluationNotFound(DomainError):
    pass


class InvalidEvaluation(DomainError):
    """A run request that cannot be started as it is (unknown prompt, model or metric, bad weights ...)."""
