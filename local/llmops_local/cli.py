"""`llmops`: run the platform locally, ingest documents, ask questions."""

from __future__ import annotations

import enum
import logging
import re
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.cells import cell_len
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from llmops.domain.models import SearchMode
from llmops.domain.tags import InvalidTags, normalise_tags
from llmops_local.connection import PlatformEndpoints, default_home, platform_endpoints
from llmops_local.documents import (
    KeyClashError,
    NotSettledError,
    Upload,
    files_to_upload,
    list_documents,
    redrive,
    run_backfill,
    upload,
    wait_until_settled,
)
from llmops_local.eval_commands import eval_app
from llmops_local.platform import LocalPlatform, PlatformConfig, PlatformError, find_project_root
from llmops_local.prompt_commands import prompts_app
from llmops_local.terminal import console, fail

app = typer.Typer(help="The LLMOps platform, locally: no AWS account, no Docker.", no_args_is_help=True)

DEMO_CORPUS = Path(__file__).parent / "demo_corpus"
DEMO_QUESTIONS = [
    "What is Python?",
    "Why does Python use indentation for grouping of statements?",
    "Why is there no goto in Python?",
    "Why can't lambda expressions contain statements?",
    "How do I make a Python script executable on Unix?",
    "What was the score of the 1998 football World Cup final?",
]
ANSWER_TIMEOUT_S = 300
SEARCH_TIMEOUT_S = 120
EXCERPT_CHARS = 240
NO_BREAK = "\u00a0"  # textwrap does not break at it (it is not in textwrap's whitespace)


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


HomeOption = Annotated[Path, typer.Option(help="Where local state lives (LLMOPS_HOME).", default_factory=default_home)]
AwsPortOption = Annotated[int, typer.Option(help="Port of the emulated AWS endpoint.", envvar="LLMOPS_AWS_PORT")]
ApiPortOption = Annotated[int, typer.Option(help="Port of the local API.", envvar="LLMOPS_API_PORT")]
ModeOption = Annotated[
    SearchMode | None, typer.Option(help="How chunks are retrieved (default: SEARCH_MODE).", case_sensitive=False)
]
PrefixFilter = Annotated[str | None, typer.Option("--prefix", help="Only documents whose key starts with this.")]
TagFilter = Annotated[
    list[str] | None,
    typer.Option("--tag", metavar="TAG", help="Only documents with this tag; repeat it to require several."),
]
DocumentIdFilter = Annotated[
    list[str] | None,
    typer.Option(
        "--document-id", metavar="ID", help="Only this document (an id `llmops docs` shows); repeat it for several."
    ),
]


