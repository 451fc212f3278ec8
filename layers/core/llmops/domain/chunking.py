"""Chunking sized by the embedding model's own tokenizer, so no chunk is cut from its vector."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from semantic_text_splitter import MarkdownSplitter, TextSplitter

from llmops.domain.errors import DocumentTooLarge
from llmops.domain.models import Chunk, ExtractedDocument, Section

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# [CLS] and [SEP] take two places of the model's window; the splitter counts only the text's own tokens.
_SPECIAL_TOKENS = 2


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Chunker:
    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int, embedding_model: str) -> None:
        if overlap_tokens >= max_tokens:
            raise ValueError(f"chunk overlap ({overlap_tokens}) must be smaller than the chunk size ({max_tokens})")
        self._tokenizer = tokenizer
        self._embedding_model = embedding_model
        self.signature = f"semantic-text-splitter/{max_tokens}/{overlap_tokens}"
        capacity = max_tokens - _SPECIAL_TOKENS
        overlap = min(overlap_tokens, capacity // 2)
        self._text_splitter = TextSplitter.from_huggingface_tokenizer(tokenizer, capacity, overlap=overlap)
        self._markdown_splitter = MarkdownSplitter.from_huggingface_tokenizer(tokenizer, capacity, overlap=overlap)

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
        splitter = self._markdown_splitter if markdown else self._text_splitter
        chunks: list[Chunk] = []
        for section, text in self._pieces(document, splitter):
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
                    token_count=len(self._tokenizer.encode(text).ids),
                    embedding_model=self._embedding_model,
                    tags=list(tags),
                    revision=revision,
                )
            )
        return chunks

    @staticmethod
    def _pieces(
        document: ExtractedDocument, splitter: TextSplitter | MarkdownSplitter
    ) -> Iterator[tuple[Section, str]]:
        # Each section is split on its own, so a chunk never spans two pages or two records.
        for section in document.sections:
            for text in splitter.chunks(section.text):
                if text.strip():
                    yield section, text
