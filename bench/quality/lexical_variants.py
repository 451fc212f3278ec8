"""Can another full-text (BM25) side lift hybrid retrieval on the FAQ? `python -m bench.quality.lexical_variants`

The quality benchmark (bench/quality/run.py) finds hybrid nDCG@10 about 1.01 x vector-only. This script keeps the
vector side and the platform's own fusion (Retriever, min-max, text weights 0.25 to 1) and changes only what
LanceDB's BM25 is asked or indexes:

- `baseline`: the platform as it is (LanceDB's full-text index: English stemming and stop words);
- `question words dropped`: how, what, why, do, can, ... removed from the query;
- `page title indexed`: each chunk's BM25 text starts with its page's title ("Python on Windows FAQ");
- `whole documents`: BM25 over each answer's full text instead of its chunks;
- `expanded by vector hits`: the query gains the 10 most distinctive terms of the three best vector hits.

It prints nDCG@10 for full text alone and for hybrid at each text weight, as a ratio to vector-only.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
from bs4 import BeautifulSoup
from numpy.typing import NDArray

from bench.quality.faq import FAQ_DIR, FaqPair, load_faq
from bench.quality.measure import build_index, evaluate
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.composition import build_embedder
from llmops.domain.models import Chunk, ScoredChunk, SearchFilters, SearchMode, TextMatch
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from llmops.ports import VectorIndex
from llmops.settings import Settings

TEXT_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
_QUESTION_WORDS = "how what why when where which who can could do does did should would is are i my me you your"
QUESTION_WORDS = frozenset(_QUESTION_WORDS.split())
_WORD = re.compile(r"[a-z][a-z0-9_]+")
# Lucene's English stop words, the list behind OpenSearch's `english` analyzer.
_LUCENE_STOP_WORDS = (
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with"
)
_STOP_WORDS = frozenset(_LUCENE_STOP_WORDS.split())
EXPANSION_HITS = 3
EXPANSION_TERMS = 10


class LexicalVariant:
    """The benchmark's index for k-NN; full-text search answered by `text_index`, with the query rewritten. It has
    only the two searches the Retriever calls, hence the cast to VectorIndex where it is handed over."""

    def __init__(
        self,
        index: LanceDbVectorIndex,
        text_index: LanceDbVectorIndex | None = None,
        rewrite: Callable[[str, NDArray[np.float32] | None], str] = lambda query, _vector: query,
    ) -> None:
        self._index = index
        self._text_index = text_index or index
        self._rewrite = rewrite

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        return self._index.search(vector, k, filters)

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        return self._text_index.text_search(self._rewrite(text, query_vector), k, filters, query_vector)


def _rows(index: LanceDbVectorIndex) -> list[tuple[Chunk, NDArray[np.float32]]]:
    table = index._opened()  # a benchmark reads the table it built
    return [
        (Chunk.model_validate({name: row[name] for name in Chunk.model_fields}), np.asarray(row["vector"], np.float32))
        for row in table.to_arrow().to_pylist()
    ]


def _rebuilt(rows: list[tuple[Chunk, NDArray[np.float32]]], folder: Path, name: str) -> LanceDbVectorIndex:
    index = LanceDbVectorIndex(folder, name)
    index.ensure_index(len(rows[0][1]))
    index.add_chunks([chunk for chunk, _ in rows], np.stack([vector for _, vector in rows]))
    index.optimize()
    return index


def _page_titles(folder: Path = FAQ_DIR) -> dict[str, str]:
    titles = {}
    for page in folder.glob("*.html"):
        title = BeautifulSoup(page.read_bytes(), "html.parser").title
        titles[page.stem] = title.get_text().split(" \u2014 ")[0] if title else page.stem
    return titles


def _titled(rows: list[tuple[Chunk, NDArray[np.float32]]], pairs: list[FaqPair]) -> list[tuple[Chunk, NDArray]]:
    titles = _page_titles()
    page_of = {pair.key: pair.page for pair in pairs}
    return [
        (chunk.model_copy(update={"text": f"{titles[page_of[chunk.source_key]]}. {chunk.text}"}), vector)
        for chunk, vector in rows
    ]


def _whole_documents(rows: list[tuple[Chunk, NDArray[np.float32]]]) -> list[tuple[Chunk, NDArray]]:
    """One row per document: its full text under its first chunk's identity (so fusion meets the same key)."""
    documents: dict[str, list[tuple[Chunk, NDArray[np.float32]]]] = {}
    for chunk, vector in sorted(rows, key=lambda row: (row[0].document_id, row[0].position)):
        documents.setdefault(chunk.document_id, []).append((chunk, vector))
    return [
        (parts[0][0].model_copy(update={"text": " ".join(chunk.text for chunk, _ in parts)}), parts[0][1])
        for parts in documents.values()
    ]