def _quiet_libraries() -> None:
    for name in ("werkzeug", "botocore", "urllib3", "moto", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)  # it logs each recognizer it loads at INFO
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def up(
    home: HomeOption,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
    log_level: Annotated[
        LogLevel,
        typer.Option(
            help="What the functions log to this console (POWERTOOLS_LOG_LEVEL): INFO shows each request's steps, "
            "such as the answer a grounding check declined.",
            envvar="LLMOPS_LOG_LEVEL",
            case_sensitive=False,
        ),
    ] = LogLevel.WARNING,
) -> None:
    """Start the whole platform on this machine and serve until Ctrl+C."""
    _quiet_libraries()
    config = PlatformConfig(
        project_root=find_project_root(), home=home, aws_port=aws_port, api_port=api_port, log_level=log_level.value
    )
    platform = LocalPlatform(config)
    try:
        platform.start()
    except PlatformError as error:
        fail(str(error), error)
    assert platform.deployment is not None
    deployment = platform.deployment
    console.print("[bold green]LLMOps platform running locally[/bold green]")
    endpoints = Table(show_header=False, box=None)
    endpoints.add_row("AWS endpoint (S3, SQS, DynamoDB, ...)", platform.aws_endpoint)
    endpoints.add_row("API", f"{platform.api_url}  (POST /query)")
    endpoints.add_row("Documents bucket", f"s3://{deployment.buckets['DocumentsBucket']}/documents/")
    endpoints.add_row("State", str(home))
    console.print(endpoints)
    console.print(
        f"Try: aws --endpoint-url {platform.aws_endpoint} s3 cp README.md "
        f"s3://{deployment.buckets['DocumentsBucket']}/documents/README.md\n"
        f"     curl -s {platform.api_url}/query -H 'content-type: application/json' -d '{{\"question\": \"...\"}}'"
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        console.print("Stopping; saving local state ...")
        platform.stop()


STATUS_COLOURS = {"indexed": "green", "failed": "red", "deleted": "yellow"}


def _document_table(*numbers: str, ids: bool = False) -> Table:
    """Keys are folded rather than cut and the short columns kept whole; reasons are prose and go under the table
    (_print_reasons): as a column they were squeezed to a word per line on an 80-column terminal."""
    table = Table()
    table.add_column("document", overflow="fold")
    for name in ("id", "status", *numbers) if ids else ("status", *numbers):
        table.add_column(name, no_wrap=True)
    return table


def _status(status: str) -> Text:
    return Text(status, style=STATUS_COLOURS.get(status, "cyan"))


def _print_reasons(reasons: list[tuple[str, str]]) -> None:
    for key, reason in reasons:
        line = Text(key, style="bold")
        # Most reasons name the document already ("documents/x.pdf is not a PDF: ..."); it is not repeated.
        line.append(reason.removeprefix(key) if reason.startswith(key) else f": {reason}")
        console.print(line)


def _print_uploads(uploads: list[Upload]) -> None:
    table = _document_table("chunks")
    for item in uploads:
        table.add_row(Text(item.key), _status(item.status), str(item.chunk_count or ""))
    console.print(table)
    _print_reasons([(item.key, item.reason) for item in uploads if item.reason])


def _ingest(
    endpoints: PlatformEndpoints, files: list[tuple[Path, str]], timeout: float, tags: tuple[str, ...] = ()
) -> list[Upload]:
    uploads = upload(endpoints, files, tags)
    with console.status(f"Indexing {len(uploads)} document(s) ...") as status:

        def progress(items: list[Upload]) -> None:
            done = sum(1 for item in items if item.status in {"indexed", "failed", "deleted"})
            status.update(f"Indexing: {done}/{len(items)} settled")

        wait_until_settled(endpoints, uploads, timeout, progress)
    _print_uploads(uploads)
    return uploads


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to upload.", exists=True)],
    home: HomeOption,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for indexing.")] = 900,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="TAG",
            help="A tag for every document uploaded (filters: `llmops search --tag`); repeat it for several. "
            "Tags belong to a version: uploading a document again without them leaves it untagged.",
        ),
    ] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Upload documents to the local documents bucket and follow them until they are indexed.

    Hidden files and folders under a folder (.DS_Store, .git/) are skipped."""
    _quiet_libraries()
    try:
        # Checked before the platform is reached, or started: a clash or a bad tag is refused at once, with nothing
        # uploaded (ingestion would fail every document over the tag).
        selection = files_to_upload(paths)
        tags = normalise_tags(tag or [])
    except KeyClashError as error:
        fail(str(error), error)
    except InvalidTags as error:
        fail(f"--tag: {error}", error)
    if selection.hidden_skipped:
        console.print(f"Skipped {selection.hidden_skipped} hidden file(s): a name in their path starts with '.'")
    if tags:
        console.print(f"Tags: {', '.join(tags)}")
    try:
        with platform_endpoints(home, aws_port, api_port) as endpoints:
            uploads = _ingest(endpoints, selection.files, timeout, tags)
    except NotSettledError as error:  # slow or stuck indexing is not a bug of this command: no traceback
        fail(str(error), error)
    if any(item.status == "failed" for item in uploads):
        raise typer.Exit(1)


def _given(**options: Any) -> dict[str, Any]:
    """Only the options given, and each as given (a top_k of 0, an empty prompt name): the API refuses what it cannot
    use, rather than its default answering unasked. Repeated options (--tag) count as given once used."""
    return {name: value for name, value in options.items() if value is not None and value != []}


def _filters(prefix: str | None, tags: list[str] | None, document_ids: list[str] | None) -> dict[str, Any]:
    """The `filters` of a /query or /search body, where any is given. Tags are sent as typed: the API normalises
    them, and refuses an invalid one with its reason."""
    filters = _given(prefix=prefix, tags=tags, document_ids=document_ids)
    return {"filters": filters} if filters else {}


def _ask(
    endpoints: PlatformEndpoints,
    question: str,
    top_k: int | None = None,
    *,
    mode: SearchMode | None = None,
    prompt: str | None = None,
    prompt_version: str | None = None,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"question": question}
    body.update(_given(top_k=top_k, mode=mode, prompt=prompt, prompt_version=prompt_version))
    body.update(filters or {})
    try:
        response = requests.post(f"{endpoints.api_url}/query", json=body, timeout=ANSWER_TIMEOUT_S)
    except requests.Timeout as error:
        fail(
            f"Timed out after {ANSWER_TIMEOUT_S} s waiting for the answer to {question!r}: the model may be too slow "
            "on this machine, or the platform stuck (see its log). Ask again with `llmops ask`.",
            error,
        )
    if response.status_code != 200:
        fail(f"{response.status_code}: {_message_of(response)}")
    return dict(response.json())


def _print_answer(answer: dict[str, Any]) -> None:
    """Questions, answers and keys are the users' text: escaped, so that brackets in them print as they are."""
    console.print(f"[bold]Q:[/bold] {escape(answer['question'])}")
    colour = "green" if answer["grounded"] else "yellow"
    why = f"  [dim]({answer['abstention'].replace('_', ' ')})[/dim]" if answer.get("abstention") else ""
    console.print(f"[bold {colour}]A:[/bold {colour}] {escape(answer['answer'])}{why}")
    for hit in answer.get("guardrails", []):  # a redacted e-mail, a flagged question: said, never silent
        found = f" {escape(', '.join(hit['categories']))}" if hit.get("categories") else ""
        console.print(
            f"   [yellow]guardrail:[/yellow] {hit['check']} {hit['action']} ({hit['stage']}, score {hit['score']:.2f})"
            f"{found}"
        )
    for citation in answer["citations"]:
        page = f", page {citation['page']}" if citation.get("page") else ""
        console.print(
            f"   \\[{citation['number']}] {escape(citation['source_key'])} (chunk {citation['position']}{page}, "
            f"score {citation['score']:.2f})"
        )
    console.print(
        f"   [dim]{escape(answer['model_id'])} · prompt {escape(answer['prompt_id'])} · "
        f"{answer['latency_ms']:.0f} ms · "
        f"{answer['usage']['input_tokens']}+{answer['usage']['output_tokens']} tokens[/dim]\n"
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    home: HomeOption,
    top_k: Annotated[int | None, typer.Option(help="How many chunks to retrieve.")] = None,
    mode: ModeOption = None,
    prefix: PrefixFilter = None,
    tag: TagFilter = None,
    document_id: DocumentIdFilter = None,
    prompt: Annotated[
        str | None, typer.Option(help="Catalog prompt to answer with (default: ANSWER_PROMPT_NAME).")
    ] = None,
    prompt_version: Annotated[
        str | None, typer.Option(help="The prompt's version: a number or an alias (default: ANSWER_PROMPT_REF).")
    ] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Ask a question; the answer cites the documents it rests on, or says "I don't know".

    --prefix, --tag and --document-id limit the passages it may rest on."""
    _quiet_libraries()
    filters = _filters(prefix, tag, document_id)
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        _print_answer(
            _ask(endpoints, question, top_k, mode=mode, prompt=prompt, prompt_version=prompt_version, filters=filters)
        )


def _search(endpoints: PlatformEndpoints, body: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        response = requests.post(f"{endpoints.api_url}/search", json=body, timeout=SEARCH_TIMEOUT_S)
    except requests.Timeout as error:
        fail(f"Timed out after {SEARCH_TIMEOUT_S} s waiting for search results: see the platform's log.", error)
    if response.status_code != 200:
        fail(f"{response.status_code}: {_message_of(response)}")
    return list(response.json()["results"])


def _excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The chunk's text as one paragraph, cut at a word before `limit` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def _print_results(results: list[dict[str, Any]]) -> None:
    """Rank, source and place, the scores the API returned, then an excerpt. Keys, sections and texts are the
    users' own: escaped, so that brackets in them print as they are."""
    for rank, result in enumerate(results, start=1):
        chunk = result["chunk"]
        place = [f"chunk {chunk['position']}"]
        place += [f"page {chunk['page']}"] if chunk.get("page") else []
        place += [chunk["section"]] if chunk.get("section") else []
        console.print(f"[bold]{rank}.[/bold] {escape(chunk['source_key'])} [dim]({escape(', '.join(place))})[/dim]")
        about = [f"score {result['score']:.2f}"]
        about += [
            f"{name} {result[name]:.2f}" for name in ("text_score", "fused_score") if result.get(name) is not None
        ]
        about += [f"tags {', '.join(chunk['tags'])}"] if chunk.get("tags") else []
        about += [f"id {chunk['document_id']}"]
        console.print(Text(_indented(about, " · "), style="dim"), soft_wrap=True)
        console.print(Text(_indented(_excerpt(chunk["text"]).split(" "), " ")), soft_wrap=True)
        console.print()


def _indented(items: list[str], separator: str) -> str:
    """`items` joined and wrapped to the terminal under a 3-space indent, each item kept whole on one line (an id
    is copied whole; a word longer than a line is left to the terminal, not cut)."""
    glued = separator.join(item.replace(" ", NO_BREAK) for item in items)
    width = max(console.width - 3, 20)
    lines = textwrap.wrap(glued, width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(f"   {line}" for line in lines).replace(NO_BREAK, " ")


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    home: HomeOption,
    top_k: Annotated[int | None, typer.Option(help="How many chunks to return (default 10, at most 100).")] = None,
    mode: ModeOption = None,
    prefix: PrefixFilter = None,
    tag: TagFilter = None,
    document_id: DocumentIdFilter = None,
    vector_weight: Annotated[float | None, typer.Option(help="Hybrid fusion weight of the k-NN results.")] = None,
    text_weight: Annotated[float | None, typer.Option(help="Hybrid fusion weight of the BM25 results.")] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """The chunks that best match a query, ranked, without asking the model (POST /search)."""
    _quiet_libraries()
    filters = _filters(prefix, tag, document_id)
    body: dict[str, Any] = {"query": query}
    body.update(_given(top_k=top_k, mode=mode, vector_weight=vector_weight, text_weight=text_weight))
    body.update(filters)
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        results = _search(endpoints, body)
        if not results:
            console.print(f"No chunks found for {query!r}{' with these filters' if filters else ''}.")
        _print_results(results)


@app.command()
def docs(
    home: HomeOption,
    status: Annotated[str | None, typer.Option(help="Only documents in this status (e.g. failed).")] = None,
    prefix: Annotated[str | None, typer.Option(help="Only keys under this prefix.")] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """List documents with their status, chunk count and failure reason (GET /documents)."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints, _api_errors():
        records = list_documents(endpoints, status, prefix)
    _print_documents(records)


# The narrowest the key column may get beside an id column (if a key is longer); on a terminal with less room (80
# columns), the ids go under the table instead: an id is copied whole, so it is never folded or cut.
KEY_ROOM = 24


def _documents_table(records: list[dict[str, Any]], *, ids: bool, keys: bool = True) -> Table:
    table = _document_table("chunks", "bytes", "ms", "updated", ids=ids)
    for record in records:
        table.add_row(
            Text(record["source_key"] if keys else ""),
            *([record["document_id"]] if ids else []),
            _status(record["status"]),
            str(record.get("chunk_count") or ""),
            str(record.get("size_bytes") or ""),
            str(round(record["duration_ms"])) if record.get("duration_ms") else "",
            record["updated_at"][:16].replace("T", " "),
        )
    return table


def _print_documents(records: list[dict[str, Any]]) -> None:
    """Each document's id (for `document_ids` filters and GET /documents/{id}) in a column where the terminal has
    room for it and KEY_ROOM for the keys, else listed under the table with its key."""
    without_keys = _documents_table(records, ids=True, keys=False)
    without_keys.columns[0].min_width = min(KEY_ROOM, max((cell_len(r["source_key"]) for r in records), default=0))
    needed = Measurement.get(console, console.options.update_width(10_000), without_keys).maximum
    beside = needed <= console.width
    console.print(_documents_table(records, ids=beside))
    if not beside and records:
        listing = Table(box=None, pad_edge=False, show_edge=False)
        listing.add_column("id", no_wrap=True)
        listing.add_column("document", overflow="fold")
        for record in records:
            listing.add_row(record["document_id"], Text(record["source_key"]))
        console.print(listing)
    _print_reasons([(record["source_key"], record["reason"]) for record in records if record.get("reason")])


@app.command("redrive")
def redrive_command(
    home: HomeOption,
    limit: Annotated[int, typer.Option(help="Most messages to move.")] = 1000,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Move dead-lettered ingestion messages back to the ingest queue (POST /documents/redrive)."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints, _api_errors():
        result = redrive(endpoints, limit)
    console.print(f"Re-drove {result['moved']} message(s); {result['remaining']} left in the dead-letter queue.")


@app.command()
def backfill(
    home: HomeOption,
    prefix: Annotated[str, typer.Option(help="Key prefix to (re)ingest.")] = "documents/",
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Queue every object under a prefix for ingestion (objects that predate the platform, or a re-drive)."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        description = run_backfill(endpoints, prefix)
    if description["status"] != "SUCCEEDED":
        fail(f"backfill {description['status']}: {description.get('error')} {description.get('cause')}")
    console.print(f"Queued every object under {prefix} for ingestion; follow them with `llmops docs`.")


index_app = typer.Typer(help="The vector index: status, blue/green rebuild, rollback.", no_args_is_help=True)
app.add_typer(index_app, name="index")
app.add_typer(prompts_app, name="prompts")
app.add_typer(eval_app, name="eval")


def _message_of(response: requests.Response) -> str:
    """An API error's message; the body as sent where it is not the API's JSON (a proxy's page, a crash)."""
    try:
        return str(response.json().get("message", response.text))
    except (ValueError, AttributeError):
        return response.text


@contextmanager
def _api_errors() -> Iterator[None]:
    """An error the API answers to a documents.py call (raise_for_status) ends the command as `ask` does: its status
    and message on one line, not a traceback."""
    try:
        yield
    except requests.HTTPError as error:
        fail(f"{error.response.status_code}: {_message_of(error.response)}", error)


def _api(endpoints: PlatformEndpoints, method: str, path: str) -> dict[str, Any]:
    response = requests.request(method, f"{endpoints.api_url}{path}", timeout=120)
    if response.status_code >= 400:
        fail(f"{response.status_code}: {_message_of(response)}")
    return dict(response.json())


def _print_index(status: dict[str, Any]) -> None:
    table = Table("role", "index", "chunks")
    counts = status.get("chunk_counts", {})
    for role in ("active", "building", "previous"):
        if status.get(role):
            table.add_row(role, status[role], str(counts.get(status[role], "")))
    console.print(table)


@index_app.command("status")
def index_status(home: HomeOption, aws_port: AwsPortOption = 4566, api_port: ApiPortOption = 3000) -> None:
    """Which index readers use, which one is being built, which one a rollback returns to."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        _print_index(_api(endpoints, "GET", "/index"))


@index_app.command("rebuild")
def index_rebuild(
    home: HomeOption,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the switch.")] = 3600,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Re-embed the whole corpus into a new index; readers switch when it is complete."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        started = _api(endpoints, "POST", "/index/reindex")
        console.print(f"Re-index into {started['target']} started: {started['execution_id']}")
        deadline = time.monotonic() + timeout
        with console.status("Building the new index ...") as progress:
            while (status := _api(endpoints, "GET", "/index")).get("building"):
                building = status["building"]
                progress.update(f"Building {building}: {status['chunk_counts'].get(building, 0)} chunks so far")
                if time.monotonic() > deadline:
                    console.print("[yellow]Still building; follow it with `llmops index status`.[/yellow]")
                    raise typer.Exit(1)
                time.sleep(1)
        _print_index(status)
        if status["active"] != started["target"]:
            fail("The re-index did not switch: readers stay on the old index.")


@index_app.command("rollback")
def index_rollback(home: HomeOption, aws_port: AwsPortOption = 4566, api_port: ApiPortOption = 3000) -> None:
    """Point readers back at the previous index."""
    _quiet_libraries()
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        _api(endpoints, "POST", "/index/rollback")
        _print_index(_api(endpoints, "GET", "/index"))  # with the chunk counts, which the rollback does not return
    console.print(
        "[dim]Documents added or changed since the switch are not in this index (deleted ones are gone from it "
        "too); `llmops index rebuild` brings them in.[/dim]"
    )


@app.command()
def demo(
    home: HomeOption,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for indexing.")] = 900,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Start the platform, ingest a small corpus (Python's FAQ), ask a few questions, show answers and sources."""
    _quiet_libraries()
    console.print(f"[bold]Ingesting the demo corpus[/bold] ({DEMO_CORPUS})")
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            uploads = _ingest(endpoints, files_to_upload([DEMO_CORPUS]).files, timeout)
        except NotSettledError as error:
            fail(
                f"Timed out indexing the demo corpus ({error}). See each document's status with `llmops docs`, "
                f"or wait longer with `llmops demo --timeout SECONDS` (it was {timeout:.0f}).",
                error,
            )
        if any(item.status != "indexed" for item in uploads):
            raise typer.Exit(1)
        console.print("[bold]Asking questions[/bold] (the first loads the local model, ~20 s)\n")
        for question in DEMO_QUESTIONS:
            _print_answer(_ask(endpoints, question))
