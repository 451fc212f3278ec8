from __future__ import annotations

from pathlib import Path

import pytest

import llmops_local
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.errors import InvalidSearch
from llmops.domain.models import ExtractedDocument, SearchFilters, SearchMode, Section
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from tests.fakes import FakeVectorIndex

DOCUMENTS = {
    "documents/faq/errno.txt": "Error E1042 means the licence server could not be reached.",
    "documents/faq/network.txt": "When the network is down, the application cannot contact remote servers.",
    "documents/guide/tea.txt": "Steep green tea for two minutes at eighty degrees.",
}


@pytest.fixture(scope="module")
def index(embedder: OnnxMiniLmEmbedder) -> FakeVectorIndex:
    index = FakeVectorIndex()
    chunker = Chunker(embedder.tokenizer, 250, 0, embedder.model_id)
    for key, text in DOCUMENTS.items():
        chunks = chunker.chunk(
            ExtractedDocument(title=key, sections=[Section(text=text)]), document_id=key, source_key=key, version="v"
        )
        index.replace_document(key, chunks, embedder.embed([c.text for c in chunks]))
    return index


def test_full_text_finds_an_exact_code_that_vectors_rank_lower(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    retriever = Retriever(embedder, index, RetrievalSettings())

    text = retriever.retrieve("E1042", 1, mode=SearchMode.TEXT)
    hybrid = retriever.retrieve("E1042", 1, mode=SearchMode.HYBRID)

    assert text[0].chunk.source_key == "documents/faq/errno.txt"
    assert hybrid[0].chunk.source_key == "documents/faq/errno.txt"
    assert text[0].text_score is not None and hybrid[0].fused_score is not None


def test_every_result_carries_its_cosine_similarity_whatever_the_mode(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    retriever = Retriever(embedder, index, RetrievalSettings())
    question = embedder.embed(["How long should green tea steep?"])[0]
    tea = index.rows[[c.source_key for c, _ in index.rows].index("documents/guide/tea.txt")][1]

    for mode in SearchMode:
        top = retriever.retrieve("How long should green tea steep?", 1, mode=mode)[0]
        assert top.chunk.source_key == "documents/guide/tea.txt"
        assert top.score == pytest.approx(float(question @ tea), abs=1e-5)


def test_reciprocal_rank_fusion_follows_the_weights(embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex) -> None:
    retriever = Retriever(embedder, index, RetrievalSettings(fusion=Fusion.RRF, rrf_k=60))

    results = retriever.retrieve("server could not be reached", 3, vector_weight=1.0, text_weight=0.0)
    fused = [r.fused_score for r in results]

    assert fused == sorted(fused, reverse=True)
    assert fused[0] == pytest.approx(1 / 61)


def test_filters_limit_results_to_a_prefix_or_documents(embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex) -> None:
    retriever = Retriever(embedder, index, RetrievalSettings())

    by_prefix = retriever.retrieve("tea and servers", 5, filters=SearchFilters(prefix="documents/faq/"))
    by_document = retriever.retrieve(
        "tea and servers", 5, filters=SearchFilters(document_ids=["documents/guide/tea.txt"])
    )

    assert {r.chunk.source_key for r in by_prefix} <= {"documents/faq/errno.txt", "documents/faq/network.txt"}
    assert [r.chunk.source_key for r in by_document] == ["documents/guide/tea.txt"]


def test_convex_fusion_combines_normalised_scores_by_weight(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex
) -> None:
    text_only = Retriever(embedder, index, RetrievalSettings(fusion=Fusion.CONVEX, vector_weight=0.0, text_weight=1.0))

    results = text_only.retrieve("E1042 licence server", 3)

    assert results[0].chunk.source_key == "documents/faq/errno.txt"
    assert results[0].fused_score == pytest.approx(1.0)


@pytest.mark.parametrize("mode", [SearchMode.VECTOR, SearchMode.TEXT])
def test_fusion_weights_are_refused_for_a_search_that_fuses_nothing(
    embedder: OnnxMiniLmEmbedder, mode: SearchMode
) -> None:
    retriever = Retriever(embedder, FakeVectorIndex(), RetrievalSettings(mode=SearchMode.HYBRID))

    with pytest.raises(InvalidSearch, match=f"this search is {mode.value}"):
        retriever.retrieve("indentation", 3, mode=mode, vector_weight=0.5)


@pytest.fixture(scope="module")
def faq_index(embedder: OnnxMiniLmEmbedder) -> FakeVectorIndex:
    """About 200 chunks of a Python FAQ page from the demo corpus: enough for pools of different depths to differ."""
    page = Path(llmops_local.__file__).parent / "demo_corpus" / "design.html"
    chunks = Chunker(embedder.tokenizer, 200, 0, embedder.model_id).chunk(
        ExtractedDocument(title=page.name, sections=[Section(text=page.read_text())]),
        document_id=page.name,
        source_key=page.name,
        version="v",
    )
    index = FakeVectorIndex()
    index.replace_document(page.name, chunks, embedder.embed([c.text for c in chunks]))
    return index


@pytest.mark.parametrize("fusion", list(Fusion))
def test_a_smaller_top_k_cuts_the_same_hybrid_ranking_short(
    embedder: OnnxMiniLmEmbedder, faq_index: FakeVectorIndex, fusion: Fusion
) -> None:
    retriever = Retriever(embedder, faq_index, RetrievalSettings(fusion=fusion))

    for question in ("Why are Python strings immutable?", "Why is there no goto?", "How fast are exceptions?"):
        ranking = [(hit.chunk.position, hit.fused_score) for hit in retriever.retrieve(question, 25)]
        for top_k in range(1, 11):
            cut = [(hit.chunk.position, hit.fused_score) for hit in retriever.retrieve(question, top_k)]
            assert cut == ranking[:top_k], (question, top_k)


@pytest.mark.parametrize(
    ("query", "weights", "reason"),
    [
        ("", {}, "the query is blank"),
        (" \n\t", {}, "the query is blank"),
        ("x" * 2001, {}, "longer than 2000 characters"),
        ("indentation", {"vector_weight": 0.0}, r"fusion weights 0 \(vector\) and 0 \(text\)"),
        ("indentation", {"text_weight": -1.0}, "must be 0 or more"),
    ],
    ids=["empty", "blank", "too-long", "both-weights-0-with-the-configured-one", "negative"],
)
def test_a_query_or_weights_that_cannot_rank_anything_are_refused_whoever_calls(
    embedder: OnnxMiniLmEmbedder, index: FakeVectorIndex, query: str, weights: dict[str, float], reason: str
) -> None:
    retriever = Retriever(embedder, index, RetrievalSettings(text_weight=0.0))

    with pytest.raises(InvalidSearch, match=reason):
        retriever.retrieve(query, 3, **weights)
