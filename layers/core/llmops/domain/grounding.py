"""Grounding check: keep only the sentences of a generated answer that the retrieved passages support.

Small models do not refuse by themselves and drift from their context. Each answer sentence is compared (by
embedding similarity) with every sentence of the passages it was given; a sentence is supported when it is similar
enough to one of them and its numbers are all in that one's passage. Supported sentences are kept and cite the
passage that supports them best, the rest are dropped. An answer with no supported sentence is declined. The kept
sentences keep the reply's layout: its paragraphs, list items and fenced code blocks.

A terse answer ("Paris.", "The answer is: 27") carries too little meaning for its embedding to resemble anything, so
it is supported instead when every word it adds to the question is in a passage, one of them a number or a name
there: it was taken from that passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pysbd
from pysbd.lang.english import English

from llmops.domain.models import ScoredChunk
from llmops.ports import Embedder

# pysbd's rules know abbreviations ("Dr. Smith", "No. 5", "U.S. Army", "e.g. four"), which a split at every full stop
# before a capital turns into sentences of their own, each given a citation.
_MORE_ABBREVIATIONS = ["approx", "ca", "cf", "excl", "incl", "resp"]  # not in pysbd's list; always followed by more


class _English(English):
    class Abbreviation(English.Abbreviation):
        ABBREVIATIONS = English.Abbreviation.ABBREVIATIONS + _MORE_ABBREVIATIONS
        PREPOSITIVE_ABBREVIATIONS = English.Abbreviation.PREPOSITIVE_ABBREVIATIONS + _MORE_ABBREVIATIONS


def _segmenter() -> pysbd.Segmenter:
    # One per text: pysbd keeps the text being segmented on the instance, so threads must not share one.
    segmenter = pysbd.Segmenter(language="en", clean=False)
    segmenter.language_module = _English
    return segmenter


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
_LIST_ITEM = re.compile(r"^(?:\d{1,2}[.)]|[-*+\u2022])\s+")  # "2. Run it": the answer's own numbering, not a claim
# A reply's line that opens a list item or a heading starts a line of its own; any other line break is wrapping.
_OWN_LINE = re.compile(rf"{_LIST_ITEM.pattern}|^#{{1,6}}\s")
# A fenced code block is one unit, kept verbatim: its lines are code, not sentences.
_FENCED_CODE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
PARAGRAPH, LINE, RUN_ON = "\n\n", "\n", " "
_BREAKS = (RUN_ON, LINE, PARAGRAPH)  # weakest first
# A passage's list numbers and headings ("1.", "Note:") would otherwise stand as sentences that support anything.
_MIN_PASSAGE_SENTENCE_CHARS = 12
_WORD = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+")
_MAX_TERSE_WORDS = 6
# Words that frame a terse answer without saying anything a passage would have to hold ("The answer is: 27").
# fmt: off
_FRAMING_WORDS = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "it", "its", "answer", "yes", "no", "and", "or",
    "at", "in", "on", "of", "by", "for", "to", "from", "about", "around",
})
# fmt: on


def split_sentences(text: str) -> list[str]:
    """Sentences, each on one line; a paragraph break ends a sentence, a single line break inside one is wrapping."""
    return [
        " ".join(sentence.split())
        for paragraph in _PARAGRAPH_BREAK.split(text)
        if paragraph.strip()
        for sentence in _segmenter().segment(" ".join(paragraph.split()))
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


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    opens: str = RUN_ON  # the break before it in the reply: RUN_ON, LINE (a list item, a heading) or PARAGRAPH
    code: bool = False  # a fenced code block, verbatim


def answer_sentences(answer: str) -> list[AnswerSentence]:
    """The sentences of a generated answer without their citation markers, each with the break that opens it; a
    one-word answer ("Paris [1].") counts, a fenced code block is one sentence."""
    return [
        sentence
        for sentence in _reply_sentences(answer)
        if sentence.code or any(character.isalnum() for character in sentence.text)
    ]


def _reply_sentences(answer: str) -> Iterator[AnswerSentence]:
    end = 0
    for block in _FENCED_CODE.finditer(answer):
        yield from _prose_sentences(answer[end : block.start()])
        yield AnswerSentence(block.group().strip("\n"), PARAGRAPH, code=True)
        end = block.end()
    yield from _prose_sentences(answer[end:])


def _prose_sentences(text: str) -> Iterator[AnswerSentence]:
    for paragraph in _PARAGRAPH_BREAK.split(text):
        lines: list[list[str]] = []
        for line in paragraph.strip().splitlines():
            if lines and not _OWN_LINE.match(line.strip()):
                lines[-1].append(line)
            else:
                lines.append([line])
        for number, line_group in enumerate(lines):
            for position, sentence in enumerate(split_sentences(" ".join(line_group))):
                opens = RUN_ON if position else LINE if number else PARAGRAPH
                yield AnswerSentence(without_markers(sentence), opens)


@dataclass(frozen=True)
class SupportedSentence:
    text: str
    passage_number: int  # 1-based, as in the prompt's [n] markers
    support: float
    opens: str = RUN_ON  # the strongest break between it and the kept sentence before it
    code: bool = False

    def cited(self) -> str:
        # A marker on a closing fence would stop it closing the block.
        return f"{self.text}\n[{self.passage_number}]" if self.code else f"{self.text} [{self.passage_number}]"


@dataclass(frozen=True)
class GroundedAnswer:
    sentences: list[SupportedSentence]
    dropped: int

    @property
    def text(self) -> str:
        return "".join((s.opens if i else "") + s.cited() for i, s in enumerate(self.sentences))

    @property
    def support(self) -> float:
        return min((s.support for s in self.sentences), default=0.0)


class GroundingCheck:
    def __init__(self, embedder: Embedder, min_support: float, max_sentences: int = 4) -> None:
        self._embedder = embedder
        self._min_support = min_support
        self._max_sentences = max_sentences

    def check(self, sentences: list[AnswerSentence], passages: list[ScoredChunk], question: str) -> GroundedAnswer:
        """`sentences` are the answer's, as `answer_sentences` gives them; `question` is what they answer."""
        answer_sentences = sentences[: self._max_sentences * 2]
        passage_sentences: list[tuple[int, str]] = [
            (number, sentence)
            for number, hit in enumerate(passages, start=1)
            for sentence in _passage_sentences(hit.chunk.text)
        ]
        if not answer_sentences or not passage_sentences:
            return GroundedAnswer(sentences=[], dropped=len(answer_sentences))
        vectors = self._embedder.embed([s.text for s in answer_sentences] + [s for _, s in passage_sentences])
        answers, evidence = vectors[: len(answer_sentences)], vectors[len(answer_sentences) :]
        similarity = answers @ evidence.T
        passage_texts = {
            number: _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group().lower()], hit.chunk.text)
            for number, hit in enumerate(passages, start=1)
        }
        passage_numbers = {number: _numbers(text) for number, text in passage_texts.items()}
        passage_words = {number: _words(text) for number, text in passage_texts.items()}
        passage_facts = {number: set(numbers) for number, numbers in passage_numbers.items()}
        for number, passage_sentence in passage_sentences:
            passage_facts[number] |= _names(passage_sentence)
        asked = _words(question) | _FRAMING_WORDS
        kept: list[SupportedSentence] = []
        seen: set[str] = set()
        opens = RUN_ON  # a dropped sentence's break still parts the kept ones around it
        for row, sentence in zip(similarity, answer_sentences, strict=True):
            opens = max(opens, sentence.opens, key=_BREAKS.index)
            best = int(np.argmax(row))
            said = " ".join(sentence.text.lower().split())
            if said in seen:  # small models loop: a sentence said again adds nothing
                continue
            seen.add(said)
            number = passage_sentences[best][0]
            if not (
                row[best] >= self._min_support
                and _numbers(_LIST_ITEM.sub("", sentence.text)) <= passage_numbers[number]
            ):
                number = 0 if sentence.code else _terse_source(sentence.text, asked, passage_words, passage_facts)
            if number and len(kept) < self._max_sentences:
                support = max(float(row[i]) for i, (cited, _) in enumerate(passage_sentences) if cited == number)
                kept.append(SupportedSentence(sentence.text, number, round(support, 4), opens, sentence.code))
                opens = RUN_ON
        return GroundedAnswer(sentences=kept, dropped=len(answer_sentences) - len(kept))


