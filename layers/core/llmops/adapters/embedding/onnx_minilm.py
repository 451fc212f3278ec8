"""all-MiniLM-L6-v2 as int8 ONNX, run with onnxruntime: the default embedder in Lambda and locally."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"
MAX_SEQUENCE_TOKENS = 256  # the model's trained window; longer input is truncated, never silently mis-embedded
DIMENSION = 384


class OnnxMiniLmEmbedder:
    def __init__(
        self, model_path: Path, tokenizer_path: Path, batch_size: int = 32, threads: int | None = None
    ) -> None:
        self._batch_size = batch_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input_names = {node.name for node in self._session.get_inputs()}
        # One tokenizer counts chunk sizes (no truncation, so oversize text is visible), another feeds the model.
        self._counting_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._counting_tokenizer.no_truncation()
        self._counting_tokenizer.no_padding()
        self._model_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._model_tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)
        self._model_tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def tokenizer(self) -> Tokenizer:
        return self._counting_tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        # Sorting by length keeps padding, and so wasted work, small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            vectors[batch] = self._embed_batch([texts[i] for i in batch])
        return vectors

    def _embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        encodings = self._model_tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        output = self._session.run(None, feeds)[0]
        if output.ndim == 3:  # token embeddings: mean-pool over real tokens, as sentence-transformers does
            mask = attention_mask[..., None].astype(np.float32)
            output = (output * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        return (output / np.clip(norms, 1e-12, None)).astype(np.float32)
