"""Retrieval quality and abstention on the Python FAQ (make bench-quality).

Every FAQ answer is indexed as its own document; each FAQ question is asked, and its own answer is the one
relevant document. Vector-only, full-text-only and hybrid retrieval are measured on the same index in one run.
Abstention is measured on the FAQ questions (answerable) and on questions the FAQ cannot answer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.quality.faq import load_faq
from bench.quality.fusion_ceiling import RRF_KS, TEXT_SHARES, FusionCeiling, fusion_ceilings
from bench.quality.measure import ModeFigures, best_of_both_ndcg, build_index, evaluate
from bench.quality.unanswerable import UNANSWERABLE
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.composition import build_embedder, retrieval_settings
from llmops.domain.models import SearchMode
from llmops.domain.retrieval import Fusion, RetrievalSettings, Retriever
from llmops.settings import Settings

REPORT = Path(__file__).parent / "REPORT.md"


def top_similarity(retriever: Retriever, question: str) -> float:
    hits = retriever.retrieve(question, 3)
    return max((hit.score for hit in hits), default=-1.0)


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
        ceilings = fusion_ceilings(embedder, index, pairs)
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
    report += f"\nEmbedder: `{embedder.model_id}` (EMBEDDING_PRECISION={settings.embedding_precision.value}).\n"
    report += render_ceilings(ceilings, bound, vector_ndcg)
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
                "modes": {mode.value: figure.summary() for mode, figure in figures.items()},
                "hybrid_over_vector_ndcg10": ratio,
                "best_of_both_ndcg10": bound,
                "fusion_ceilings": [
                    {
                        "fusion": c.fusion.value,
                        "best_fixed_ndcg10": c.best_fixed,
                        "best_fixed_text_share": c.best_fixed_setting.text_weight,
                        "best_fixed_rrf_k": c.best_fixed_setting.rrf_k if c.fusion is Fusion.RRF else None,
                        "per_question_ndcg10": c.per_question,
                    }
                    for c in ceilings
                ],
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


def render_ceilings(ceilings: list[FusionCeiling], best_of_both: float, vector_ndcg: float) -> str:
    shares = f"{TEXT_SHARES[0]:g}, {TEXT_SHARES[1]:g}, ..., {TEXT_SHARES[-1]:g}"
    lines = [
        "",
        "## What fusing these two lists can reach (nDCG@10 / vector-only)",
        "",
        f"Swept through the platform's Retriever: the text list's share of the weight {shares}; for RRF also k in "
        f"{', '.join(map(str, RRF_KS))}. *Best single setting* is one setting for every question, chosen on this "
        "benchmark: the most a deployment with fixed settings could have. *Best setting per question* gives each "
        "question the setting that ranks its answer highest, which needs the answer to be known: a ceiling for any "
        "way of choosing settings per query, not a figure anything can reach.",
        "",
        "| fusion | best single setting | that setting | best setting per question |",
        "|---|---|---|---|",
    ]
    for ceiling in ceilings:
        setting = ceiling.best_fixed_setting
        described = f"text share {setting.text_weight:g}" + (
            f", k {setting.rrf_k}" if ceiling.fusion is Fusion.RRF else ""
        )
        lines.append(
            f"| {ceiling.fusion.value} | {ceiling.best_fixed / vector_ndcg:.3f} × | {described} | "
            f"{ceiling.per_question / vector_ndcg:.3f} × |"
        )
    lines += [
        "",
        "Best of both rankings per question (each question keeps whichever of vector and text ranks its answer "
        f"higher): nDCG@10 {best_of_both:.3f}, {best_of_both / vector_ndcg:.3f} × vector-only. A fusion beats this "
        "only where it lifts an answer above its rank in both lists.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
