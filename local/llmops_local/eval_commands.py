"""`llmops eval`: evaluation datasets, runs and comparison reports from the command line (through the API)."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from llmops_local.connection import PlatformEndpoints, default_home, platform_endpoints
from llmops_local.terminal import console, fail

eval_app = typer.Typer(help="Evaluation: datasets, runs over candidates, comparison reports.", no_args_is_help=True)
dataset_app = typer.Typer(help="Evaluation datasets (versioned JSON Lines).", no_args_is_help=True)
eval_app.add_typer(dataset_app, name="dataset")

DEMO_DATASETS = Path(__file__).parent / "demo_datasets"
HomeOption = Annotated[Path, typer.Option(help="Where local state lives (LLMOPS_HOME).", default_factory=default_home)]
AwsPortOption = Annotated[int, typer.Option(help="Port of the emulated AWS endpoint.", envvar="LLMOPS_AWS_PORT")]
ApiPortOption = Annotated[int, typer.Option(help="Port of the local API.", envvar="LLMOPS_API_PORT")]
FINAL = {"succeeded", "failed"}


class EvalApiError(Exception):
    pass


def api(endpoints: PlatformEndpoints, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
    response = requests.request(method, f"{endpoints.api_url}{path}", json=body, params=params or None, timeout=300)
    if response.status_code >= 400:
        try:
            payload = response.json()
        except ValueError:
            raise EvalApiError(f"{response.status_code}: {response.text[:500]}") from None
        problems = "".join(f"\n  line {p['line']}: {p['message']}" for p in payload.get("problems", []))
        raise EvalApiError(f"{response.status_code}: {payload.get('message', response.text)}{problems}")
    return response


def parse_candidate(text: str) -> dict[str, Any]:
    """`rag-answer@prod`, optionally with `,mode=vector,top_k=5,model=ID,label=NAME`."""
    prompt, *settings = [part.strip() for part in text.split(",")]
    candidate: dict[str, Any] = {"prompt": prompt}
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in {"mode", "top_k", "model", "label"} or not value:
            raise typer.BadParameter(f"candidate setting {setting!r}: use mode=, top_k=, model= or label=")
        candidate[key] = int(value) if key == "top_k" else value
    return candidate


def upload_dataset(endpoints: PlatformEndpoints, path: Path, name: str, description: str = "") -> dict[str, Any]:
    body = {"name": name, "jsonl": path.read_text(encoding="utf-8"), "description": description}
    return dict(api(endpoints, "POST", "/datasets", body).json())


def run_status(endpoints: PlatformEndpoints, run_id: str) -> str:
    """The run's status from the table: locally one function invocation runs at a time, so an API call waits behind
    the items the state machine has queued."""
    item = (
        endpoints.client("dynamodb")
        .get_item(TableName=endpoints.tables["EvaluationTable"], Key={"pk": {"S": f"run#{run_id}"}, "sk": {"S": "run"}})
        .get("Item")
    )
    return str(item["status"]["S"]) if item else "unknown"


def wait_for_run(endpoints: PlatformEndpoints, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with console.status(f"Evaluating ({run_id}) ...") as status:
        while (state := run_status(endpoints, run_id)) not in FINAL and time.monotonic() < deadline:
            status.update(f"Evaluating ({run_id}): {state}")
            time.sleep(2)
    return dict(api(endpoints, "GET", f"/evaluations/{run_id}").json())


def print_report(report: dict[str, Any]) -> None:
    """Candidates as columns, best first, and their figures as rows: a run compares a few candidates on many figures,
    and a column per figure was unreadable on an 80-column terminal."""
    summaries = {s["candidate"]: s for s in report["candidates"]}
    ranked = [(r, summaries[r["candidate"]]) for r in report["ranking"]]
    table = Table(title=escape(f"Evaluation {report['run_id']} on {report['dataset']}"))
    table.add_column("", no_wrap=True)
    for position, summary in ranked:
        table.add_column(escape(f"#{position['rank']} {summary['label']}"), justify="right")
    summaries_ranked = [s for _, s in ranked]

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        table.add_row(label, *[cell(s) for s in summaries_ranked])

    table.add_row("score", *[f"{r['score']:.3f}" for r, _ in ranked])
    for name in _metric_order(report):
        if any(name in s["metrics"] for s in summaries_ranked):
            metric = [f"{s['metrics'][name]:.3f}" if name in s["metrics"] else "" for s in summaries_ranked]
            table.add_row(name, *metric)
    row("answered", lambda s: f"{s['answered_rate']:.0%}")
    row("p50 ms", lambda s: f"{s['latency_p50_ms']}")
    row("p95 ms", lambda s: f"{s['latency_p95_ms']}")
    row("tokens in/out", lambda s: f"{s['mean_input_tokens']:.0f}/{s['mean_output_tokens']:.0f}")
    row("$ per 1k queries", lambda s: "unpriced" if (c := s["cost_per_1000_queries_usd"]) is None else f"{c:.4f}")
    row("judge unparsed", lambda s: f"{s['judge_parse_failures']}/{s['judged']}" if s["judged"] else "")
    console.print(table)
    weights = ", ".join(f"{k}={v:g}" for k, v in report["weights"].items())
    console.print(f"[dim]ranking weights {weights}; quality metric {report['quality_metric']}[/dim]")
    for note in report.get("notes", []):
        console.print(f"[yellow]note:[/yellow] {escape(note)}")


def _metric_order(report: dict[str, Any]) -> list[str]:
    order = ["exact_match", "token_f1", "rouge1", "rouge2", "rougeL", "bleu", "chrf", "meteor", "bertscore_f1"]
    order += ["recall_at_k", "mrr", "ndcg_at_k", "judge_overall"]
    return order


@dataset_app.command("upload")
def dataset_upload(
    file: Annotated[Path, typer.Argument(help="A JSON Lines file: one row per line.", exists=True, dir_okay=False)],
    name: Annotated[str, typer.Option(help="Dataset name (a slug).")],
    home: HomeOption,
    description: Annotated[str, typer.Option(help="What the dataset is for.")] = "",
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Upload a dataset as its next version (POST /datasets); invalid rows are listed by line number."""
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            uploaded = upload_dataset(endpoints, file, name, description)
        except EvalApiError as error:
            fail(str(error), error)
    dataset = uploaded["dataset"]
    change = "new version" if uploaded["created"] else "unchanged (same rows as the latest version)"
    console.print(f"{dataset['name']}@{dataset['version']}: {dataset['row_count']} rows, {change}")


