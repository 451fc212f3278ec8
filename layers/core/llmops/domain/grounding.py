"""Grounding check: keep only the sentences of a generated answer that the retrieved passages support.

Small models do not refuse by themselves and drift from their context. Each answer sentence is compared (by
embedding similarity) with every sentence of the passages it was given; a sentence is supported when it is similar
enough to one of them and its numbers are all in that one's passage. Supported sentences are kept and cite the
passage that supports them best, the rest are dropped. An answer with no supported sentence is declined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pysbd

from llmops.domain.models import ScoredChunk
from llmops.ports import Embedder

# pysbd's rules know abbreviations ("Dr. Smith", "No. 5", "U.S. Army", "e.g. four"), which a split at every full stop
# before a capital turns into sentences of their own, each given a citation.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# [1], [1, 2], [1-3], [1; 4]: the kept sentences get their own marker, so the model's go, in any form.
_MARKER = re.compile(r"\s*\[\d{1,3}(?:\s*[,;\u2013-]\s*\d{1,3})*\]")
# Inside `code` an index such as items[1] is code, not a citation.
_CODE_SPAN = re.compile(r"(`+)[^`]*?\1", re.DOTALL)
# Embeddings barely tell "closes at 18:00" from "closes at 23:11": a sentence whose numbers (times, amounts, versions,
# dates) are not all in the passage it cites is not supported by it. A passage's "two" also counts as 2.
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
    )
}
_NUMBER_WORD = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^(?:\d{1,2}[.)]|[-*\u2022])\s+")  # "2. Run it": the answer's own numbering, not a claim
# A passage's list numbers and headings ("1.", "Note:") would otherwise stand as sentences that support anything.
_MIN_PASSAGE_SENTENCE_CHARS = 12


def split_sentences(text: str) -> list[str]:
    """Sentences, each on one line; a paragraph break ends a sentence, a single line break inside one is wrapping."""
    return [
        " ".join(sentence.split())
        for paragraph in _PARAGRAPH_BREAK.split(text)
        if paragraph.strip()
        # A segmenter per text: pysbd keeps the text being segmented on the instance, so threads must not share one.
        for sentence in pysbd.Segmenter(language="en", clean=False).segment(" ".join(paragraph.split()))
        if sentence.strip()
    ]


def without_markers(sentence: str) -> str:
    """The sentence without the model's citation markers; code spans are left as they are."""
    kept, end = [], 0
    for code in _CODE_SPAN.finditer(sentence):
        kept += [_MARKER.sub("", sentence[end : code.start()]), code.group()]
        end = code.end()
    kept.append(_MARKER.sub("", sentence[end:]))
    return "".join(kept).strip()


def answer_sentences(answer: str) -> list[str]:
    """The sentences of a generated answer without their citation markers: a one-word answer ("Paris [1].") counts."""
    sentences = (without_markers(sentence) for sentence in split_sentences(answer))
    return [sentence for sentence in sentences if any(character.isalnum() for character in sentence)]


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

    def check(self, sentences: list[str], passages: list[ScoredChunk]) -> GroundedAnswer:
        """`sentences` are the answer's, as `answer_sentences` gives them."""
        answer_sentences = sentences[: self._max_sentences * 2]
        passage_sentences: list[tuple[int, str]] = [
            (number, sentence)
            for number, hit in enumerate(passages, start=1)
            for sentence in _passage_sentences(hit.chunk.text)
        ]
        if not answer_sentences or not passage_sentences:
            return GroundedAnswer(sentences=[], dropped=len(answer_sentences))
        vectors = self._embedder.embed(answer_sentences + [s for _, s in passage_sentences])
        answers, evidence = vectors[: len(answer_sentences)], vectors[len(answer_sentences) :]
        similarity = answers @ evidence.T
        passage_numbers = {
            number: _numbers(_NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group().lower()], hit.chunk.text))
            for number, hit in enumerate(passages, start=1)
        }
        kept: list[SupportedSentence] = []
        seen: set[str] = set()
        for row, sentence in zip(similarity, answer_sentences, strict=True):
            best = int(np.argmax(row))
            said = " ".join(sentence.lower().split())
            if said in seen:  # small models loop: a sentence said again adds nothing
                continue
            seen.add(said)
            number = passage_sentences[best][0]
            if (
                float(row[best]) >= self._min_support
                and _numbers(_LIST_ITEM.sub("", sentence)) <= passage_numbers[number]
                and len(kept) < self._max_sentences
            ):
                kept.append(SupportedSentence(sentence, number, round(float(row[best]), 4)))
        return GroundedAnswer(sentences=kept, dropped=len(answer_sentences) - len(kept))


def _passage_sentences(text: str) -> list[str]:
    sentences = [s for s in split_sentences(text) if len(s) >= _MIN_PASSAGE_SENTENCE_CHARS]
    return sentences or [" ".join(text.split())]


def _numbers(text: str) -> set[str]:
    """The numbers in a text, thousands separators aside ("1,000" is 1000; "3.11" and "18:00" stay as they are)."""
    return {re.sub(r",(?=\d{3}\b)", "", number) for number in _NUMBER.findall(text)}
