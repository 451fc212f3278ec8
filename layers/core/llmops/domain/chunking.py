"""Chunking sized by the embedding model's own tokenizer, so no chunk is cut from its vector."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from semantic_text_splitter import MarkdownSplitter, TextSplitter
from tokenizers import Tokenizer, normalizers

from llmops.domain.errors import DocumentTooLarge
from llmops.domain.models import Chunk, ExtractedDocument, Section

if TYPE_CHECKING:
    from tokenizers.normalizers import Normalizer

# [CLS] and [SEP] take two places of the model's window; the splitter counts only the text's own tokens.
_SPECIAL_TOKENS = 2
_LOWERCASE = normalizers.Lowercase()


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _lowercasing_twin(tokenizer: Tokenizer) -> Tokenizer | None:
    """The tokenizer with its BERT normalizer replaced by lowercasing alone; None for any other kind of tokenizer.

    The BERT normalizer removes control characters, turns whitespace into spaces, spaces out CJK characters and
    strips accents (Unicode decomposition) before lowercasing. On text where all but the lowercasing leave every
    character as it is, bar whitespace (which the BERT pre-tokenizer splits on either way), the twin gives the
    same tokens, and the splitter, which tokenizes every candidate chunk, runs about a third faster.
    """
    config = json.loads(tokenizer.to_str())
    normalizer, pre_tokenizer = config.get("normalizer") or {}, config.get("pre_tokenizer") or {}
    if (normalizer.get("type"), pre_tokenizer.get("type")) != ("BertNormalizer", "BertPreTokenizer"):
        return None
    if not normalizer.get("lowercase"):
        return None
    twin = Tokenizer.from_str(tokenizer.to_str())
    twin.normalizer = _LOWERCASE
    return twin


class _Splitters:
    """The text and Markdown splitters sized by one tokenizer, each made on first use: making one takes about 30 ms,
    which a function's cold start need not pay for a kind of document it may never see."""

    def __init__(self, tokenizer: Tokenizer, capacity: int, overlap: int) -> None:
        self.tokenizer = tokenizer
        self._capacity = capacity
        self._overlap = overlap

    @cached_property
    def text(self) -> TextSplitter:
        return TextSplitter.from_huggingface_tokenizer(self.tokenizer, self._capacity, overlap=self._overlap)

    @cached_property
    def markdown(self) -> MarkdownSplitter:
        return MarkdownSplitter.from_huggingface_tokenizer(self.tokenizer, self._capacity, overlap=self._overlap)


class Chunker:
    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int, embedding_model: str) -> None:
        if overlap_tokens >= max_tokens:
            raise ValueError(f"chunk overlap ({overlap_tokens}) must be smaller than the chunk size ({max_tokens})")
        self._embedding_model = embedding_model
        self.signature = f"semantic-text-splitter/{max_tokens}/{overlap_tokens}"
        capacity = max_tokens - _SPECIAL_TOKENS
        overlap = min(overlap_tokens, capacity // 2)
        self._capacity, self._overlap = capacity, overlap
        self._full = _Splitters(tokenizer, capacity, overlap)
        self._normalizer: Normalizer | None = tokenizer.normalizer
        self._only_lowercased: dict[str, bool] = {}  # per character, as text comes

    @cached_property
    def _light(self) -> _Splitters | None:
        """Splitters for text whose every character the full normalizer only lowercases: the lighter twin."""
        twin = _lowercasing_twin(self._full.tokenizer)
        return _Splitters(twin, self._capacity, self._overlap) if twin is not None else None

    def chunk(
        self,
        document: ExtractedDocument,
        *,
        document_id: str,
        source_key: str,
        version: str,
        markdown: bool = False,
        max_chunks: int | None = None,
        tags: Sequence[str] = (),
        revision: str = "",
    ) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section, text, tokenizer in self._pieces(document, markdown):
            if max_chunks is not None and len(chunks) >= max_chunks:
                raise DocumentTooLarge(
                    f"{source_key} yields more than {max_chunks} chunks (MAX_CHUNKS_PER_DOCUMENT); split the document"
                )
            chunks.append(
                Chunk(
                    document_id=document_id,
                    source_key=source_key,
                    version=version,
                    title=document.title,
                    position=len(chunks),
                    page=section.page,
                    section=section.label,
                    text=text,
                    content_hash=content_hash(text),
                    token_count=len(tokenizer.encode(text).ids),
                    embedding_model=self._embedding_model,
                    tags=list(tags),
                    revision=revision,
                )
            )
        return chunks

    def _pieces(self, document: ExtractedDocument, markdown: bool) -> Iterator[tuple[Section, str, Tokenizer]]:
        # Each section is split on its own, so a chunk never spans two pages or two records.
        for section in document.sections:
            splitters = self._splitters_for(section.text)
            splitter = splitters.markdown if markdown else splitters.text
            for text in splitter.chunks(section.text):
                if text.strip():
                    yield section, text, splitters.tokenizer

    def _splitters_for(self, text: str) -> _Splitters:
        if all(self._lowercase_only(character) for character in set(text)) and (light := self._light) is not None:
            return light
        return self._full

    def _lowercase_only(self, character: str) -> bool:
        """Whether the full normalizer leaves `character` as lowercasing alone does (whitespace aside)."""
        known = self._only_lowercased.get(character)
        if known is None:
            if character in " \t\n\r" or unicodedata.category(character) == "Zs":
                known = True  # BERT's normalizer makes it a space; its pre-tokenizer splits on it either way
            else:
                # A combining character could be reordered against its neighbours by the full normalizer.
                known = (
                    self._normalizer is not None
                    and unicodedata.combining(character) == 0
                    and self._normalizer.normalize_str(character) == _LOWERCASE.normalize_str(character)
                )
            self._only_lowercased[character] = known
        return known
