"""Candidates answer through the platform's own answering service, so an evaluation measures what users get."""

from __future__ import annotations

from collections.abc import Callable

from llmops.domain.answering import PromptChoice, QuestionAnsweringService
from llmops.domain.evaluation.errors import InvalidEvaluation
from llmops.domain.evaluation.runs import Candidate
from llmops.domain.models import Answer, ScoredChunk
from llmops.domain.retrieval import Retriever


class PlatformAnswerer:
    """One answering service per model target (built on first use, as is the retriever, so that the API can check
    candidates without loading models); the configured model when a candidate names none. `model_check` says why a
    model cannot be used here (None when it can)."""

    def __init__(
        self,
        service_for: Callable[[str | None], QuestionAnsweringService],
        retriever: Callable[[], Retriever],
        default_top_k: int,
        model_check: Callable[[str], str | None],
    ) -> None:
        self._service_for = service_for
        self._services: dict[str | None, QuestionAnsweringService] = {}
        self._retriever = retriever
        self._built_retriever: Retriever | None = None
        self._default_top_k = default_top_k
        self._model_check = model_check

    def _service(self, model: str | None) -> QuestionAnsweringService:
        if model not in self._services:
            self._services[model] = self._service_for(model)
        return self._services[model]

    def check(self, candidate: Candidate) -> None:
        if candidate.model:
            problem = self._model_check(candidate.model)
            if problem:
                raise InvalidEvaluation(f"candidate {candidate.name()}: {problem}")

    def top_k(self, candidate: Candidate) -> int:
        return candidate.top_k or self._default_top_k

    def answer(self, candidate: Candidate, question: str) -> Answer:
        return self._service(candidate.model).answer(
            question,
            top_k=candidate.top_k,
            mode=candidate.mode,
            prompt=PromptChoice(candidate.prompt_name, candidate.prompt_ref),
        )

    def retrieve(self, candidate: Candidate, question: str) -> list[ScoredChunk]:
        if self._built_retriever is None:
            self._built_retriever = self._retriever()
        return self._built_retriever.retrieve(question, self.top_k(candidate), mode=candidate.mode)
