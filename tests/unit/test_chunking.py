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


_MIXED_TEXTS = {
    "accents": "Café crème brûlée, naïve façade, Ångström and Dvořák. ",
    "cjk": "東京は日本の首都です。 Tokyo is the capital. 한국어 텍스트도 있습니다. ",
    "controls": "Bell\x07 and file\x1cseparator, form\x0cfeed, a lost byte \ufffd here. ",
    "spaces": "Non\u00a0breaking\u2003em space,\ttab\r\nand\u3000ideographic space. ",
    "combining": "Decomposed e\u0301 and a\u0308 and stacked o\u0323\u0302 marks. ",
    "cases": "ΟΔΥΣΣΕΥΣ sailed; İstanbul, ǅemal, ﬁne ligatures and Ｆｕｌｌｗｉｄｔｈ letters. ",
    "plain": "Plain ASCII text about lighthouses, ferries and the tides (2 per day). ",
}


@pytest.mark.parametrize("name", sorted(_MIXED_TEXTS))
@pytest.mark.parametrize("markdown", [False, True])
def test_chunks_and_token_counts_are_those_of_the_models_own_tokenizer_whatever_the_characters(
    embedder: OnnxMiniLmEmbedder, name: str, markdown: bool
) -> None:
    """Plain text is split by a lighter twin of the tokenizer (lowercasing only): it must cut exactly where the
    model's own tokenizer would, and count the same tokens, so any character the full normalizer changes otherwise
    must send the text down the full path."""
    from semantic_text_splitter import MarkdownSplitter, TextSplitter

    text = "# Heading\n\n" + "\n\n".join(_MIXED_TEXTS["plain"] + _MIXED_TEXTS[name] * (i + 1) for i in range(30))
    kind = MarkdownSplitter if markdown else TextSplitter
    reference = kind.from_huggingface_tokenizer(embedder.tokenizer, 120 - 2, overlap=16)

    chunks = _chunker(embedder, 120, 16).chunk(
        ExtractedDocument(title="t", sections=[Section(text=text)]),
        document_id="d",
        source_key="k",
        version="v",
        markdown=markdown,
    )

    assert [chunk.text for chunk in chunks] == [piece for piece in reference.chunks(text) if piece.strip()]
    assert [chunk.token_count for chunk in chunks] == [len(embedder.tokenizer.encode(c.text).ids) for c in chunks]
    assert len(chunks) > 3
