from __future__ import annotations

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.answering import I_DONT_KNOW, AnsweringPolicy, QuestionAnsweringService
from llmops.domain.chunking import Chunker
from llmops.domain.errors import InvalidQuestion
from llmops.domain.models import Abstention, ExtractedDocument, Section
from llmops.domain.retrieval import RetrievalSettings, Retriever
from tests.fakes import FakeLanguageModel, FakeVectorIndex

PASSAGES = {
    "documents/python.txt": "Python uses indentation to group statements instead of braces.",
    "documents/tea.txt": "Green tea is brewed at about 80 degrees Celsius for two minutes.",
}


@pytest.fixture
def index(embedder: OnnxMiniLmEmbedder) -> FakeVectorIndex:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    for key, text in PASSAGES.items():
        chunks = chunker.chunk(
            ExtractedDocument(title=key, sections=[Section(text=text)]), document_id=key, source_key=key, version="v"
        )
        index.replace_document(key, chunks, embedder.embed([c.text for c in chunks]))
    return index


def _service(embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex, llm: FakeLanguageModel) -> QuestionAnsweringService:
    policy = AnsweringPolicy(
        top_k=2,
        min_relevance_score=0.35,
        min_answer_support=0.7,
        max_context_tokens=500,
        max_new_tokens=64,
        temperature=0,
    )
    return QuestionAnsweringService(embedder, Retriever(embedder, index, RetrievalSettings()), llm, policy)


def test_given_relevant_context_then_the_answer_cites_the_source_it_used(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    llm = FakeLanguageModel(reply="Python groups statements with indentation rather than braces.")

    answer = _service(embedder, index, llm).answer("How does Python group statements?")

    assert answer.grounded
    assert answer.answer == "Python groups statements with indentation rather than braces. [1]"
    assert [(c.number, c.source_key) for c in answer.citations] == [(1, "documents/python.txt")]
    assert answer.prompt_id == "rag-answer@builtin-2"
    assert "[1] (from documents/python.txt) Python uses indentation" in llm.requests[0].system


def test_given_no_relevant_context_then_it_declines_without_calling_the_model(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    llm = FakeLanguageModel()

    answer = _service(embedder, index, llm).answer("Who won the 1998 football World Cup final?")

    assert not answer.grounded
    assert answer.answer == I_DONT_KNOW
    assert answer.citations == []
    assert llm.requests == []


def test_given_the_model_says_it_does_not_know_then_no_citations_are_claimed(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    answer = _service(embedder, index, FakeLanguageModel(reply="I don't know.")).answer("How is green tea brewed?")

    assert not answer.grounded and answer.citations == []


def test_given_an_answer_the_context_does_not_support_then_it_is_declined(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    llm = FakeLanguageModel(reply="Green tea was first exported to Portugal by Dutch merchants in 1610.")

    answer = _service(embedder, index, llm).answer("How is green tea brewed?")

    assert not answer.grounded
    assert answer.abstention is Abstention.NOT_SUPPORTED_BY_CONTEXT
    assert answer.citations == []


def test_given_a_partly_supported_answer_then_only_supported_sentences_are_kept(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    llm = FakeLanguageModel(
        reply="Green tea is brewed at about 80 degrees for two minutes. The Moon landing happened in 1969."
    )

    answer = _service(embedder, index, llm).answer("How is green tea brewed?")

    assert answer.answer == "Green tea is brewed at about 80 degrees for two minutes. [1]"
    assert [c.source_key for c in answer.citations] == ["documents/tea.txt"]


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_given_an_empty_or_huge_question_then_it_is_refused(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex, question: str
) -> None:
    with pytest.raises(InvalidQuestion):
        _service(embedder, index, FakeLanguageModel()).answer(question)
