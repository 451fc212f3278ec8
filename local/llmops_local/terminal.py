"""Where the CLI writes: results on stdout, and what ends a command with an error on stderr, so that
`llmops docs > documents.txt` leaves the file clean and the error in sight."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
_errors = Console(stderr=True)


def fail(message: str, cause: BaseException | None = None) -> NoReturn:
    """End the command: `message` in red on stderr (printed as written, brackets included), exit status 1."""
    _errors.print(
        f"[red]{escape(message)}[/red]", soft_wrap=True
    )  # one line however narrow: logs and grep read it whole
    raise typer.Exit(1) from cause
