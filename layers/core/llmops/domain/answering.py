"""Question answering: retrieve evidence, ask the model to answer from it, cite it, or decline."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from llmops.domain.errors import (
    AnswerPromptUnusable,
    DomainError,
    InvalidPrompt,
    InvalidQuestion,
    PromptNotFound,
    UnknownPrompt,
)
from llmops.domain.grounding import GroundingCheck, answer_sentences, split_sentences
from llmops.domain.guardrails import GuardrailAction, GuardrailHit, Guardrails, GuardrailVerdict
from llmops.domain.models import Abstention, Answer, Citation, ScoredChunk, SearchFilters, SearchMode, Usage
from llmops.domain.prompts import (
    DEFAULT_REFUSAL,
    ModelParameters,
    PromptVersion,
    RenderedPrompt,
    VersionRef,
    answer_prompt_problem,
)
from llmops.domain.retrieval import MAX_QUERY_CHARS, MAX_TOP_K, Retriever
from llmops.ports import Embedder, GenerationRequest, LanguageModel

logger = logging.getLogger(__name__)

I_DONT_KNOW = DEFAULT_REFUSAL
MAX_QUESTION_CHARS = MAX_QUERY_CHARS
# A refusal opens a sentence, or says the context lacks the answer. "No information" inside an answer ("the
# thermostat collects no information about ...") is content, not a refusal.
_REFUSAL = re.compile(
    r"^\W*(?:i don'?t know|i do not know|i (?:cannot|can'?t) answer|sorry)\b"
    r"|\b(?:context|passages?|documents?|sources?) (?:does|do)(?: not|n'?t) (?:contain|provide|mention|say|include)\b"
    r"|\bno information (?:\S+ ){0,8}?in the (?:context|passages?|documents?|sources?)\b",
    re.IGNORECASE,
)
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class RagPrompt:
    """The built-in prompt, used when the catalog has no version of the configured prompt (yet)."""

    prompt_id: str
    system: str
    user_template: str

    def render(self, question: str, passages: str) -> RenderedPrompt:
        name, _, _ = self.prompt_id.partition("@")
        return RenderedPrompt(
            name=name,
            version=0,
            prompt_id=self.prompt_id,
            system=self.system.format(question=question, context=passages),
            user=self.user_template.format(question=question, context=passages),
            parameters=ModelParameters(),
            refusal=DEFAULT_REFUSAL,
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
class _ChosenPrompt:
    prompt_id: str
    guardrails: Mapping[str, Any] | None
    render: Callable[[str, str], RenderedPrompt]


class GuardrailBlocked(DomainError):
    """A guardrail stopped the request; the verdict says which check (never the text it found)."""

    def __init__(self, verdict: GuardrailVerdict, hits: list[GuardrailHit] | None = None) -> None:
        super().__init__(verdict.message or f"blocked by the {verdict.blocked_by} check")
        self.verdict = verdict
        self.hits = list(verdict.hits) if hits is None else hits  # with the request's earlier hits, to count all


class PromptSource(Protocol):
    def resolve(self, name: str, ref: VersionRef = ...) -> PromptVersion: ...


@dataclass(frozen=True)
class PromptChoice:
    """Which catalog prompt answers: a name and a version number or alias."""

    name: str = "rag-answer"
    ref: VersionRef = "prod"


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
        prompts: PromptSource | None = None,
        default_prompt: PromptChoice = PromptChoice(),
        guardrails: Guardrails | None = None,
        models: Callable[[str], LanguageModel] | None = None,
    ) -> None:
        """`models` gives the model a prompt version names (its parameters' `model_id`); without it, or for a prompt
        that names none, `llm` answers."""
        self._guardrails = guardrails
        self._embedder = embedder
        self._retriever = retriever
        self._llm = llm
        self._models = models
        self._policy = policy
        self._prompts = prompts
        self._default_prompt = default_prompt
        self._grounding = GroundingCheck(embedder, policy.min_answer_support)

    def answer(
        self,
        question: str,
        top_k: int | None = None,
        mode: SearchMode | None = None,
        filters: SearchFilters | None = None,
        prompt: PromptChoice | None = None,
        request_id: str | None = None,
    ) -> Answer:
        """`request_id` (the API request's, where there is one) goes into every guardrail event and the answer, so
        that a `Guardrail Triggered` event can be traced to the request that caused it."""
        started = time.perf_counter()
        chosen = self._prompt_for(prompt or self._default_prompt, configured=prompt is None)
        template = chosen.render
        question = question.strip()
        if not question:
            raise InvalidQuestion("the question is empty", field=("question",))
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidQuestion(f"the question is longer than {MAX_QUESTION_CHARS} characters", field=("question",))
        hits: list[GuardrailHit] = []
        if self._guardrails is not None:
            checked = self._guardrails.check_input(
                question, chosen.guardrails, prompt_id=chosen.prompt_id, request_id=request_id
            )
            hits.extend(checked.hits)
            if checked.blocked:
                raise GuardrailBlocked(checked, hits)
            question = checked.text  # personal data redacted before it reaches retrieval, the model or the logs

        evidence = [
            hit
            for hit in self._distinct_passages(question, top_k or self._policy.top_k, mode, filters)
            if hit.score >= self._policy.min_relevance_score
        ]
        if not evidence:
            logger.info("No evidence above the relevance threshold; declining", extra={"question": question})
            declined = template(question, "")
            llm = self._model_for(declined.parameters)
            return self._declined(question, started, Usage(), Abstention.NO_RELEVANT_CONTEXT, declined, llm, hits)

        passages = self._fit_to_budget(evidence)
        rendered = template(question, self._format_passages(passages))
        parameters = rendered.parameters
        llm = self._model_for(parameters)
        generation = llm.generate(
            GenerationRequest(
                system=rendered.system,
                user=rendered.user,
                max_new_tokens=parameters.max_tokens or self._policy.max_new_tokens,
                temperature=self._policy.temperature if parameters.temperature is None else parameters.temperature,
                top_p=parameters.top_p,
                top_k=parameters.top_k,
                stop=parameters.stop,
            )
        )
        text = generation.text.strip()
        sentences = answer_sentences(text)
        if not sentences or _is_refusal(sentences[0].text) or _says(text, rendered.refusal):
            return self._declined(question, started, generation.usage, Abstention.MODEL_DECLINED, rendered, llm, hits)
        # A caveat after an answer ("The context does not mention black tea.") is not evidence: the rest stands.
        grounded = self._grounding.check([s for s in sentences if not _is_refusal(s.text)], passages, question)
        if not grounded.sentences:
            logger.info("Answer not supported by its context; declining", extra={"answer": text})
            return self._declined(
                question, started, generation.usage, Abstention.NOT_SUPPORTED_BY_CONTEXT, rendered, llm, hits
            )

        answer_text = grounded.text
        citations = self._citations({s.passage_number for s in grounded.sentences}, passages)
        if self._guardrails is not None:
            answer_text, citations = self._check_output(answer_text, citations, chosen, hits, request_id)
        # Cut only after the output checks saw the whole passage: a cut through an e-mail address hides it from them.
        citations = [c.model_copy(update={"excerpt": _excerpt(c.excerpt)}) for c in citations]
        return Answer(
            question=question,
            answer=answer_text,
            grounded=True,
            guardrails=[hit.model_dump(mode="json") for hit in hits],
            citations=citations,
            support=grounded.support,
            model_id=llm.model_id,
            prompt_id=rendered.prompt_id,
            prompt_name=rendered.name,
            prompt_version=rendered.version or None,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=generation.usage,
        )

    def _model_for(self, parameters: ModelParameters) -> LanguageModel:
        if parameters.model_id and self._models is not None:
            return self._models(parameters.model_id)
        return self._llm

    def _check_output(
        self,
        text: str,
        citations: list[Citation],
        prompt: _ChosenPrompt,
        hits: list[GuardrailHit],
        request_id: str | None,
    ) -> tuple[str, list[Citation]]:
        """The answer and the excerpts it returns go through the output checks: personal data is redacted there too.
        An excerpt a check would block is withheld, not the answer: the source's text is at fault, not the answer's."""
        assert self._guardrails is not None
        checked = self._guardrails.check_output(
            text, prompt.guardrails, prompt_id=prompt.prompt_id, request_id=request_id
        )
        hits.extend(checked.hits)
        if checked.blocked:
            raise GuardrailBlocked(checked, hits)
        safe_citations = []
        for citation in citations:
            excerpt = self._guardrails.check_output(
                citation.excerpt, prompt.guardrails, prompt_id=prompt.prompt_id, request_id=request_id
            )
            hits.extend(excerpt.hits)
            blocking = next((hit for hit in excerpt.hits if hit.action is GuardrailAction.BLOCK), None)
            shown = f"<withheld by the {blocking.check.value} guardrail>" if blocking else excerpt.text
            safe_citations.append(citation.model_copy(update={"excerpt": shown}))
        return checked.text, safe_citations

    def _prompt_for(self, choice: PromptChoice, configured: bool) -> _ChosenPrompt:
        """The prompt version that answers: from the catalog, else (for the default prompt, when the catalog has no
        prompt of that name at all) the built-in one. `configured`: the request chose no prompt, so a prompt that
        cannot answer is the deployment's fault (AnswerPromptUnusable), not the request's."""
        if self._prompts is not None:
            try:
                version = self._prompts.resolve(choice.name, choice.ref)
            except UnknownPrompt:
                if choice != self._default_prompt:
                    raise
                logger.warning("Prompt not in the catalog; using the built-in one", extra={"prompt": choice.name})
            except PromptNotFound as missing:  # the prompt is there, the version or alias is not
                if configured:
                    raise AnswerPromptUnusable(_unusable(choice, str(missing))) from missing
                raise
            except InvalidPrompt as unreadable:  # a name or reference the catalog cannot read
                if configured:
                    raise AnswerPromptUnusable(
                        f"the platform's answer prompt {choice.name}@{choice.ref} cannot be read from the catalog: "
                        f"{unreadable}; correct ANSWER_PROMPT_NAME or ANSWER_PROMPT_REF"
                    ) from unreadable
                raise
            else:
                problem = answer_prompt_problem(version)
                if problem and configured:
                    raise AnswerPromptUnusable(_unusable(choice, problem))
                if problem:
                    raise InvalidPrompt(problem, field=())  # the version chosen, name and ref together
                return _ChosenPrompt(
                    prompt_id=version.prompt_id,
                    guardrails=version.guardrails,
                    render=lambda question, context: version.render({"question": question, "context": context}),
                )
        return _ChosenPrompt(
            prompt_id=DEFAULT_PROMPT.prompt_id,
            guardrails=None,
            render=lambda question, context: DEFAULT_PROMPT.render(question, context),
        )

    def _distinct_passages(
        self, question: str, top_k: int, mode: SearchMode | None, filters: SearchFilters | None
    ) -> list[ScoredChunk]:
        """The top_k most relevant passages with different texts: a copy of a passage already found (a copied
        document) adds no evidence, so it must not take the place of another passage. Twice top_k are retrieved
        to leave room for copies."""
        # Redaction can lengthen a question ("a@b.io" becomes "<EMAIL_ADDRESS>") past what a search takes.
        query = question[:MAX_QUERY_CHARS]
        retrieved = self._retriever.retrieve(query, min(2 * top_k, MAX_TOP_K), mode=mode, filters=filters)
        distinct: dict[str, ScoredChunk] = {}
        for hit in retrieved:
            distinct.setdefault(hit.chunk.content_hash, hit)
        return list(distinct.values())[:top_k]

    def _fit_to_budget(self, evidence: list[ScoredChunk]) -> list[ScoredChunk]:
        """Most relevant passages first (in retrieval order), whole passages only, as many as the budget holds: one
        too long for what is left is passed over for the next ones. The passage headers count against the budget.
        Where even the most relevant passage is longer than the whole budget (a chunk made before CHUNK_MAX_TOKENS
        was lowered), its leading whole sentences that fit stand in for it."""
        budget = self._policy.max_context_tokens
        chosen: list[ScoredChunk] = []
        spent = 0
        for hit in evidence:
            cost = self._tokens(_header(len(chosen) + 1, hit)) + hit.chunk.token_count
            if spent + cost <= budget:
                chosen.append(hit)
                spent += cost
        if chosen or not evidence:
            return chosen
        first = evidence[0]
        room = budget - self._tokens(_header(1, first))
        kept: list[str] = []
        for sentence in split_sentences(first.chunk.text):
            tokens = self._tokens(sentence)  # BERT word pieces never span a space: joined sentences add up
            if tokens > room:
                break
            kept.append(sentence)
            room -= tokens
        if not kept:
            return []
        text = " ".join(kept)
        chunk = first.chunk.model_copy(update={"text": text, "token_count": self._tokens(text)})
        return [first.model_copy(update={"chunk": chunk})]

    def _tokens(self, text: str) -> int:
        return len(self._embedder.tokenizer.encode(text, add_special_tokens=False).ids)

    @staticmethod
    def _format_passages(passages: list[ScoredChunk]) -> str:
        return "\n\n".join(f"{_header(number, hit)}{hit.chunk.text}" for number, hit in enumerate(passages, start=1))

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
                excerpt=passages[number - 1].chunk.text,
            )
            for number in sorted(numbers)
        ]

    def _declined(
        self,
        question: str,
        started: float,
        usage: Usage,
        reason: Abstention,
        prompt: RenderedPrompt,
        llm: LanguageModel,
        hits: list[GuardrailHit],
    ) -> Answer:
        return Answer(
            question=question,
            answer=prompt.refusal,
            grounded=False,
            abstention=reason,
            guardrails=[hit.model_dump(mode="json") for hit in hits],
            citations=[],
            model_id=llm.model_id,
            prompt_id=prompt.prompt_id,
            prompt_name=prompt.name,
            prompt_version=prompt.version or None,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            usage=usage,
        )


def _unusable(choice: PromptChoice, problem: str) -> str:
    return (
        f"the platform's answer prompt {choice.name}@{choice.ref} (ANSWER_PROMPT_NAME, ANSWER_PROMPT_REF) cannot "
        f"answer: {problem}; point {choice.ref} at a version that can (llmops prompts alias)"
    )


def _header(number: int, hit: ScoredChunk) -> str:
    return f"[{number}] (from {hit.chunk.title}) "


def _is_refusal(sentence: str) -> bool:
    return bool(_REFUSAL.search(sentence.replace("\u2019", "'")))


def _says(text: str, refusal: str) -> bool:
    """Whether the reply opens with the prompt's own refusal text (punctuation and case aside)."""
    words = re.findall(r"\w+", refusal.lower())
    return bool(words) and re.findall(r"\w+", text.lower())[: len(words)] == words


def _excerpt(text: str) -> str:
    """The passage's first EXCERPT_CHARS characters, cut at a word boundary."""
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS]
    return (cut.rsplit(None, 1)[0] if " " in cut else cut) + " …"