@dataset_app.command("list")
def dataset_list(home: HomeOption, aws_port: AwsPortOption = 4566, api_port: ApiPortOption = 3000) -> None:
    """Every dataset's latest version."""
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        listed = api(endpoints, "GET", "/datasets").json()["datasets"]
    table = Table("dataset", "version", "rows", "with reference", "with sources", "tags", "created")
    for d in listed:
        tags = escape(", ".join(f"{k} {v}" for k, v in d["tags"].items()))
        table.add_row(
            d["name"], str(d["version"]), str(d["row_count"]), str(d["with_reference"]),
            str(d["with_expected_sources"]), tags, d["created_at"],
        )  # fmt: skip
    console.print(table)


@eval_app.command("run")
def run(
    dataset: Annotated[str, typer.Option(help="Dataset name (latest version) or name@N.")],
    candidate: Annotated[
        list[str],
        typer.Option(help="prompt@ref[,mode=vector|text|hybrid][,top_k=N][,model=ID][,label=NAME]; repeat it."),
    ],
    home: HomeOption,
    judge: Annotated[bool, typer.Option(help="Rate answers with the judge prompt and model.")] = True,
    bertscore: Annotated[bool, typer.Option(help="Also BERTScore (local mode; loads a model).")] = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N rows.")] = None,
    weights: Annotated[str, typer.Option(help="Ranking weights.")] = "cost=0.5,quality=0.3,speed=0.2",
    quality_metric: Annotated[
        str, typer.Option(help="The metric that stands for quality in the ranking.")
    ] = "token_f1",
    wait: Annotated[bool, typer.Option(help="Follow the run and print the report.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Evaluate candidates on a dataset (POST /evaluations) through the evaluation state machine."""
    from llmops.domain.evaluation.errors import InvalidEvaluation
    from llmops.domain.evaluation.report import parse_weights

    try:
        parsed_weights = parse_weights(weights)
    except InvalidEvaluation as error:
        raise typer.BadParameter(str(error)) from error
    body = {
        "dataset": dataset,
        "candidates": [parse_candidate(c) for c in candidate],
        "options": {
            "judge": judge, "bertscore": bertscore, "limit": limit, "weights": parsed_weights,
            "quality_metric": quality_metric,
        },
    }  # fmt: skip
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            started = api(endpoints, "POST", "/evaluations", body).json()
            console.print(f"Evaluation {started['run_id']} started: {started['item_count']} rows × {len(candidate)}")
            if not wait and not endpoints.embedded:
                return
            finished = wait_for_run(endpoints, started["run_id"], timeout)
        except EvalApiError as error:
            fail(str(error), error)
    if finished["status"] != "succeeded":
        fail(f"evaluation {finished['status']}: {finished.get('error')}")
    print_report(finished["report"])


@eval_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="The evaluation's id.")],
    home: HomeOption,
    results: Annotated[bool, typer.Option(help="Also every item's answer and scores.")] = False,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """An evaluation's status, candidates and aggregates (GET /evaluations/{id})."""
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            found = api(endpoints, "GET", f"/evaluations/{run_id}").json()
            items = api(endpoints, "GET", f"/evaluations/{run_id}/results").json()["results"] if results else []
        except EvalApiError as error:
            fail(str(error), error)
    dataset = found["dataset"]
    console.print(
        f"[bold]{found['run_id']}[/bold] {found['status']} · dataset {dataset['name']}@{dataset['version']} · "
        f"{found['item_count']} rows × {len(found['candidates'])} candidates · created {found['created_at']}"
        + (f" · {found['duration_s']} s" if found.get("duration_s") else "")
    )
    if found.get("error"):
        console.print(f"[red]{escape(found['error'])}[/red]")
    if found.get("report"):
        print_report(found["report"])
    if items:
        labels = {c["candidate"]: c["label"] for c in (found.get("report") or {}).get("candidates", [])}
        print_results(items, labels)


RESULT_TEXT_CHARS = 400


def print_results(items: list[dict[str, Any]], labels: dict[int, str]) -> None:
    """A line of figures per item with its question and answer wrapped underneath: the texts are what a reader of
    results wants, and squeezed into table columns they showed a few words per line on an 80-column terminal."""
    for item in items:
        figures = [f"#{item['item']}", labels.get(item["candidate"], f"candidate {item['candidate']}")]
        figures += [f"{name} {value:.2f}" for name, value in item["metrics"].items() if value is not None]
        verdict = item.get("judge")
        if verdict:
            figures.append(f"judge {verdict['scores'].get('overall', '?')}" if verdict["parsed"] else "judge unparsed")
        if item.get("latency_ms") is not None:
            figures.append(f"{item['latency_ms']:.0f} ms")
        lines = [figures[0]]
        for figure in figures[1:]:  # a figure is never split across lines
            if len(lines[-1]) + len(" · " + figure) > console.width:
                lines.append("   " + figure)
            else:
                lines[-1] += " · " + figure
        console.print(Text("\n".join(lines), style="bold"))
        outcome = (
            f"error: {item['error']}" if item.get("error")
            else f"declined ({item['abstention']})" if item.get("abstention")
            else item.get("answer") or ""
        )  # fmt: skip
        for tag, text in (("Q", item["question"]), ("A", outcome)):
            shortened = text if len(text) <= RESULT_TEXT_CHARS else text[: RESULT_TEXT_CHARS - 1] + "…"
            console.print(
                Text(textwrap.fill(" ".join(shortened.split()), width=console.width, initial_indent=f"  {tag} ",
                                   subsequent_indent="    "))
            )  # fmt: skip


@eval_app.command("compare")
def compare(
    run_id: Annotated[str, typer.Argument(help="The evaluation's id.")],
    home: HomeOption,
    weights: Annotated[str | None, typer.Option(help="Re-rank with these weights, e.g. cost=0,quality=1.")] = None,
    quality_metric: Annotated[str | None, typer.Option(help="Re-rank on this quality metric.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """The comparison report: a table here, and optionally the JSON and the self-contained HTML page."""
    params = {k: v for k, v in {"weights": weights, "quality_metric": quality_metric}.items() if v}
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            report = api(endpoints, "GET", f"/evaluations/{run_id}/report", **params).json()
            page = api(endpoints, "GET", f"/evaluations/{run_id}/report", format="html", **params).text if html else ""
        except EvalApiError as error:
            fail(str(error), error)
    print_report(report)
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
        console.print(f"JSON report: {json_out}")
    if html:
        html.write_text(page, encoding="utf-8")
        console.print(f"HTML report: {html}")
