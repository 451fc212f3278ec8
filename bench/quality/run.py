"""Retrieval quality and abstention on the Python FAQ (make bench-quality).

Every FAQ answer is indexed as its own document; each FAQ question is asked, and its own answer is the one
relevant document. Vector-only, full-text-only and hybrid retrieval are measured on the same index in one run.
Abstention is measured on the FAQ questions (answerable) and on questions the FAQ cannot answer.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import ndcg_score

from bench.quality.faq import FaqPair, load_faq
from bench.quality.unanswerable import UNANSWERABLE
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.composition import build_chunker, build_embedder, retrieval_settings
from llmops.domain.models import ExtractedDocument, ScoredChunk, SearchMode, Section, document_id_for
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from llmops.settings import Settings

BUCKET = "bench"
CUTOFFS = (1, 5, 10)
REPORT = Path(__file__).parent / "REPORT.md"


@dataclass
class ModeFigures:
    recall: dict[int, float]
    mrr: float
    ndcg10: float
    ms_per_query: float
    ranks: list[int | None]  # per question, the rank of its answer in the top 10 (None: not there)


def _ranked_documents(hits: list[ScoredChunk]) -> list[str]:
    """Documents in the order of their best chunk (a document counts once)."""
    seen: list[str] = []
    for hit in hits:
        if hit.chunk.document_id not in seen:
            seen.append(hit.chunk.document_id)
    return seen


def _ndcg_at_10(ranked: list[str], relevant: str) -> float:
    # sklearn's nDCG over the retrieved list; a relevant document missing from the top 10 scores 0.
    if relevant not in ranked[:10]:
        return 0.0
    truth = np.asarray([[1.0 if doc == relevant else 0.0 for doc in ranked[:10]]])
    scores = np.asarray([[float(len(ranked) - i) for i in range(len(ranked[:10]))]])
    return float(ndcg_score(truth, scores, k=10)) if truth.shape[1] > 1 else 1.0


def evaluate(retriever: Retriever, pairs: list[FaqPair], mode: SearchMode) -> ModeFigures:
    hits_at = dict.fromkeys(CUTOFFS, 0)
    reciprocal_ranks, ndcgs, seconds = [], [], []
    ranks: list[int | None] = []
    for pair in pairs:
        started = time.perf_counter()
        ranked = _ranked_documents(retriever.retrieve(pair.question, 30, mode=mode))[:10]
        seconds.append(time.perf_counter() - started)
        relevant = document_id_for(BUCKET, pair.key)
        rank = ranked.index(relevant) + 1 if relevant in ranked else None
        ranks.append(rank)
        for k in CUTOFFS:
            hits_at[k] += int(rank is not None and rank <= k)
        reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        ndcgs.append(_ndcg_at_10(ranked, relevant))
    return ModeFigures(
        recall={k: hits_at[k] / len(pairs) for k in CUTOFFS},
        mrr=statistics.fmean(reciprocal_ranks),
        ndcg10=statistics.fmean(ndcgs),
        ms_per_query=statistics.median(seconds) * 1000,
        ranks=ranks,
    )


def best_of_both_ndcg(vector: ModeFigures, text: ModeFigures) -> float:
    """nDCG@10 if every question took whichever of the two rankings placed its answer higher: a bound on what
    choosing between the two lists can reach (fusion can exceed it only by lifting an answer above both ranks)."""
    best = [
        min((r for r in pair if r is not None), default=None) for pair in zip(vector.ranks, text.ranks, strict=True)
    ]
    return statistics.fmean(1 / math.log2(rank + 1) if rank else 0.0 for rank in best)


def top_similarity(retriever: Retriever, question: str) -> float:
    hits = retriever.retrieve(question, 3)
    return max((hit.score for hit in hits), default=-1.0)


def build_index(pairs: list[FaqPair], folder: Path, embedder: OnnxMiniLmEmbedder) -> LanceDbVectorIndex:
    settings = Settings()
    index = LanceDbVectorIndex(folder, "faq")
    index.ensure_index(embedder.dimension)
    chunker = build_chunker(settings, embedder)
    for pair in pairs:
        document_id = document_id_for(BUCKET, pair.key)
        chunks = chunker.chunk(
            ExtractedDocument(title=pair.page, sections=[Section(text=pair.answer)]),
            document_id=document_id,
            source_key=pair.key,
            version="1",
        )
        index.replace_document(document_id, chunks, embedder.embed([c.text for c in chunks]))
    index.optimize()
    return index


def _pipeline_abstention(retriever: Retriever, embedder: OnnxMiniLmEmbedder, questions: list[str]) -> float:
    """The whole answering service with the local model: the share of questions it declines."""
    from llmops.composition import answering_policy, build_language_model
    from llmops.domain.answering import QuestionAnsweringService

    settings = Settings(LLM_PROVIDER="local")
    service = QuestionAnsweringService(embedder, retriever, build_language_model(settings), answering_policy(settings))
    return sum(not service.answer(q).grounded for q in questions) / len(questions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--with-llm", type=int, default=0, help="also run the full answering service on N questions")
    arguments = parser.parse_args()

    settings = Settings()
    pairs = load_faq()
    embedder = build_embedder(Settings(EMBEDDING_PROVIDER="onnx"))  # EMBEDDING_PRECISION from the environment
    assert isinstance(embedder, OnnxMiniLmEmbedder)
    with tempfile.TemporaryDirectory() as folder:
        index = build_index(pairs, Path(folder), embedder)
        retriever = Retriever(
            embedder,
            index,
            retrieval_settings(settings),
        )
        figures = {mode: evaluate(retriever, pairs, mode) for mode in SearchMode}
        fusion_sweep = {
            (fusion.value, text_weight): evaluate(
                Retriever(
                    embedder,
                    index,
                    RetrievalSettings(fusion=fusion, text_weight=text_weight, rrf_k=settings.search_rrf_k),
                ),
                pairs,
                SearchMode.HYBRID,
            ).ndcg10
            for fusion in Fusion
            for text_weight in (0.25, 0.5, 1.0)
        }
        answerable = [top_similarity(retriever, p.question) for p in pairs]
        unanswerable = [top_similarity(retriever, q) for q in UNANSWERABLE]
        pipeline: dict[str, float] = {}
        if arguments.with_llm:
            sample = pairs[:: max(1, len(pairs) // arguments.with_llm)][: arguments.with_llm]
            pipeline = {
                "answerable_declined": _pipeline_abstention(retriever, embedder, [p.question for p in sample]),
                "unanswerable_declined": _pipeline_abstention(retriever, embedder, UNANSWERABLE[: arguments.with_llm]),
            }

    threshold = settings.min_relevance_score
    sweep = {
        round(t, 2): (
            sum(s < t for s in unanswerable) / len(unanswerable),
            sum(s >= t for s in answerable) / len(answerable),
        )
        for t in np.arange(0.25, 0.61, 0.05)
    }
    ratio = figures[SearchMode.HYBRID].ndcg10 / figures[SearchMode.VECTOR].ndcg10
    abstained = sum(s < threshold for s in unanswerable) / len(unanswerable)
    answered = sum(s >= threshold for s in answerable) / len(answerable)
    report = render(len(pairs), figures, ratio, threshold, abstained, answered, sweep, pipeline, arguments.with_llm)
    bound = best_of_both_ndcg(figures[SearchMode.VECTOR], figures[SearchMode.TEXT])
    vector_ndcg = figures[SearchMode.VECTOR].ndcg10
    report += (
        f"\nEmbedder: `{embedder.model_id}` (EMBEDDING_PRECISION={settings.embedding_precision.value}).\n\n"
        "Best of both rankings per question (each question keeps whichever of "
        f"vector and text ranks its answer higher): nDCG@10 {bound:.3f}, {bound / vector_ndcg:.3f} × vector-only. "
        "Fusing these two lists cannot do much better than this; a larger gain needs a better second ranking.\n"
    )
    report += (
        "\n## Hybrid fusion sweep (nDCG@10; vector weight 1)\n\n| fusion | text weight | nDCG@10 | / vector-only |\n"
    )
    report += "|---|---|---|---|\n"
    for (fusion_name, text_weight), ndcg in fusion_sweep.items():
        report += f"| {fusion_name} | {text_weight} | {ndcg:.3f} | {ndcg / vector_ndcg:.3f} |\n"
    REPORT.write_text(report)
    print(report)
    (Path(__file__).parent / "results.json").write_text(
        json.dumps(
            {
                "questions": len(pairs),
                "embedder": embedder.model_id,
                "modes": {m.value: {k: v for k, v in vars(f).items() if k != "ranks"} for m, f in figures.items()},
                "hybrid_over_vector_ndcg10": ratio,
                "best_of_both_ndcg10": bound,
                "threshold": threshold,
                "unanswerable_abstained": abstained,
                "answerable_answered": answered,
                "pipeline": pipeline,
            },
            indent=1,
            default=str,
        )
    )
    passed = ratio >= 1.05 and abstained >= 0.8 and answered >= 0.8
    raise SystemExit(0 if passed else 1)


def render(
    questions: int,
    figures: dict[SearchMode, ModeFigures],
    ratio: float,
    threshold: float,
    abstained: float,
    answered: float,
    sweep: dict[float, tuple[float, float]],
    pipeline: dict[str, float],
    pipeline_sample: int,
) -> str:
    lines = [
        "# Retrieval quality and abstention (Python FAQ)",
        "",
        f"{questions} FAQ questions from Debian's python3.11-doc; each answer indexed as its own document; "
        f"{len(UNANSWERABLE)} questions the FAQ cannot answer. Produced by `make bench-quality`.",
        "",
        "| mode | recall@1 | recall@5 | recall@10 | MRR | nDCG@10 | median ms/query |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, f in figures.items():
        lines.append(
            f"| {mode.value} | {f.recall[1]:.3f} | {f.recall[5]:.3f} | {f.recall[10]:.3f} | {f.mrr:.3f} | "
            f"{f.ndcg10:.3f} | {f.ms_per_query:.1f} |"
        )
    verdict = "PASS" if ratio >= 1.05 else "FAIL"
    lines += [
        "",
        f"Hybrid nDCG@10 / vector-only nDCG@10 = **{ratio:.3f}** (target ≥ 1.05: {verdict})",
        "",
        "## Abstention (retrieval evidence gate, hybrid top-3 cosine similarity)",
        "",
        f"At MIN_RELEVANCE_SCORE = {threshold}: **{abstained:.1%}** of unanswerable questions declined "
        f"(target ≥ 80%), **{answered:.1%}** of answerable questions answered (target ≥ 80%): "
        f"{'PASS' if abstained >= 0.8 and answered >= 0.8 else 'FAIL'}.",
        "",
        "| threshold | unanswerable declined | answerable answered |",
        "|---|---|---|",
        *(f"| {t:.2f} | {d:.1%} | {a:.1%} |" for t, (d, a) in sweep.items()),
    ]
    if pipeline:
        lines += [
            "",
            f"## Whole answering service with the local model (SmolLM2-135M), {pipeline_sample} questions each",
            "",
            "Adds the grounding check (an answer sentence must be supported by a cited passage):",
            "",
            f"- answerable questions declined: {pipeline['answerable_declined']:.1%}",
            f"- unanswerable questions declined: {pipeline['unanswerable_declined']:.1%}",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
