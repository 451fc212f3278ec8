"""What the local LanceDB adapter costs per search, and what folding new rows into its full-text index would cost.

Run from the repository root: `PYTHONPATH=.:layers/core .venv/bin/python -m bench.lancedb_costs` (about 5 minutes
on 2 cores with the default 10 repeats; `--repeats 3` about 2; `--writes` adds about 4). Needs Debian's
python3.11-doc (the quality benchmark's Python FAQ, and for `--writes` the library pages that `make bench-ingest`
reads) and the packaged ONNX MiniLM.

Reads: the FAQ's 171 answers are chunked, embedded and indexed as the quality benchmark does (bench/quality/measure.py
`build_index`: 261 chunks, folded into the full-text index), and each question is searched through the adapter and
through `FullRowReads`, a copy of the adapter's read path before searches named the columns they read back (then
every column came back, the 384-float `vector` and `fts_text` included, and each text search listed the table's
indexes and read its schema). The two run interleaved, in alternating order, in the same process on the same table,
and must return the same results. Modes, as the Retriever calls the index (domain/retrieval.py): `vector` is
`search` of 10; `text` is `text_search` of 10 with the query vector (for similarities); `hybrid` is `search` and
`text_search` of 100 each (the candidate pool up to top_k 25); `hybrid, filtered` adds a key prefix filter (a
prefiltered count, then a post-filtered over-fetch of at least 200). Printed: the median milliseconds of each path
over every question and repeat, the ratio of those medians, and the median of the per-call ratios.

`--writes`: the full-text index holds the rows written up to its last build or `optimize`, and a search scans those
written since. LanceDB scores the rows it scans with the statistics of the whole table (the index's plus theirs), and
the rows the index holds with the index's own, as of its last build or optimize; `optimize` makes them agree.
Measured on the FAQ (half folded, half written since) and on library pages folded with the FAQ written since (random
vectors for the library rows: text search does not read them): how much the scores and rankings of the questions'
text searches change when `optimize` folds the rows in. Then the cost per write of folding after every write, on a
table written one document at a time as ingestion writes it (`replace_document`: each write adds a table version):
the write alone, followed by `optimize()`, or followed by a rebuild of the full-text index
(`create_index(..., replace=True)`). Medians over 30 writes, each variant on its own copy of the table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from lancedb.index import FTS
from numpy.typing import NDArray

from bench.ingest.corpus import DEFAULT_CORPUS_DIR, select_corpus
from bench.quality.faq import load_faq
from bench.quality.measure import build_index, faq_documents
from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
from llmops.adapters.local import lancedb_index
from llmops.adapters.local.lancedb_index import LanceDbVectorIndex
from llmops.composition import build_chunker, build_embedder
from llmops.domain.extraction import extract
from llmops.domain.models import (
    Chunk,
    ScoredChunk,
    SearchFilters,
    TextMatch,
)
from llmops.settings import Settings

FILTER = SearchFilters(prefix="faq/programming/")


class FullRowReads(LanceDbVectorIndex):
    """The adapter's read path as it was before searches named their columns (a copy, for comparison)."""

    def search(self, vector: NDArray[np.float32], k: int, filters: SearchFilters | None = None) -> list[ScoredChunk]:
        table = self._readable()
        if table is None or _old_unanswerable(table, filters):
            return []
        query = table.search(np.asarray(vector, dtype=np.float32)).distance_type("cosine")
        rows = lancedb_index._filtered(query, filters).limit(k).to_list()
        return [ScoredChunk(chunk=lancedb_index._chunk(row), score=1.0 - float(row["_distance"])) for row in rows]

    def text_search(
        self,
        text: str,
        k: int,
        filters: SearchFilters | None = None,
        query_vector: NDArray[np.float32] | None = None,
    ) -> list[TextMatch]:
        table = self._readable()
        if table is None or not text.strip() or _old_unanswerable(table, filters):
            return []
        if "fts_text" in table.schema.names:
            column, text = "fts_text", lancedb_index._fts_text(text)
        else:
            column = "text"
        if not any(i.index_type == "FTS" and list(i.columns) == [column] for i in table.list_indices()):
            table.create_index(column, config=FTS(with_position=False))
        rows = _old_text_rows(table, text, k, lancedb_index._where(filters), column)
        return [
            TextMatch(
                chunk=lancedb_index._chunk(row),
                score=float(row["_score"]),
                similarity=None if query_vector is None else float(np.dot(row["vector"], query_vector)),
            )
            for row in rows
        ]


