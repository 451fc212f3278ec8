from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.answering import I_DONT_KNOW, AnsweringPolicy, PromptChoice, QuestionAnsweringService
from llmops.domain.chunking import Chunker
from llmops.domain.errors import AnswerPromptUnusable, InvalidPrompt, InvalidQuestion, PromptNotFound
from llmops.domain.grounding import split_sentences, without_markers
from llmops.domain.guardrails import Guardrails
from llmops.domain.models import Abstention, ExtractedDocument, SearchMode, Section
from llmops.domain.prompts import PromptCatalog, PromptSpec
from llmops.domain.retrieval import RetrievalSettings, Retriever
from llmops.ports import LanguageModel, PiiSpan
from tests.fakes import FakeLanguageModel, FakePromptStore, FakeVectorIndex, chunk_of, stored_by_an_earlier_release

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


def _service(
    embedder: OnnxMiniLmEmbedder,
    index: FakeVectorIndex,
    llm: FakeLanguageModel,
    prompts: PromptCatalog | None = None,
    guardrails: Guardrails | None = None,
    models: Callable[[str], LanguageModel] | None = None,
    min_answer_support: float = 0.7,
    max_context_tokens: int = 500,
) -> QuestionAnsweringService:
    policy = AnsweringPolicy(
        top_k=2,
        min_relevance_score=0.35,
        min_answer_support=min_answer_support,
        max_context_tokens=max_context_tokens,
        max_new_tokens=64,
        temperature=0,
    )
    retriever = Retriever(embedder, index, RetrievalSettings())
    return QuestionAnsweringService(
        embedder, retriever, llm, policy, prompts=prompts, guardrails=guardrails, models=models
    )


def _answer_prompt(**fields: Any) -> PromptSpec:
    values: dict[str, Any] = {
        "author": "tests",
        "system_template": "Answer from these passages:\n{context}",
        "user_template": "{question}",
        "variables": ("context", "question"),
    }
    return PromptSpec(**(values | fields))


def _index_of(embedder: OnnxMiniLmEmbedder, *passages: tuple[str, str] | tuple[str, str, int]) -> FakeVectorIndex:
    """An index of one-chunk documents: (name, text) or (name, text, token count)."""
    index = FakeVectorIndex()
    for name, text, *tokens in passages:
        chunk = chunk_of(name, text, **({"token_count": tokens[0]} if tokens else {}))
        index.replace_document(name, [chunk], embedder.embed([text]))
    return index


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


@pytest.mark.parametrize(
    "reply",
    [
        "I don't know.",
        "Sorry, I cannot help with that.",
        "The context does not contain information about tea temperatures.",
        "There is no information about brewing times in the passages.",
        "The context doesn\u2019t mention brewing times.",
        "[1] I don\u2019t know.",
    ],
)
def test_given_a_refusal_in_any_usual_wording_then_it_is_declined(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex, reply: str
) -> None:
    answer = _service(embedder, index, FakeLanguageModel(reply=reply)).answer("How is green tea brewed?")

    assert answer.abstention is Abstention.MODEL_DECLINED


