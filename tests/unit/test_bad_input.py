"""Documents that cannot be ingested as they are: each must fail with the reason a user can act on."""

from __future__ import annotations

import pytest

from llmops.adapters.embedding.onnx_minilm import MAX_SEQUENCE_TOKENS, OnnxMiniLmEmbedder
from llmops.domain.chunking import Chunker
from llmops.domain.errors import DocumentRejected
from llmops.domain.extraction import extract
from llmops.domain.ingestion import IngestionLimits, IngestionService
from llmops.domain.models import DocumentRef, DocumentStatus
from tests.bad_documents import BAD_INPUTS, PREFIX, BadInput
from tests.fakes import FakeDocumentRegistry, FakeObjectStore, FakeVectorIndex


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda bad: bad.name)
def test_given_a_bad_document_when_extracted_then_it_is_rejected_with_its_precise_reason(bad: BadInput) -> None:
    with pytest.raises(DocumentRejected) as rejection:
        extract(bad.body, bad.key)

    assert type(rejection.value) is bad.error
    assert bad.matches(str(rejection.value)), str(rejection.value)


def test_given_a_batch_of_bad_documents_when_ingested_then_each_ends_failed_with_its_reason_and_nothing_is_indexed(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    store = FakeObjectStore({bad.key: bad.body for bad in BAD_INPUTS})
    index, registry = FakeVectorIndex(), FakeDocumentRegistry()
    service = IngestionService(
        store=store,
        embedder=embedder,
        index=index,
        registry=registry,
        chunker=Chunker(embedder.tokenizer, 250, 32, embedder.model_id),
        limits=IngestionLimits(max_object_bytes=10_000_000, max_chunks_per_document=1000),
    )

    results = [(bad, service.ingest(DocumentRef(bucket="docs", key=bad.key, version_id="v1"))) for bad in BAD_INPUTS]

    not_failed_as_expected = {
        bad.name: (result.status, result.reason)
        for bad, result in results
        if result.status is not DocumentStatus.FAILED or not bad.matches(result.reason or "")
    }
    assert not_failed_as_expected == {}
    assert all(registry.last(bad.key) == (DocumentStatus.FAILED, result.reason) for bad, result in results)
    assert index.rows == []


def test_given_a_huge_single_line_text_then_it_is_kept_whole_and_chunked_to_the_model_window(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    line = " ".join(f"Reading {n}: the tide rose {n % 7} cm past the mark." for n in range(6000))
    assert "\n" not in line and len(line) > 250_000

    document = extract(line.encode(), PREFIX + "one-line.txt")
    chunks = Chunker(embedder.tokenizer, 250, 32, embedder.model_id).chunk(
        document, document_id="d", source_key=PREFIX + "one-line.txt", version="v1"
    )

    assert [section.text for section in document.sections] == [line]
    assert len(chunks) > 100
    assert all(len(embedder.tokenizer.encode(chunk.text).ids) <= MAX_SEQUENCE_TOKENS for chunk in chunks)
    assert chunks[0].text.startswith("Reading 0:") and chunks[-1].text.endswith(
        "Reading 5999: the tide rose 0 cm past the mark."
    )