def _old_unanswerable(table: Any, filters: SearchFilters | None) -> bool:
    return bool(filters and filters.tags) and "tags" not in table.schema.names


def _old_text_rows(table: Any, text: str, k: int, condition: str | None, column: str) -> list[dict[str, Any]]:
    def matches(limit: int, prefilter: bool | None = None) -> list[dict[str, Any]]:
        query = table.search(text, query_type="fts", fts_columns=column)
        if prefilter is not None and condition is not None:
            query = query.where(condition, prefilter=prefilter)
        return list(query.limit(limit).to_list())

    if condition is None:
        return matches(k)
    wanted = len(matches(k, prefilter=True))
    limit, total = max(k, lancedb_index._MIN_OVERFETCH), int(table.count_rows())
    while True:
        rows = matches(limit, prefilter=False)
        if len(rows) >= wanted or limit >= total:
            return rows[:k]
        limit *= 4


Mode = Callable[[LanceDbVectorIndex, str, NDArray[np.float32]], object]
MODES: dict[str, Mode] = {
    "vector": lambda index, q, v: index.search(v, 10),
    "text": lambda index, q, v: index.text_search(q, 10, query_vector=v),
    "hybrid": lambda index, q, v: (index.search(v, 100), index.text_search(q, 100, query_vector=v)),
    "hybrid, filtered": lambda index, q, v: (
        index.search(v, 100, FILTER),
        index.text_search(q, 100, FILTER, query_vector=v),
    ),
}


def reads(embedder: OnnxMiniLmEmbedder, repeats: int) -> None:
    pairs = load_faq()
    questions = [pair.question for pair in pairs]
    vectors = embedder.embed(questions)
    with tempfile.TemporaryDirectory(prefix="lancedb-reads-") as folder:
        build_index(pairs, Path(folder), embedder)
        paths = {"before": FullRowReads(folder, "faq"), "now": LanceDbVectorIndex(folder, "faq")}
        print(f"{paths['now'].count()} chunks of {len(pairs)} FAQ answers, {len(questions)} questions")
        for name, mode in MODES.items():
            for question, vector in zip(questions, vectors, strict=True):
                assert mode(paths["now"], question, vector) == mode(paths["before"], question, vector), (name, question)
        seconds: dict[tuple[str, str], list[float]] = {(m, p): [] for m in MODES for p in paths}
        for repeat in range(repeats):
            order = list(paths) if repeat % 2 == 0 else list(reversed(paths))
            for question, vector in zip(questions, vectors, strict=True):
                for name, mode in MODES.items():
                    for path in order:
                        started = time.perf_counter()
                        mode(paths[path], question, vector)
                        seconds[name, path].append(time.perf_counter() - started)
    print(f"median ms over {len(questions)} questions x {repeats} repeats (same results from both paths)")
    print(f"{'mode':18} {'before':>8} {'now':>8} {'now/before':>11} {'median of per-call ratios':>26}")
    for name in MODES:
        before, now = seconds[name, "before"], seconds[name, "now"]
        paired = statistics.median(n / b for n, b in zip(now, before, strict=True))
        ratio = statistics.median(now) / statistics.median(before)
        line = f"{statistics.median(before) * 1000:8.2f} {statistics.median(now) * 1000:8.2f} {ratio:11.2f}"
        print(f"{name:18} {line} {paired:26.2f}")


def _library_documents(embedder: OnnxMiniLmEmbedder, mb: float) -> list[tuple[list[Chunk], NDArray[np.float32]]]:
    chunker = build_chunker(Settings(), embedder)
    random = np.random.default_rng(0)
    documents = []
    for document in select_corpus(DEFAULT_CORPUS_DIR, mb):
        extracted = extract(document.path.read_bytes(), document.key)
        chunks = chunker.chunk(extracted, document_id=document.key, source_key=document.key, version="1")
        if chunks:
            vectors = random.standard_normal((len(chunks), embedder.dimension)).astype(np.float32)
            documents.append((chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)))
    return documents


def _write(index: LanceDbVectorIndex, documents: Sequence[tuple[list[Chunk], NDArray[np.float32]]]) -> None:
    for chunks, vectors in documents:
        index.replace_document(chunks[0].document_id, chunks, vectors)


