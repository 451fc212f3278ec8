from __future__ import annotations

import pytest

from llmops.adapters.embedding.onnx_minilm import MAX_SEQUENCE_TOKENS, OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.errors import DocumentTooLarge
from llmops.domain.models import ExtractedDocument, Section

LONG_TEXT = " ".join(
    f"Sentence number {i} talks about tokenizers, embeddings and the retrieval of passages." for i in range(400)
)


def _chunker(embedder: OnnxMiniLmEmbedder, max_tokens: int = 250, overlap: int = 32) -> Chunker:
    return Chunker(embedder.tokenizer, max_tokens, overlap, embedder.model_id)


def test_given_long_text_when_chunked_then_every_chunk_fits_the_model_window(embedder: OnnxMiniLmEmbedder) -> None:
    chunks = _chunker(embedder).chunk(
        ExtractedDocument(title="t", sections=[Section(text=LONG_TEXT)]),
        document_id="d",
        source_key="documents/long.txt",
        version="v1",
    )

    assert len(chunks) > 5
    # Measured with special tokens, as the model sees them.
    assert all(len(embedder.tokenizer.encode(c.text).ids) <= MAX_SEQUENCE_TOKENS for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.embedding_model == embedder.model_id and c.version == "v1" for c in chunks)


def test_given_pages_when_chunked_then_chunks_keep_their_page(embedder: OnnxMiniLmEmbedder) -> None:
    document = ExtractedDocument(
        title="t", sections=[Section(text="Alpha text.", page=1), Section(text="Beta.", page=2)]
    )

    chunks = _chunker(embedder).chunk(document, document_id="d", source_key="k", version="v")

    assert [(c.page, c.text) for c in chunks] == [(1, "Alpha text."), (2, "Beta.")]


def test_given_identical_text_then_content_hash_is_identical(embedder: OnnxMiniLmEmbedder) -> None:
    document = ExtractedDocument(title="t", sections=[Section(text="Same."), Section(text="Same.")])

    first, second = _chunker(embedder).chunk(document, document_id="d", source_key="k", version="v")

    assert first.content_hash == second.content_hash


def test_given_a_chunk_limit_when_exceeded_then_the_document_is_rejected(embedder: OnnxMiniLmEmbedder) -> None:
    with pytest.raises(DocumentTooLarge, match="MAX_CHUNKS_PER_DOCUMENT"):
        _chunker(embedder).chunk(
            ExtractedDocument(title="t", sections=[Section(text=LONG_TEXT)]),
            document_id="d",
            source_key="k",
            version="v",
            max_chunks=3,
        )


def test_overlap_must_be_smaller_than_chunk(embedder: OnnxMiniLmEmbedder) -> None:
    with pytest.raises(ValueError, match="overlap"):
        _chunker(embedder, max_tokens=50, overlap=50)
