"""The ``actor`` command line: ``actor doctor``, ``actor ingest``."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The training actor: rehearse difficult conversations.")
console = Console()


@app.callback()
def main() -> None:
    """The training actor: rehearse difficult conversations with an aggressive customer."""


@app.command()
def doctor(
    verify: bool = typer.Option(True, help="Re-hash the model file (about 3 s)."),
    generate: bool = typer.Option(True, help="Run a one-sentence test generation per backend."),
) -> None:
    """Check settings, backends, the model file, a test generation, embeddings and token counting."""
    from actor.doctor import run_checks

    failed = 0
    for check in run_checks(verify=verify, generate=generate):
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} [bold]{check.name}[/bold]: {check.detail}", highlight=False)
        if not check.ok:
            failed += 1
            console.print(f"      → {check.fix}", highlight=False)
    if failed:
        console.print(f"[red]{failed} problem(s)[/red]")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/green]")


if __name__ == "__main__":  # pragma: no cover
    app()