def _split_statistics(label: str, folded: Sequence[Any], since: Sequence[Any], questions: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="lancedb-split-") as folder:
        index = LanceDbVectorIndex(folder)
        index.ensure_index(384)
        _write(index, folded)
        index.optimize()
        _write(index, since)  # fewer rows than the adapter folds in by itself

        def searched() -> list[list[tuple[tuple[str, int], float]]]:
            return [
                [((m.chunk.document_id, m.chunk.position), m.score) for m in index.text_search(q, 10)]
                for q in questions
            ]

        before = searched()
        index.optimize()
        after = searched()
    written_since = {(c.document_id, c.position) for chunks, _ in since for c in chunks}
    change: dict[bool, list[float]] = {True: [], False: []}
    for found, refound in zip(before, after, strict=True):
        scores = dict(refound)
        for key, score in found:
            if key in scores:
                change[key in written_since].append(abs(score / scores[key] - 1))
    reordered = sum([k for k, _ in b] != [k for k, _ in a] for b, a in zip(before, after, strict=True))
    new_first = sum(bool(b) and bool(a) and b[0][0] != a[0][0] for b, a in zip(before, after, strict=True))

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):.1%}, max {max(values):.1%}" if values else "none found"

    print(f"{label}: folding them in by optimize() reorders the top 10 of {reordered} of {len(questions)} questions")
    print(f"  and changes the first result of {new_first}; relative score change of the rows found:")
    print(f"  rows folded earlier {spread(change[False])}; rows written since {spread(change[True])}")


def _fold_cost(base: Path, label: str, fold: Callable[[Any], None], writes: Sequence[Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="lancedb-fold-") as folder:
        shutil.copytree(base, Path(folder) / "copy")
        index = LanceDbVectorIndex(Path(folder) / "copy")
        index.ensure_index(384)
        table = index._opened()
        versions = len(table.list_versions())
        write_s, fold_s = [], []
        for chunks, vectors in writes:
            started = time.perf_counter()
            index.replace_document(chunks[0].document_id, chunks, vectors)
            written = time.perf_counter()
            fold(table)
            write_s.append(written - started)
            fold_s.append(time.perf_counter() - written)
        rows = table.count_rows()
    total = [w + f for w, f in zip(write_s, fold_s, strict=True)]
    write_ms, fold_ms, total_ms = (statistics.median(s) * 1000 for s in (write_s, fold_s, total))
    print(
        f"  {label:34} write {write_ms:7.1f} ms, then fold {fold_ms:7.1f} ms, total {total_ms:7.1f} ms"
        f" ({rows} rows, {versions} versions at the start)"
    )


def writes(embedder: OnnxMiniLmEmbedder, library_mb: float) -> None:
    faq = faq_documents(load_faq(), embedder)
    library = _library_documents(embedder, library_mb)
    questions = [pair.question for pair in load_faq()]
    half = len(faq) // 2
    _split_statistics(f"FAQ: {half} answers folded, {len(faq) - half} written since", faq[:half], faq[half:], questions)
    library_rows = sum(len(chunks) for chunks, _ in library)
    _split_statistics(
        f"{library_rows} library chunks folded, the {len(faq)} FAQ answers written since", library, faq, questions
    )
    renamed = [
        ([c.model_copy(update={"document_id": f"{c.document_id}-again"}) for c in chunks], vectors)
        for chunks, vectors in faq[:30]
    ]
    with tempfile.TemporaryDirectory(prefix="lancedb-table-") as folder:
        index = LanceDbVectorIndex(folder)
        index.ensure_index(384)
        _write(index, [*library, *faq])
        index.optimize()
        print(f"cost per write of folding after every write (medians of {len(renamed)} writes of one FAQ answer):")
        _fold_cost(Path(folder), "write alone (as now)", lambda table: None, renamed)
        _fold_cost(Path(folder), "write, then optimize()", lambda table: table.optimize(), renamed)
        _fold_cost(
            Path(folder),
            "write, then rebuild the FTS index",
            lambda table: table.create_index("fts_text", config=FTS(with_position=False), replace=True),
            renamed,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=10, help="times each question is searched (default 10)")
    parser.add_argument("--writes", action="store_true", help="also measure split statistics and folding costs")
    parser.add_argument("--library-mb", type=float, default=12.0, help="library pages for --writes (default 12 MB)")
    args = parser.parse_args()
    embedder = build_embedder(Settings(EMBEDDING_PROVIDER="onnx"))
    assert isinstance(embedder, OnnxMiniLmEmbedder)
    reads(embedder, args.repeats)
    if args.writes:
        writes(embedder, args.library_mb)


if __name__ == "__main__":
    main()
