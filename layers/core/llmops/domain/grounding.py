"""Grounding check: keep only the sentences of a generated answer that the retrieved passages support.

Small models do not refuse by themselves and drift from their context. Each answer sentence is compared (by
embedding similarity) with every sentence of the passages it was given; supported sentences are kept and cite
the passage that supports them best, the rest are dropped. An answer with no supported sentence is declined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from llmops.domain.models import ScoredChunk
from llmops.ports import Embedder

# A sentence does not start in lower case: "e.g. four spaces" or "approx. two" goes on (Unicode's UAX #29 rule).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?![a-z])|\n\s*\n")
_LINE_WRAP = re.compile(r"(?<!\n)\n(?!\n)")
# [1], [1, 2], [1-3], [1; 4]: the kept sentences get their own marker, so the model's go, in any form.
_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*[,;\u2013-]\s*\d{1,3})*\]")
_MIN_SENTENCE_CHARS = 12


def split_sentences(text: str) -> list[str]:
    """Sentences and paragraph-separated lines; a single line break inside a paragraph is only wrapping."""
    return [
        " ".join(s.split())
        for s in _SENTENCE_END.split(_LINE_WRAP.sub(" ", text))
        if len(s.strip()) >= _MIN_SENTENCE_CHARS
    ]


@dataclass(frozen=True)
class SupportedSentence:
    text: str
    passage_number: int  # 1-based, as in the prompt's [n] markers
    support: float


@dataclass(frozen=True)
class GroundedAnswer:
    sentences: list[SupportedSentence]
    dropped: int

    @property
    def text(self) -> str:
        return " ".join(f"{s.text} [{s.passage_number}]" for s in self.sentences)

    @property
    def support(self) -> float:
        return min((s.support for s in self.sentences), default=0.0)


class GroundingCheck:
    def __init__(self, embedder: Embedder, min_support: float, max_sentences: int = 4) -> None:
        self._embedder = embedder
        self._min_support = min_support
        self._max_sentences = max_sentences

    def check(self, answer: str, passages: list[ScoredChunk]) -> GroundedAnswer:
        answer_sentences = [_MARKER.sub("", s).strip() for s in split_sentences(answer)][: self._max_sentences * 2]
        passage_sentences: list[tuple[int, str]] = [
            (number, sentence)
            for number, hit in enumerate(passages, start=1)
            for sentence in split_sentences(hit.chunk.text) or [hit.chunk.text]
        ]
        if not answer_sentences or not passage_sentences:
            return GroundedAnswer(sentences=[], dropped=len(answer_sentences))
        vectors = self._embedder.embed(answer_sentences + [s for _, s in passage_sentences])
        answers, evidence = vectors[: len(answer_sentences)], vectors[len(answer_sentences) :]
        similarity = answers @ evidence.T
        kept: list[SupportedSentence] = []
        seen: set[str] = set()
        for row, sentence in zip(similarity, answer_sentences, strict=True):
            best = int(np.argmax(row))
            said = " ".join(sentence.lower().split())
            if said in seen:  # small models loop: a sentence said again adds nothing
                continue
            seen.add(said)
            if float(row[best]) >= self._min_support and len(kept) < self._max_sentences:
                kept.append(SupportedSentence(sentence, passage_sentences[best][0], round(float(row[best]), 4)))
        return GroundedAnswer(sentences=kept, dropped=len(answer_sentences) - len(kept))
