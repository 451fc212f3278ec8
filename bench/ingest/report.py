"""Figures, targets and the Markdown table of one benchmark run."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

OURS, MODEL, NAIVE = "ours", "model", "naive"
LABELS = {
    OURS: "(a) ours: IngestionService → LanceDB",
    MODEL: "(b) embedding model alone, same chunks",
    NAIVE: "(c) naive: LangChain 1000/200 + SentenceTransformer, 2 rows per add",
}
# (a) must reach this multiple of the other pipeline's throughput.
TARGETS = {MODEL: 0.8, NAIVE: 3.0}


@dataclass
class PipelineFigures:
    documents: int
    chunks: int
    tokens: int
    seconds: list[float] = field(default_factory=list)  # one total per repeat
    writes: list[int] = field(default_factory=list)
    stages: list[dict[str, float]] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_repeat(self) -> int:
        """The repeat whose time is the median (the lower middle one when their number is even)."""
        ordered = sorted(range(len(self.seconds)), key=self.seconds.__getitem__)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.median_seconds

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.median_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "median_seconds": self.median_seconds,
            "documents_per_second": self.documents_per_second,
            "tokens_per_second": self.tokens_per_second,
        }


@dataclass
class Ratio:
    """(a)'s throughput over another pipeline's: each repeat's ratio (both measured in that repeat), then the
    median over repeats; and the median over every block of every repeat."""

    other: str
    documents_per_second: float
    tokens_per_second: float
    block_median: float
    target: float
    per_repeat_tokens_per_second: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every way of comparing must reach the target: a noise burst during one pipeline cannot make a pass."""
        return min(self.documents_per_second, self.tokens_per_second, self.block_median) >= self.target


def ratios(figures: dict[str, PipelineFigures], block_ratios: dict[str, list[float]]) -> list[Ratio]:
    ours = figures[OURS]
    results = []
    for other, target in TARGETS.items():
        theirs = figures[other]
        documents = [t / o for o, t in zip(ours.seconds, theirs.seconds, strict=True)]  # the same documents
        tokens = [ratio * ours.tokens / theirs.tokens for ratio in documents]
        results.append(
            Ratio(
                other=other,
                documents_per_second=statistics.median(documents),
                tokens_per_second=statistics.median(tokens),
                block_median=statistics.median(block_ratios[other]),
                target=target,
                per_repeat_tokens_per_second=tokens,
            )
        )
    return results


def _stages(figure: PipelineFigures, rest_label: str) -> str:
    stages = figure.stages[figure.median_repeat]
    rest = figure.seconds[figure.median_repeat] - sum(stages.values())
    parts = [f"{name} {seconds:.1f} s" for name, seconds in sorted(stages.items())]
    return ", ".join([*parts, f"{rest_label} {rest:.1f} s"])


def markdown(summary: dict[str, Any], figures: dict[str, PipelineFigures], results: list[Ratio]) -> str:
    corpus = summary["corpus"]
    repeats = summary["repeats"]
    machine = summary["machine"]
    lines = [
        f"### Ingestion benchmark: {corpus['documents']} documents, {corpus['html_mb']:.2f} MB of HTML "
        f"({corpus['text_mb']:.2f} MB of extracted text), median of {repeats} repeat(s)",
        "",
        "| pipeline | documents | chunks | tokens | seconds | documents/s | tokens/s | store write calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figure in figures.items():
        lines.append(
            f"| {LABELS[name]} | {figure.documents} | {figure.chunks} | {figure.tokens:,} | "
            f"{figure.median_seconds:.1f} | {figure.documents_per_second:.3f} | {figure.tokens_per_second:,.0f} | "
            f"{statistics.median(figure.writes):.0f} |"
        )
    lines += [
        "",
        "| ratio, median over repeats | documents/s | tokens/s | tokens/s, median over blocks | target | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for ratio in results:
        lines.append(
            f"| (a)/{LABELS[ratio.other][:3]} | {ratio.documents_per_second:.2f} | {ratio.tokens_per_second:.2f} | "
            f"{ratio.block_median:.2f} | ≥ {ratio.target:g} | {'PASS' if ratio.passed else 'FAIL'} |"
        )
    lines += [
        "",
        f"- our embedder (a, b): `{summary['settings']['embedder']}`; (c): sentence-transformers all-MiniLM-L6-v2 "
        "in float32 (PyTorch).",
        "- store write calls: commits to the LanceDB table (table versions): (a) one add() per document, a delete() "
        "only where older chunks of the document exist (none here: every document is new), its table's creation "
        "and index upkeep; (c) one add() per 2 chunks.",
        f"- tokens: MiniLM word pieces of every text handed to the embedder, without [CLS]/[SEP], untruncated; "
        f"(c) loses {summary['naive_truncated_tokens']:,} of its tokens to the model's 256-piece window.",
        "- where the time goes, median repeat: (a) "
        + _stages(figures[OURS], "read + extract + split/chunk not overlapped with embedding")
        + f"; (c) {_stages(figures[NAIVE], 'read + extract + split/chunk')}.",
        f"- the three take the corpus in batches of {summary['settings']['batch_size']} documents (the ingest "
        "function's SQS BatchSize in template.yaml), side by side, the order rotating from one batch to the next "
        "with (c) first; within a batch (a) reads, extracts and chunks the next document in the background while "
        "it embeds the current one, as the ingest function does; models are loaded and warmed up before timing; "
        "(b) embeds per document, as (a) does. A ratio passes only when all three of its figures reach the target.",
        f"- machine: {machine['cpus']} CPUs ({machine['cpu_model']}), load average {machine['load_before']:.2f} "
        f"before and {machine['load_after']:.2f} after; (c) runs torch's default of {machine['torch_threads']} "
        "threads per batch, (a) and (b) one batch per core.",
    ]
    return "\n".join(lines) + "\n"