def test_given_an_answer_that_says_no_information_as_its_content_then_it_is_not_taken_for_a_refusal(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    text = "The thermostat collects no information about the people who live in the house."
    index.replace_document("thermostat", [chunk_of("thermostat", text)], embedder.embed([text]))
    llm = FakeLanguageModel(reply=text + " [1]")

    answer = _service(embedder, index, llm).answer("What does the thermostat collect about us?")

    assert answer.grounded
    assert answer.answer == text + " [1]"


def test_given_the_prompts_own_refusal_then_it_is_declined(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("rag-answer", _answer_prompt(refusal="Nothing in the handbook covers this."))
    llm = FakeLanguageModel(reply="Nothing in the handbook covers this, sorry.")

    answer = _service(embedder, index, llm, prompts=catalog).answer(
        "How is green tea brewed?", prompt=PromptChoice("rag-answer", "1")
    )

    assert answer.abstention is Abstention.MODEL_DECLINED
    assert answer.answer == "Nothing in the handbook covers this."


@pytest.mark.parametrize(
    ("templates", "declares"),
    [
        ({"user_template": "Grade {answer} against {context}", "variables": ("answer", "context")}, "answer, context"),
        ({"system_template": "Ctx: {context}", "user_template": "Answer.", "variables": ("context",)}, "context"),
    ],
    ids=["a-judge-prompt", "context-without-question"],
)
def test_given_a_catalog_prompt_that_is_not_an_answer_prompt_then_the_error_says_so(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex, templates: dict[str, Any], declares: str
) -> None:
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("judge", _answer_prompt(**templates))

    with pytest.raises(InvalidPrompt, match=rf"judge@1 cannot answer .*\{{question\}}.*it declares {declares}\)"):
        _service(embedder, index, FakeLanguageModel(), prompts=catalog).answer(
            "How is green tea brewed?", prompt=PromptChoice("judge", "1")
        )


def test_given_the_configured_prompt_exists_without_its_alias_then_answers_fail_as_the_deployments_fault(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("rag-answer", _answer_prompt())  # version 1; nothing points prod at it
    service = _service(embedder, index, FakeLanguageModel(reply="Green tea is brewed at 80 degrees."), prompts=catalog)

    with pytest.raises(AnswerPromptUnusable, match=r"answer prompt rag-answer@prod .*rag-answer has no alias prod"):
        service.answer("How is green tea brewed?")  # not the built-in prompt: that stands in only for no prompt
    with pytest.raises(PromptNotFound, match="rag-answer has no alias prod"):  # asked for by name: the request's
        service.answer("How is green tea brewed?", prompt=PromptChoice("rag-answer", "prod"))


def test_given_the_configured_alias_at_a_version_that_cannot_answer_then_answers_fail_as_the_deployments_fault(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish(
        "rag-answer", _answer_prompt(system_template="Be brief.", user_template="{question}", variables=("question",))
    )
    catalog.set_alias("rag-answer", "prod", 1)

    with pytest.raises(AnswerPromptUnusable, match=r"rag-answer@prod .*rag-answer@1 cannot answer questions"):
        _service(embedder, index, FakeLanguageModel(), prompts=catalog).answer("How is green tea brewed?")


def test_given_a_stored_prompt_whose_guardrails_are_now_refused_then_it_cannot_answer_and_the_error_says_why(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    store = FakePromptStore()
    old_guardrails = {"pii": {"entities": ["EMAIL"]}}  # accepted by an earlier release, refused since
    store.put_version(stored_by_an_earlier_release(_answer_prompt(), "rag-answer", 1, guardrails=old_guardrails))

    with pytest.raises(InvalidPrompt, match=r"rag-answer@1 cannot answer.*guardrails do not apply.*EMAIL_ADDRESS"):
        _service(embedder, index, FakeLanguageModel(), prompts=PromptCatalog(store)).answer(
            "How is green tea brewed?", prompt=PromptChoice("rag-answer", "1")
        )


def test_given_an_abbreviation_a_range_of_markers_and_a_repeated_sentence_then_the_answer_reads_whole_and_once(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    llm = FakeLanguageModel(
        reply=(
            "Python uses indentation, e.g. four spaces, to group statements instead of braces [1, 2]. "
            "Python uses indentation, e.g. four spaces, to group statements instead of braces [1-2]."
        )
    )

    answer = _service(embedder, index, llm).answer("How does Python group statements?")

    assert answer.answer == "Python uses indentation, e.g. four spaces, to group statements instead of braces. [1]"


class _EmailFinder:
    """A fake PII detector: finds e-mail addresses by pattern, as Presidio would, without loading spaCy."""

    name = "fake:email"

    def find_pii(self, text: str, entity_types: Sequence[str]) -> list[PiiSpan]:
        return [PiiSpan("EMAIL_ADDRESS", m.start(), m.end(), 1.0) for m in re.finditer(r"\S+@\S+\.\w+", text)]


def test_given_an_email_address_across_the_excerpt_cut_then_no_part_of_it_is_returned(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    address = "jane.doe.refunds.team@example-company.com"
    text = (
        "Refunds are processed within fourteen days of the request. " * 4 + f"Please write to the desk at {address}. "
    )
    text += "Refunds go back to the card that paid. " * 2
    assert text.index("@") < 300 < text.index(".com")  # the cut falls inside the address
    index = _index_of(embedder, ("refunds", text))
    service = _service(
        embedder,
        index,
        FakeLanguageModel(reply="Refunds are processed within fourteen days of the request [1]."),
        guardrails=Guardrails(pii=_EmailFinder()),
    )

    answer = service.answer("How long do refunds take?")

    excerpt = answer.citations[0].excerpt
    assert "jane.doe" not in excerpt and "@" not in excerpt
    assert "<EMAIL_ADDRESS>" in excerpt  # redacted in the whole passage, then cut at a word boundary
    assert len(excerpt) <= 302 and excerpt.endswith(" …")
    assert [(h["check"], h["stage"], h["action"]) for h in answer.guardrails] == [("pii", "output", "redact")]


def test_given_a_source_passage_a_blocking_check_stops_then_its_excerpt_is_withheld_not_the_answer(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    text = "Refunds are processed within fourteen days of the request. Questions go to refunds@example.com."
    index = _index_of(embedder, ("refunds", text))
    catalog = PromptCatalog(FakePromptStore())
    catalog.publish("rag-answer", _answer_prompt(guardrails={"pii": "block"}))
    llm = FakeLanguageModel(reply="Refunds are processed within fourteen days of the request [1].")
    service = _service(embedder, index, llm, prompts=catalog, guardrails=Guardrails(pii=_EmailFinder()))

    answer = service.answer("How long do refunds take?", prompt=PromptChoice("rag-answer", "1"))

    assert answer.answer == "Refunds are processed within fourteen days of the request. [1]"
    assert answer.citations[0].excerpt == "<withheld by the pii guardrail>"
    assert [(h["check"], h["stage"], h["action"]) for h in answer.guardrails] == [("pii", "output", "block")]


def test_given_copies_of_one_passage_then_the_prompt_holds_it_once_and_room_for_others(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    text = PASSAGES["documents/python.txt"]
    (original,) = [hit.chunk for hit in index.search(embedder.embed([text])[0], 1)]
    for copy in ("copy-a", "copy-b"):
        duplicate = chunk_of(copy, text, content_hash=original.content_hash)
        index.replace_document(copy, [duplicate], embedder.embed([text]))
    other = "In Python, the statements of a block are grouped by being indented the same."
    index.replace_document("blocks", [chunk_of("blocks", other)], embedder.embed([other]))
    llm = FakeLanguageModel(reply="Python groups statements with indentation rather than braces.")

    _service(embedder, index, llm).answer("How does Python group statements?")  # top_k 2

    assert llm.requests[0].system.count(text) == 1
    assert other in llm.requests[0].system


def test_given_an_abbreviation_before_a_capital_then_the_sentence_stays_whole_with_one_citation(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    text = "Refund forms go to Dr. Smith at the front desk, who signs them the same day."
    index = _index_of(embedder, ("refunds", text))
    llm = FakeLanguageModel(reply="Refund forms go to Dr. Smith at the front desk [1].")

    answer = _service(embedder, index, llm).answer("Who takes refund forms?")

    assert answer.answer == "Refund forms go to Dr. Smith at the front desk. [1]"


@pytest.mark.parametrize(
    "sentence",
    [
        "The hall holds approx. 80 people.",
        "It costs approx. £5 a day.",
        "The bridge was built ca. 1890.",
        "A ticket costs 5 EUR incl. VAT.",
        "The fee is waived, cf. the price list.",
    ],
)
def test_abbreviations_pysbd_does_not_know_do_not_end_a_sentence(sentence: str) -> None:
    assert split_sentences(f"{sentence} The rest follows.") == [sentence, "The rest follows."]


@pytest.mark.parametrize(
    ("question", "reply", "source"),
    [
        ("What is the capital of France?", "Paris [1].", "france"),
        ("How many modules does the package ship?", "The answer is: 27", "package"),
        ("Who created Python?", "Guido van Rossum.", "python"),
        ("What is the capital of France?", "Rome.", None),
        ("How many modules does the package ship?", "The answer is: 31", None),
        ("Who created Python?", "Python.", None),
        ("Is Paris the capital of France?", "Yes.", None),
        ("Can I end a raw string with a backslash?", "Yes, you can.", None),
    ],
    ids=["word", "framed-number", "name", "word-elsewhere", "number-elsewhere", "echo", "bare-yes", "common-words"],
)
def test_given_a_terse_answer_then_it_stands_when_a_passage_holds_the_words_it_adds_one_a_number_or_name(
    embedder: OnnxMiniLmEmbedder, question: str, reply: str, source: str | None
) -> None:
    # Too short for its embedding to resemble the passage (about 0.2 to 0.7 against MIN_ANSWER_SUPPORT's 0.7).
    index = _index_of(
        embedder,
        ("france", "The capital of France is Paris."),
        ("package", "The package ships 27 modules for parsing, rendering and testing."),
        ("python", "Python was created by Guido van Rossum in the late 1980s."),
        ("raw", "A raw string cannot end in an odd number of backslashes: you would escape its closing quote."),
    )

    answer = _service(embedder, index, FakeLanguageModel(reply=reply)).answer(question)

    if source is None:
        assert answer.abstention is Abstention.NOT_SUPPORTED_BY_CONTEXT
    else:
        (citation,) = answer.citations
        assert answer.grounded and answer.answer == f"{without_markers(reply)} [{citation.number}]"
        assert citation.source_key == f"documents/{source}.txt"


def test_given_an_answer_with_a_caveat_then_the_answer_stands_without_the_caveat(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    answer_and_caveat = "Green tea is brewed at about 80 degrees Celsius for two minutes [1]. The context does not "
    llm = FakeLanguageModel(reply=answer_and_caveat + "mention black tea.")

    answer = _service(embedder, index, llm).answer("How are green and black tea brewed?")

    assert answer.grounded
    assert answer.answer == "Green tea is brewed at about 80 degrees Celsius for two minutes. [1]"


def test_given_a_passage_too_long_for_what_is_left_then_later_shorter_ones_still_fill_the_budget(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    question = "How are Python blocks grouped?"
    candidates = [
        "Python groups statements by indentation instead of braces.",
        "Python uses indentation to group the statements of a block.",
        "Python blocks are grouped by indentation, not by braces.",
    ]
    similarity = embedder.embed(candidates) @ embedder.embed([question])[0]
    first, longer, shorter = (candidates[i] for i in similarity.argsort()[::-1])
    index = _index_of(embedder, ("first", first, 300), ("longer", longer, 250), ("shorter", shorter, 100))
    llm = FakeLanguageModel(reply="Python groups statements by indentation [1].")

    # Vector search, so that retrieval order is the similarity order worked out above.
    _service(embedder, index, llm, max_context_tokens=500).answer(question, top_k=3, mode=SearchMode.VECTOR)

    system = llm.requests[0].system
    assert first in system and shorter in system
    assert longer not in system  # 300 + 250 > 500; 300 + 100 fits


def test_given_a_passage_longer_than_the_whole_budget_then_its_leading_whole_sentences_that_fit_stand_in(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    sentences = [f"Python groups the statements of block number {n} by their indentation." for n in range(1, 41)]
    text = " ".join(sentences)  # a chunk made when CHUNK_MAX_TOKENS was higher
    tokens = len(embedder.tokenizer.encode(text).ids)
    index = _index_of(embedder, ("old", text, tokens))
    llm = FakeLanguageModel(reply="Python groups statements by indentation [1].")

    _service(embedder, index, llm, max_context_tokens=100).answer("How does Python group statements?")

    context = llm.requests[0].system.split("[1] (from old) ", 1)[1]
    assert context.endswith("by their indentation.") and context in text
    assert len(embedder.tokenizer.encode("[1] (from old) " + context, add_special_tokens=False).ids) <= 100
    assert len(context) > len(sentences[0])


def test_a_prompt_that_names_its_model_is_answered_by_that_model_with_its_parameters(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    catalog = PromptCatalog(FakePromptStore())
    parameters = {"model_id": "bedrock:anthropic.claude-3-haiku", "temperature": 0.3, "top_p": 0.9, "top_k": 40}
    catalog.publish("rag-answer", _answer_prompt(parameters=parameters))
    configured = FakeLanguageModel(name="bedrock:configured")
    named = FakeLanguageModel(reply="Python groups statements by indentation [1].", name="bedrock:claude-3-haiku")
    asked: list[str] = []

    def models(target: str) -> FakeLanguageModel:
        asked.append(target)
        return named

    service = _service(embedder, index, configured, prompts=catalog, models=models)
    answer = service.answer("How does Python group statements?", prompt=PromptChoice("rag-answer", "1"))
    declined = service.answer("Which football club won the 1998 cup final?", prompt=PromptChoice("rag-answer", "1"))

    assert asked[0] == "bedrock:anthropic.claude-3-haiku"
    assert not configured.requests
    assert (answer.model_id, declined.model_id) == ("bedrock:claude-3-haiku", "bedrock:claude-3-haiku")
    request = named.requests[0]
    assert (request.temperature, request.top_p, request.top_k) == (0.3, 0.9, 40)


def test_a_prompt_without_a_model_is_answered_by_the_configured_one(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    configured = FakeLanguageModel(reply="Python groups statements by indentation [1].")
    service = _service(embedder, index, configured, models=lambda target: pytest.fail(f"asked for {target}"))

    answer = service.answer("How does Python group statements?")

    assert answer.model_id == "fake:echo" and len(configured.requests) == 1


def test_citation_markers_go_but_an_index_in_inline_code_stays() -> None:
    assert without_markers("Read `items[1]` first [2], then ``rows[0][1]`` [1, 3].") == (
        "Read `items[1]` first, then ``rows[0][1]``."
    )


@pytest.mark.parametrize(
    ("reply", "kept"),
    [
        ("The office kitchen closes at 23:11 every weekday [1].", None),
        ("The office kitchen closes at 18:00 every weekday [1].", "The office kitchen closes at 18:00 every weekday."),
        ("Green tea is brewed for 2 minutes [1].", "Green tea is brewed for 2 minutes."),
        ("3. Green tea is brewed for 2 minutes [1].", "3. Green tea is brewed for 2 minutes."),
    ],
    ids=["invented-time", "time-in-passage", "number-written-out-in-passage", "numbered-list-item"],
)
def test_given_a_number_the_cited_passage_does_not_hold_then_the_sentence_is_not_supported(
    embedder: OnnxMiniLmEmbedder, reply: str, kept: str | None
) -> None:
    index = _index_of(
        embedder,
        ("kitchen", "The office kitchen closes at 18:00 every weekday."),
        ("tea", "Green tea is brewed for two minutes at about 80 degrees."),
    )

    answer = _service(embedder, index, FakeLanguageModel(reply=reply)).answer(
        "When does the office kitchen close?" if "kitchen" in reply else "How long is green tea brewed?"
    )

    if kept is None:
        assert answer.abstention is Abstention.NOT_SUPPORTED_BY_CONTEXT
    else:
        assert answer.grounded and answer.answer == f"{kept} [1]"


def test_given_a_reply_with_a_list_and_paragraphs_then_the_kept_sentences_keep_that_layout(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    index = _index_of(
        embedder,
        (
            "passwords",
            "To reset a password, open the staff portal and click the Forgot password link. The link is at the "
            "bottom of the sign-in page. A reset link is sent to your work e-mail address within five minutes.",
        ),
    )
    reply = (
        "1. Open the staff portal and click the Forgot password link [1].\n"
        "2. The link is at the\nbottom of the sign-in page [1].\n"  # a line wrapped inside an item
        "3. The reset link is sent by carrier pigeon.\n\n"
        "A reset link reaches your work e-mail address within five minutes [1]."
    )

    answer = _service(embedder, index, FakeLanguageModel(reply=reply)).answer("How do I reset my password?")

    assert answer.answer == (
        "1. Open the staff portal and click the Forgot password link. [1]\n"
        "2. The link is at the bottom of the sign-in page. [1]\n\n"  # the dropped item's break gives way
        "A reset link reaches your work e-mail address within five minutes. [1]"
    )


def test_given_a_fenced_code_block_then_it_is_kept_verbatim_with_its_citation_after_the_closing_fence(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    code = "```python\nitems = ['a', 'b']\nprint(items[1])\n```"
    index = _index_of(
        embedder,
        ("lists", f"To print the second item of a list, index it from zero. For example:\n\n{code}\n\nThis prints b."),
    )
    reply = f"Index the list from zero [1]:\n\n{code}\n\nThis prints b [1]."

    answer = _service(embedder, index, FakeLanguageModel(reply=reply)).answer(
        "How do I print the second item of a list?"
    )

    assert f"{code}\n[1]\n\nThis prints b. [1]" in answer.answer
