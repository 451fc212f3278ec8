"""Embedding with a cache keyed by model and chunk content hash: re-ingesting unchanged text is nearly free."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from llmops.domain.chunking import content_hash
from llmops.ports import Embedder, EmbeddingCache

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class CachingEmbedder:
    """An Embedder that asks the cache first and embeds only the texts it has not seen with this model."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self._embedder = embedder
        self._cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dimension(self) -> int:
        return self._embedder.dimension

    @property
    def tokenizer(self) -> Tokenizer:
        return self._embedder.tokenizer

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        hashes = [content_hash(text) for text in texts]
        cached = self._cache.get_many(self.model_id, sorted(set(hashes)))
        missing = sorted({h: i for i, h in enumerate(hashes) if h not in cached}.items(), key=lambda item: item[1])
        if missing:
            fresh = self._embedder.embed([texts[index] for _, index in missing])
            computed = {h: fresh[row] for row, (h, _) in enumerate(missing)}
            self._cache.put_many(self.model_id, computed)
            cached.update(computed)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([cached[h] for h in hashes]).astype(np.float32)
