"""Question answering: retrieve evidence, ask the model to answer from it, cite it, or decline."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from llmops.domain.errors import InvalidQuestion
from llmops.domain.models import Answer, Citation, ScoredChunk, Usage
from llmops.ports import Embedder, GenerationRequest, LanguageModel, VectorIndex

logger = Logger(child=True)

I_DONT_KNOW = "I don't know: the indexed documents do not contain enough information to answer that."
MAX_QUESTION_CHARS = 2000
_CITATION_MARKER = re.compile(r"\[(\d{1,2})\]")
_REFUSAL = re.compile(r"\b(i don'?t know|i do not know|cannot answer|can't answer|no information)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RagPrompt:
    """The prompt that turns a question and numbered passages into a cited answer."""

    prompt_id: str
    system: str
    user_template: str

    def render(self, question: str, passages: str) -> tuple[str, str]:
        return self.system, self.user_template.format(question=question, context=passages)


DEFAULT_PROMPT = RagPrompt(
    prompt_id="rag-answer@builtin-1",
    system=(
        "You are a careful assistant. Answer the question using only the numbered context passages. "
        "Cite the passages you use with their numbers in square brackets, like [1]. "
        "If the passages do not contain the answer, reply: I don't know."
    ),
    user_template="Context:\n{context}\n\nQuestion: {question}\nAnswer in one or two sentences:",
)


@dataclass(frozen=True)
class AnsweringPolicy:
    top_k: int
    min_relevance_score: float
    max_context_tokens: int
    max_new_tokens: int
    temperature: float


class QuestionAnsweringService:
    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        llm: LanguageModel,
        policy: AnsweringPolicy,
        prompt: RagPrompt = DEFAULT_PROMPT,
    ) -> None:
        self._embedder = embedder
        self._index = index
        self._llm = llm
        self._policy = policy
        self._prompt = prompt

    def retrieve(self, question: str, top_k: int | None = None) -> list[ScoredChunk]:
        vector = self._embedder.embed([question])[0]
        return self._index.search(vector, top_k or self._policy.top_k)

    def answer(self, question: str, top_k: int | None = None) -> Answer:
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise InvalidQuestion("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")

        evidence = [hit for hit in self.retrieve(question, top_k) if hit.score >= self._policy.min_relevance_score]
        if not evidence:
            logger.info("No evidence above the relevance threshold; declining", extra={"question": question})
            return self._declined(question, started, Usage())

        passages = self._fit_to_budget(evidence)
        system, user = self._prompt.render(question, self._format_passages(passages))
        generation = self._llm.generate(
            GenerationRequest(
                system=system,
                user=user,
                max_new_tokens=self._policy.max_new_tokens,
                temperature=self._policy.temperature,
            )
        )
        text = generation.text.strip()
        if not text or _REFUSAL.search(text):
            return self._declined(question, started, generation.usage)

        citations = self._citations(text, passages)
        return Answer(
            question=question,
            answer=text,
            grounded=True,
            citations=citations,
            model_id=self._llm.model_id,
            prompt_id=self._prompt.prompt_id,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=generation.usage,
        )

    def _fit_to_budget(self, evidence: list[ScoredChunk]) -> list[ScoredChunk]:
        """Most relevant passages first, whole passages only, until the context budget is spent."""
        chosen: list[ScoredChunk] = []
        spent = 0
        for hit in sorted(evidence, key=lambda h: h.score, reverse=True):
            if chosen and spent + hit.chunk.token_count > self._policy.max_context_tokens:
                break
            chosen.append(hit)
            spent += hit.chunk.token_count
        return chosen

    @staticmethod
    def _format_passages(passages: list[ScoredChunk]) -> str:
        return "\n\n".join(
            f"[{number}] (from {hit.chunk.title}) {hit.chunk.text}" for number, hit in enumerate(passages, start=1)
        )

    @staticmethod
    def _citations(text: str, passages: list[ScoredChunk]) -> list[Citation]:
        """Sources the answer cites by number; when it cites none, every passage it was given."""
        cited = {int(n) for n in _CITATION_MARKER.findall(text) if 1 <= int(n) <= len(passages)}
        numbers = sorted(cited) if cited else list(range(1, len(passages) + 1))
        return [
            Citation(
                number=number,
                source_key=passages[number - 1].chunk.source_key,
                position=passages[number - 1].chunk.position,
                page=passages[number - 1].chunk.page,
                score=round(passages[number - 1].score, 4),
                excerpt=passages[number - 1].chunk.text[:300],
            )
            for number in numbers
        ]

    def _declined(self, question: str, started: float, usage: Usage) -> Answer:
        return Answer(
            question=question,
            answer=I_DONT_KNOW,
            grounded=False,
            citations=[],
            model_id=self._llm.model_id,
            prompt_id=self._prompt.prompt_id,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=usage,
        )
