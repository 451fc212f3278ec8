"""Question answering: retrieve evidence, ask the model to answer from it, cite it, or decline."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from llmops.domain.errors import InvalidQuestion
from llmops.domain.grounding import GroundingCheck
from llmops.domain.models import Abstention, Answer, Citation, ScoredChunk, SearchFilters, SearchMode, Usage
from llmops.domain.retrieval import Retriever
from llmops.ports import Embedder, GenerationRequest, LanguageModel

logger = Logger(child=True)

I_DONT_KNOW = "I don't know: the indexed documents do not contain enough information to answer that."
MAX_QUESTION_CHARS = 2000
_REFUSAL = re.compile(r"\b(i don'?t know|i do not know|cannot answer|can't answer|no information)\b", re.IGNORECASE)


@dataclass(frozen=True)
class RagPrompt:
    """The prompt that turns a question and numbered passages into a cited answer."""

    prompt_id: str
    system: str
    user_template: str

    def render(self, question: str, passages: str) -> tuple[str, str]:
        return (
            self.system.format(question=question, context=passages),
            self.user_template.format(question=question, context=passages),
        )


# The context sits in the system message: small models stay closer to it there than in the user turn.
DEFAULT_PROMPT = RagPrompt(
    prompt_id="rag-answer@builtin-2",
    system=(
        "You answer questions using only the numbered context passages below. "
        "Cite the passages you use with their numbers in square brackets, like [1]. "
        "If the passages do not contain the answer, reply: I don't know.\n\nContext:\n{context}"
    ),
    user_template="{question}\nAnswer in one or two sentences.",
)


@dataclass(frozen=True)
class AnsweringPolicy:
    top_k: int
    min_relevance_score: float
    min_answer_support: float
    max_context_tokens: int
    max_new_tokens: int
    temperature: float


class QuestionAnsweringService:
    def __init__(
        self,
        embedder: Embedder,
        retriever: Retriever,
        llm: LanguageModel,
        policy: AnsweringPolicy,
        prompt: RagPrompt = DEFAULT_PROMPT,
    ) -> None:
        self._embedder = embedder
        self._retriever = retriever
        self._llm = llm
        self._policy = policy
        self._prompt = prompt
        self._grounding = GroundingCheck(embedder, policy.min_answer_support)

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        mode: SearchMode | None = None,
        filters: SearchFilters | None = None,
    ) -> Answer:
        started = time.perf_counter()
        question = question.strip()
        if not question:
            raise InvalidQuestion("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters")

        retrieved = self._retriever.retrieve(question, top_k or self._policy.top_k, mode=mode, filters=filters)
        evidence = [hit for hit in retrieved if hit.score >= self._policy.min_relevance_score]
        if not evidence:
            logger.info("No evidence above the relevance threshold; declining", extra={"question": question})
            return self._declined(question, started, Usage(), Abstention.NO_RELEVANT_CONTEXT)

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
            return self._declined(question, started, generation.usage, Abstention.MODEL_DECLINED)
        grounded = self._grounding.check(text, passages)
        if not grounded.sentences:
            logger.info("Answer not supported by its context; declining", extra={"answer": text})
            return self._declined(question, started, generation.usage, Abstention.NOT_SUPPORTED_BY_CONTEXT)

        return Answer(
            question=question,
            answer=grounded.text,
            grounded=True,
            citations=self._citations({s.passage_number for s in grounded.sentences}, passages),
            support=grounded.support,
            model_id=self._llm.model_id,
            prompt_id=self._prompt.prompt_id,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=generation.usage,
        )

    def _fit_to_budget(self, evidence: list[ScoredChunk]) -> list[ScoredChunk]:
        """Most relevant passages first (in retrieval order), whole passages only, until the budget is spent."""
        chosen: list[ScoredChunk] = []
        spent = 0
        for hit in evidence:
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
    def _citations(numbers: set[int], passages: list[ScoredChunk]) -> list[Citation]:
        """The passages that support the kept sentences, under the [n] numbers the answer shows."""
        return [
            Citation(
                number=number,
                source_key=passages[number - 1].chunk.source_key,
                position=passages[number - 1].chunk.position,
                page=passages[number - 1].chunk.page,
                score=round(passages[number - 1].score, 4),
                excerpt=passages[number - 1].chunk.text[:300],
            )
            for number in sorted(numbers)
        ]

    def _declined(self, question: str, started: float, usage: Usage, reason: Abstention) -> Answer:
        return Answer(
            question=question,
            answer=I_DONT_KNOW,
            grounded=False,
            abstention=reason,
            citations=[],
            model_id=self._llm.model_id,
            prompt_id=self._prompt.prompt_id,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=usage,
        )
