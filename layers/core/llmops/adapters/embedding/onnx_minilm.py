"""all-MiniLM-L6-v2 in ONNX, run with onnxruntime: the default embedder in Lambda and locally."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"  # the packaged file: int8 weights, float32 products
INT8_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8-fused"  # int8 products (quantization.py)
MAX_SEQUENCE_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer input is truncated
DIMENSION = 384
# Tokens per batch, padding included: on one core, a batch of one 250-token chunk runs 15% faster per token than a
# batch of 32 (its attention stays in cache), while short texts still gain from batching a few together.
MAX_BATCH_TOKENS = 256
# onnxruntime would fuse each residual add into the LayerNormalization after it. Its fused SkipLayerNormalization
# kernel takes about 0.45 ms per call on 256 x 384 values on one core of the development machine (onnxruntime
# 1.31), where the Add and LayerNormalization it replaces take about 0.1 ms: leaving them apart made the float32
# model 7% faster and the int8 one 23% faster (an ad-hoc run of onnxruntime's profiler, 256-token inputs), with
# the same vectors (tests/unit/test_onnx_embedder.py).
UNFUSED = ["SkipLayerNormFusion"]


def _usable_cpus() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class OnnxMiniLmEmbedder:
    """`threads` (default: the cores this process may use) is how many batches run at once, one core each.

    Batches run side by side rather than each split over every core: a split operator waits for its slowest core,
    hundreds of times per batch, so one core taken by another process stalls them all. On a busy 2-core machine
    this, with batches of about MAX_BATCH_TOKENS tokens, embeds 1.6 times as fast as 2 threads on batches of 32,
    with the same vectors.
    """

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        batch_size: int = 32,
        threads: int | None = None,
        model_id: str = MODEL_ID,
    ) -> None:
        self._model_id = model_id
        self._batch_size = batch_size
        self._workers = max(1, threads or _usable_cpus())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._pool_lock = threading.Lock()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One session serves every worker thread: run() is thread-safe and releases the GIL.
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"], disabled_optimizers=UNFUSED
        )
        self._input_names = {node.name for node in self._session.get_inputs()}
        # One tokenizer counts chunk sizes (no truncation, so oversize text is visible), another feeds the model.
        self._counting_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._counting_tokenizer.no_truncation()
        self._counting_tokenizer.no_padding()
        self._model_tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._model_tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)
        self._model_tokenizer.no_padding()  # each batch is padded to its own longest text, with [PAD] (id 0)

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def tokenizer(self) -> Tokenizer:
        return self._counting_tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        encodings = self._model_tokenizer.encode_batch(list(texts))
        batches = self._batches([len(encoding.ids) for encoding in encodings])
        vectors = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for batch, batch_vectors in zip(batches, self._run_all(encodings, batches), strict=True):
            vectors[batch] = batch_vectors
        return vectors

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Text positions in batches of similar token length (padding is wasted work) and of about
        MAX_BATCH_TOKENS tokens: longer batches run slower per token, shorter ones are dominated by overhead."""
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        batches: list[list[int]] = []
        batch: list[int] = []
        for position in order:  # ascending, so the newest text sets the batch's padded width
            if batch and (len(batch) >= self._batch_size or (len(batch) + 1) * lengths[position] > MAX_BATCH_TOKENS):
                batches.append(batch)
                batch = []
            batch.append(position)
        batches.append(batch)
        return batches

    def _run_all(self, encodings: list[Encoding], batches: list[list[int]]) -> Iterable[NDArray[np.float32]]:
        def run(batch: list[int]) -> NDArray[np.float32]:
            return self._embed_batch([encodings[i] for i in batch])

        if len(batches) == 1 or self._workers == 1:
            return map(run, batches)
        return self._executor().map(run, batches)

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use, and made again in a forked child: threads do not survive a fork.
        if self._pool is None or self._pool_pid != os.getpid():
            with self._pool_lock:
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="onnx-embedder")
                    self._pool_pid = os.getpid()
        return self._pool

    def _embed_batch(self, encodings: list[Encoding]) -> NDArray[np.float32]:
        width = max(len(encoding.ids) for encoding in encodings)
        input_ids = np.zeros((len(encodings), width), dtype=np.int64)  # 0 is [PAD]
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        output = self._session.run(None, feeds)[0]
        if output.ndim == 3:  # token embeddings: mean-pool over real tokens, as sentence-transformers does
            mask = attention_mask[..., None].astype(np.float32)
            output = (output * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(output, axis=1, keepdims=True)
        return (output / np.clip(norms, 1e-12, None)).astype(np.float32)
