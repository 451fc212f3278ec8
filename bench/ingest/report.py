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


@dataclass(frozen=True)
class TokenCount:
    """MiniLM word pieces, [CLS] and [SEP] aside: of the texts handed to an embedder, and of those the ones its
    model read. Both models read at most 254 pieces of a text (pipelines.MODEL_WINDOW) and drop the rest without a
    word, so tokens/s counts what was embedded: counting the dropped pieces would reward losing text."""

    handed_in: int
    embedded: int

    def __add__(self, other: TokenCount) -> TokenCount:
        return TokenCount(self.handed_in + other.handed_in, self.embedded + other.embedded)

    @property
    def truncated(self) -> int:
        return self.handed_in - self.embedded


NO_TOKENS = TokenCount(0, 0)


@dataclass
class PipelineFigures:
    documents: int
    chunks: int
    tokens: TokenCount
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
        return self.tokens.embedded / self.median_seconds

    @property
    def handed_in_tokens_per_second(self) -> float:
        return self.tokens.handed_in / self.median_seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "median_seconds": self.median_seconds,
            "documents_per_second": self.documents_per_second,
            "tokens_per_second": self.tokens_per_second,
            "handed_in_tokens_per_second": self.handed_in_tokens_per_second,
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
    handed_in_tokens_per_second: float  # shown, not judged: credits the other pipeline with text it dropped
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
        tokens = [ratio * ours.tokens.embedded / theirs.tokens.embedded for ratio in documents]
        handed_in = [ratio * ours.tokens.handed_in / theirs.tokens.handed_in for ratio in documents]
        results.append(
            Ratio(
                other=other,
                documents_per_second=statistics.median(documents),
                tokens_per_second=statistics.median(tokens),
                block_median=statistics.median(block_ratios[other]),
                target=target,
                handed_in_tokens_per_second=statistics.median(handed_in),
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
        "| pipeline | documents | chunks | tokens embedded | tokens cut off | seconds | documents/s | tokens/s "
        "| store write calls |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figure in figures.items():
        lines.append(
            f"| {LABELS[name]} | {figure.documents} | {figure.chunks} | {figure.tokens.embedded:,} | "
            f"{figure.tokens.truncated:,} | "
            f"{figure.median_seconds:.1f} | {figure.documents_per_second:.3f} | {figure.tokens_per_second:,.0f} | "
            f"{statistics.median(figure.writes):.0f} |"
        )
    lines += [
        "",
        "| ratio, median over repeats | documents/s | tokens/s | tokens/s, median over blocks | target | result "
        "| tokens/s counting cut-off tokens (not judged) |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for ratio in results:
        lines.append(
            f"| (a)/{LABELS[ratio.other][:3]} | {ratio.documents_per_second:.2f} | {ratio.tokens_per_second:.2f} | "
            f"{ratio.block_median:.2f} | ≥ {ratio.target:g} | {'PASS' if ratio.passed else 'FAIL'} | "
            f"{ratio.handed_in_tokens_per_second:.2f} |"
        )
    lines += [
        "",
        f"- our embedder (a, b): `{summary['settings']['embedder']}`; (c): sentence-transformers all-MiniLM-L6-v2 "
        "in float32 (PyTorch).",
        "- store write calls: commits to the LanceDB table (table versions): (a) one add() per document, a delete() "
        "only where older chunks of the document exist (none here: every document is new), its table's creation "
        "and index upkeep; (c) one add() per 2 chunks.",
        "- tokens: MiniLM word pieces, without [CLS]/[SEP], that the model read: of every text handed to the "
        "embedder, at most the 254 its 256-piece window holds. The rest of a longer text is cut off without a word, "
        "so it counts as neither work nor throughput; (a)'s chunks are sized to the window and lose none. The last "
        "column of the ratios also counts the cut-off pieces, for comparison with runs before this count.",
        "- where the time goes, median repeat (store counts only writes while nothing was being embedded, as (a) "
        "embeds the next document in the background while it writes the current one): (a) "
        + _stages(figures[OURS], "read + extract + split/chunk overlapped with neither")
        + f"; (c) {_stages(figures[NAIVE], 'read + extract + split/chunk')}.",
        f"- the three take the corpus in batches of {summary['settings']['batch_size']} documents (the ingest "
        "function's SQS BatchSize in template.yaml), side by side, the order rotating from one batch to the next "
        "with (c) first; within a batch (a) reads, extracts, chunks and embeds the next document in the background "
        "while it embeds and writes the current one, as the ingest function does; models are loaded and warmed up "
        "before timing; "
        "(b) embeds per document, as (a) does. A ratio passes only when all three of its figures reach the target.",
        f"- machine: {machine['cpus']} CPUs ({machine['cpu_model']}), load average {machine['load_before']:.2f} "
        f"before and {machine['load_after']:.2f} after; (c) runs torch's default of {machine['torch_threads']} "
        "threads per batch, (a) and (b) one batch per core.",
    ]
    return "\n".join(lines) + "\n"