def _without_question_words(query: str, _vector: NDArray[np.float32] | None) -> str:
    return " ".join(word for word in query.split() if word.lower().strip("?,.") not in QUESTION_WORDS)


def _expander(index: LanceDbVectorIndex, rows: list[tuple[Chunk, NDArray[np.float32]]]) -> Callable[..., str]:
    """Dense pseudo-relevance feedback: the query plus the terms that best mark its best vector hits (tf x idf)."""
    documents = [set(_WORD.findall(chunk.text.lower())) for chunk, _ in rows]
    frequency = Counter(word for words in documents for word in words)
    idf = {word: math.log(len(documents) / count) for word, count in frequency.items()}

    def expand(query: str, vector: NDArray[np.float32] | None) -> str:
        if vector is None:
            return query
        weights: dict[str, float] = {}
        for hit in index.search(vector, EXPANSION_HITS):
            for word in _WORD.findall(hit.chunk.text.lower()):
                if word not in _STOP_WORDS:
                    weights[word] = weights.get(word, 0.0) + idf.get(word, 0.0)
        best = sorted(weights, key=weights.__getitem__, reverse=True)[:EXPANSION_TERMS]
        return " ".join([query, *best])

    return expand


def main() -> None:
    pairs = load_faq()
    embedder = build_embedder(Settings(EMBEDDING_PROVIDER="onnx"))
    assert isinstance(embedder, OnnxMiniLmEmbedder)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        index = build_index(pairs, folder, embedder)
        rows = _rows(index)
        variants = {
            "baseline": LexicalVariant(index),
            "question words dropped": LexicalVariant(index, rewrite=_without_question_words),
            "page title indexed": LexicalVariant(index, _rebuilt(_titled(rows, pairs), folder, "titled")),
            "whole documents": LexicalVariant(index, _rebuilt(_whole_documents(rows), folder, "documents")),
            "expanded by vector hits": LexicalVariant(index, rewrite=_expander(index, rows)),
        }
        vector = evaluate(Retriever(embedder, index, RetrievalSettings()), pairs, SearchMode.VECTOR).ndcg10
        print(f"vector-only nDCG@10 {vector:.3f}\n")
        header = " | ".join(f"hybrid, text weight {w:g}" for w in TEXT_WEIGHTS)
        print(f"| BM25 side | full text nDCG@10 | {header} |\n|---|---|{'---|' * len(TEXT_WEIGHTS)}")
        for name, variant in variants.items():
            searchable = cast(VectorIndex, variant)
            text = evaluate(Retriever(embedder, searchable, RetrievalSettings()), pairs, SearchMode.TEXT).ndcg10
            hybrid = [
                evaluate(
                    Retriever(embedder, searchable, RetrievalSettings(fusion=Fusion.CONVEX, text_weight=weight)),
                    pairs,
                    SearchMode.HYBRID,
                ).ndcg10
                / vector
                for weight in TEXT_WEIGHTS
            ]
            print(f"| {name} | {text:.3f} | " + " | ".join(f"{ratio:.3f} ×" for ratio in hybrid) + " |", flush=True)


if __name__ == "__main__":
    main()
