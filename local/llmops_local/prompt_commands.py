"""`llmops prompts`: the prompt catalog from the command line (sync files, list, show, alias, unalias, render)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from llmops.adapters.prompt_files import SUFFIXES, PromptFileError, load_prompt_files, publish_files
from llmops.domain.errors import DomainError
from llmops.domain.prompts import SyncOutcome, check_alias, check_name, parse_ref
from llmops.settings import Settings
from llmops_local.connection import default_home, platform_endpoints
from llmops_local.prompts import PromptApiError, api_call, sync_through_api
from llmops_local.terminal import console, fail

prompts_app = typer.Typer(
    help="The prompt catalog: versions, aliases, dry runs; prompts/*.yaml synced into it.", no_args_is_help=True
)

HomeOption = Annotated[Path, typer.Option(help="Where local state lives (LLMOPS_HOME).", default_factory=default_home)]
AwsPortOption = Annotated[int, typer.Option(help="Port of the emulated AWS endpoint.", envvar="LLMOPS_AWS_PORT")]
ApiPortOption = Annotated[int, typer.Option(help="Port of the local API.", envvar="LLMOPS_API_PORT")]


def _call(home: Path, aws_port: int, api_port: int, method: str, path: str, body: Any = None) -> dict[str, Any]:
    with platform_endpoints(home, aws_port, api_port) as endpoints:
        try:
            return dict(api_call(endpoints.api_url, method, path, body).json())
        except PromptApiError as error:
            fail(str(error), error)


# A name or alias to find: one made under an earlier release's looser rule included (the API decides what is new).
_existing_name = partial(check_name, existing=True)
_existing_alias = partial(check_alias, existing=True)


def _answer_prompt() -> tuple[str, str]:
    """The prompt that answers every question that names none (ANSWER_PROMPT_NAME at ANSWER_PROMPT_REF), which a
    sync must leave able to answer, from this environment: for `--table`/`--stack`, which reach no function (a
    deployed stack's functions have the defaults, rag-answer at prod, as the template sets neither); through the
    API, only where the API does not report the one its function guards."""
    settings = Settings()
    return settings.answer_prompt_name, settings.answer_prompt_ref


def _checked(check: Callable[[str], object], value: str) -> str:
    """`value` as the API would take it, or the command ends with the API's own message."""
    try:
        check(value)
    except DomainError as error:
        fail(str(error), error)
    return quote(value, safe="")  # checked already; quoted all the same, so no value can reach another route


def _stack_output(stack: str, key: str, region: str | None) -> str:
    import boto3

    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    for output in described["Stacks"][0].get("Outputs", []):
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise typer.BadParameter(f"stack {stack} has no output {key}; deploy the current template first")


def _print_outcomes(outcomes: list[SyncOutcome]) -> None:
    table = Table("prompt", "version", "change", "alias")
    for outcome in outcomes:
        change = "[green]new version[/green]" if outcome.created else "unchanged"
        alias = f"{outcome.alias} -> {outcome.version}" if outcome.alias_moved else ""
        table.add_row(outcome.name, str(outcome.version), change, alias)
    console.print(table)


def _print_entries(entries: list[tuple[list[str], str]]) -> None:
    """An aligned line of short fields per entry with its description wrapped underneath: prose squeezed into a table
    column shows a word per line on an 80-column terminal. The users' text is printed as written, never as markup."""
    widths = [max(len(fields[column]) for fields, _ in entries) for column in range(len(entries[0][0]))]
    for fields, description in entries:
        line = Text()
        for column, (field, width) in enumerate(zip(fields, widths, strict=True)):
            line.append(field.ljust(width) + "  ", style="bold" if column == 0 else "")
        line.rstrip()
        console.print(line)
        if description:
            indented = textwrap.fill(
                description, width=console.width, initial_indent=" " * 4, subsequent_indent=" " * 4
            )
            console.print(Text(indented, style="dim"))


def _print_prompt_list(listed: dict[str, Any]) -> None:
    if not listed["prompts"]:
        console.print("No prompts in the catalog: add one with `llmops prompts sync` or POST /prompts.")
        return
    _print_entries(
        [
            (
                [
                    prompt["name"],
                    f"latest {prompt['latest_version']}",
                    ", ".join(f"{alias}={version}" for alias, version in prompt["aliases"].items()) or "no alias",
                    f"by {prompt['author']}",
                    _timestamp(prompt["updated_at"]),
                ],
                prompt["description"],
            )
            for prompt in listed["prompts"]
        ]
    )


def _print_versions(detail: dict[str, Any]) -> None:
    aliases_of: dict[int, list[str]] = {}
    for alias, number in detail["aliases"].items():
        aliases_of.setdefault(number, []).append(alias)
    aliases_of.setdefault(detail["latest_version"], []).append("latest")
    _print_entries(
        [
            (
                [
                    f"{detail['name']}@{item['version']}",
                    ", ".join(aliases_of.get(item["version"], [])) or "-",
                    f"by {item['author']}",
                    _timestamp(item["created_at"]),
                    f"hash {item['content_hash'][:8]}",
                ],
                item["description"],
            )
            for item in detail["versions"]
        ]
    )


def _print_version(found: dict[str, Any]) -> None:
    heading = Text(f"{found['name']}@{found['version']}", style="bold")
    heading.append(f"  by {found['author']}, {_timestamp(found['created_at'])}", style="")
    console.print(heading)
    if found["description"]:
        console.print(Text(found["description"], style="dim"))
    console.print(Text(f"variables: {', '.join(found['variables']) or '(none)'}"))
    console.print(_parameters(found["parameters"]))
    if found.get("guardrails") is not None:  # its overrides of the platform's guardrail policy, as published
        console.print(Text(f"guardrails: {json.dumps(found['guardrails'], separators=(',', ':'))}"))
    for label, text in (("system", found["system_template"]), ("user", found["user_template"])):
        console.print(Text(label, style="bold"))
        console.print(Text(text))
    refusal = Text("refusal ", style="bold")
    refusal.append(found["refusal"], style="")
    console.print(refusal)


def _parameters(parameters: dict[str, Any]) -> Text:
    """`parameters: temperature=0.2, max_tokens=120, stop=["\\n\\n"]`: those a version sets, the stop sequences as
    JSON so that their whitespace shows; the rest are the platform's settings."""
    shown = [
        f"{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':')) if key == 'stop' else value}"
        for key, value in parameters.items()
        if value not in (None, [])
    ]
    return Text(f"parameters: {', '.join(shown) or '(platform settings)'}")


def _timestamp(iso: str) -> str:
    """An ISO 8601 time to the minute, as people read it (keeps a prompt's line within 80 columns)."""
    return iso[:16].replace("T", " ")


@prompts_app.command("sync")
def sync(
    home: HomeOption,
    directory: Annotated[Path, typer.Option("--dir", help="Folder of prompt files (one NAME.yaml per prompt).")] = Path(
        "prompts"
    ),
    alias: Annotated[str | None, typer.Option(help="Point this alias at each prompt's latest version.")] = None,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Set the alias only on prompts that do not have it yet.")
    ] = False,
    table: Annotated[
        str | None, typer.Option(help="Write straight into this DynamoDB table (AWS credentials), not the API.")
    ] = None,
    stack: Annotated[
        str | None, typer.Option(help="Like --table, with the table taken from this stack's PromptsTableName.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="AWS region for --table and --stack.")] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Publish every prompt file whose spec differs from its prompt's latest version (running it twice is a no-op)."""
    if if_missing and alias is None:
        raise typer.BadParameter(
            "only means something with --alias (it sets that alias only on prompts that lack it)",
            param_hint="--if-missing",
        )
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a folder", param_hint="--dir")
    try:
        # Read and checked before AWS or the platform is reached (or started): a bad file, or two files for one
        # prompt, is refused at once with nothing published.
        if alias is not None:
            check_alias(alias)
        files = load_prompt_files(directory)
    except (PromptFileError, DomainError) as error:
        fail(str(error), error)
    if not files:
        # Most likely the wrong --dir: a pipeline that syncs nothing should not pass as if it had published.
        patterns = ", ".join(f"*{suffix}" for suffix in SUFFIXES)
        raise typer.BadParameter(f"no prompt files ({patterns}) in {directory}", param_hint="--dir")
    answer_prompt = _answer_prompt()
    try:
        if stack:
            table = _stack_output(stack, "PromptsTableName", region)
        if table:
            import boto3

            from llmops.adapters.aws.dynamodb_prompt_store import DynamoDbPromptStore

            store = DynamoDbPromptStore(boto3.client("dynamodb", region_name=region), table)
            outcomes = publish_files(store, files, alias, only_where_missing=if_missing, answer_prompt=answer_prompt)
        else:
            with platform_endpoints(home, aws_port, api_port) as endpoints:
                outcomes = sync_through_api(
                    endpoints.api_url, files, alias, only_where_missing=if_missing, answer_prompt=answer_prompt
                )
    except (PromptApiError, DomainError) as error:
        fail(str(error), error)
    _print_outcomes(outcomes)


@prompts_app.command("list")
def list_prompts(home: HomeOption, aws_port: AwsPortOption = 4566, api_port: ApiPortOption = 3000) -> None:
    """Every prompt with its latest version and aliases (GET /prompts)."""
    _print_prompt_list(_call(home, aws_port, api_port, "GET", "/prompts"))


@prompts_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    home: HomeOption,
    version: Annotated[
        str | None, typer.Option("--version", help="A version number, an alias or `latest`: show its text.")
    ] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """A prompt's versions and aliases; with --version, that version in full."""
    path = f"/prompts/{_checked(_existing_name, name)}"
    if version is None:
        _print_versions(_call(home, aws_port, api_port, "GET", path))
    else:
        _print_version(_call(home, aws_port, api_port, "GET", f"{path}/versions/{_checked(parse_ref, version)}"))


@prompts_app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias to move (prod, staging, ...).")],
    version: Annotated[int, typer.Argument(help="Version it should name; an earlier one rolls back.")],
    home: HomeOption,
    expected: Annotated[
        int | None, typer.Option(help="Move only if the alias names this version now (safe promotion).")
    ] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Point an alias at a version (PUT /prompts/NAME/aliases/ALIAS)."""
    body: dict[str, Any] = {"version": version}
    if expected is not None:
        body["expected_version"] = expected
    path = f"/prompts/{_checked(_existing_name, name)}/aliases/{_checked(_existing_alias, alias_name)}"
    moved = _call(home, aws_port, api_port, "PUT", path, body)
    before = moved["previous_version"]
    console.print(
        f"{moved['name']}@{moved['alias']} -> {moved['version']}"
        + (f" (was {before})" if before is not None and before != moved["version"] else "")
    )
    _print_refresh_note()


@prompts_app.command("unalias")
def unalias(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias to delete (the versions stay).")],
    home: HomeOption,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Delete an alias (DELETE /prompts/NAME/aliases/ALIAS); the configured answer prompt's alias is refused."""
    path = f"/prompts/{_checked(_existing_name, name)}/aliases/{_checked(_existing_alias, alias_name)}"
    deleted = _call(home, aws_port, api_port, "DELETE", path)
    console.print(
        Text(f"{deleted['name']}@{deleted['alias']} deleted (it named version {deleted['previous_version']})")
    )
    _print_refresh_note()


def _print_refresh_note() -> None:
    # Answering functions keep what an alias names for a while: one catalog read per refresh, not one per answer.
    refresh = Settings.model_fields["prompt_alias_refresh_seconds"].default
    console.print(f"[dim]Answers follow within PROMPT_ALIAS_REFRESH_SECONDS ({refresh:g} s unless configured).[/dim]")


def _variables(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        values[key] = value
    return values


@prompts_app.command("render")
def render(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    home: HomeOption,
    ref: Annotated[str, typer.Option(help="A version number, an alias or `latest`.")] = "latest",
    var: Annotated[list[str] | None, typer.Option("--var", help="KEY=VALUE, once per variable.")] = None,
    aws_port: AwsPortOption = 4566,
    api_port: ApiPortOption = 3000,
) -> None:
    """Fill a prompt's variables and print what the model would be sent (a dry run; no model is called)."""
    body = {"ref": ref, "variables": _variables(var or [])}
    rendered = _call(home, aws_port, api_port, "POST", f"/prompts/{_checked(_existing_name, name)}/render", body)
    console.print(f"[bold]{rendered['prompt_id']}[/bold]")
    console.print(_parameters(rendered["parameters"]))
    console.print("[bold]system[/bold]")
    console.print(rendered["system"], markup=False, highlight=False)
    console.print("[bold]user[/bold]")
    console.print(rendered["user"], markup=False, highlight=False)