def _passage_sentences(text: str) -> list[str]:
    sentences = [s for s in split_sentences(text) if len(s) >= _MIN_PASSAGE_SENTENCE_CHARS]
    return sentences or [" ".join(text.split())]


def _terse_source(
    sentence: str, asked: set[str], passage_words: dict[int, set[str]], passage_facts: dict[int, set[str]]
) -> int:
    """The first passage holding every word a terse sentence adds to the question and its framing, one of them a
    number or a name there; 0 if none does, or if the sentence is not terse. Words alone prove nothing: "Yes, you
    can." or "Example:" take theirs from almost any passage, and a bare "Yes." adds none."""
    words = _WORD.findall(_LIST_ITEM.sub("", sentence).lower())
    added = _words(" ".join(words)) - asked
    if not added or len(words) > _MAX_TERSE_WORDS:
        return 0
    return next(
        (number for number, held in passage_words.items() if added <= held and added & passage_facts[number]), 0
    )


def _names(sentence: str) -> set[str]:
    """Lower-cased words a sentence writes with a capital, but for its first: names ("Paris", "Guido")."""
    return {word.lower() for word in _WORD.findall(_LIST_ITEM.sub("", sentence))[1:] if word[0].isupper()}


def _words(text: str) -> set[str]:
    """Lower-cased words and numbers, numbers as `_numbers` reads them."""
    words = {word for word in _WORD.findall(text.lower()) if not word[0].isdigit()}
    return words | _numbers(text)


def _numbers(text: str) -> set[str]:
    """The numbers in a text, thousands separators aside ("1,000" is 1000; "3.11" and "18:00" stay as they are)."""
    return {re.sub(r",(?=\d{3}\b)", "", number) for number in _NUMBER.findall(text)}
