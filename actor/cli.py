"""The ``actor`` command line: ``actor doctor``, ``actor ingest``."""

from __future__ import annotations

from enum import Enum

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The training actor: rehearse difficult conversations.")
console = Console(soft_wrap=True)


class Lang(str, Enum):
    nl = "nl"
    en = "en"


class AggressionType(str, Enum):
    frustration = "frustration"
    instrumental = "instrumental"
    white_collar = "white_collar"


class Audience(str, Enum):
    actor = "actor"
    evaluator = "evaluator"


class Scenario(str, Enum):
    counter = "counter"
    phone = "phone"
    office = "office"
    intimidation = "intimidation"


def load_settings():
    """Settings, or a clear one-line error and exit status 2 when they are invalid."""
    from pydantic import ValidationError

    from actor.config import Settings
    from actor.doctor import describe_settings_error

    try:
        return Settings()
    except (ValidationError, FileNotFoundError) as exc:
        console.print(f"[red]invalid settings[/red]: {describe_settings_error(exc)}", highlight=False)
        raise typer.Exit(2) from exc


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


@app.command("ingest")
def ingest_command(
    rebuild: bool = typer.Option(False, "--rebuild", help="Drop the store and embed everything again."),
) -> None:
    """Validate the course material and bring the vector store up to date (incremental)."""
    from actor.embeddings import E5Embeddings
    from actor.knowledge import KnowledgeFileError, ingest

    settings = load_settings()
    target = settings.chroma_url or settings.chroma_path
    console.print(f"ingesting {settings.knowledge_dir} into {target}", highlight=False)
    try:
        report = ingest(settings, E5Embeddings(), rebuild=rebuild)
    except (KnowledgeFileError, FileNotFoundError) as exc:
        console.print(f"[red]invalid course material[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    console.print(str(report), highlight=False)


@app.command("search")
def search_command(
    query: str,
    lang: Lang = typer.Option(Lang.nl, help="language of the material"),
    k: int = typer.Option(4, min=1, max=50, help="number of hits"),
    audience: Audience = typer.Option(None, help="only material for this reader"),
    scenario: Scenario = typer.Option(None, help="only general material and this scenario's"),
    level: int = typer.Option(None, min=0, max=4, help="escalation level 0-4"),
    aggression_type: AggressionType = typer.Option(None, "--type", help="aggression type"),
) -> None:
    """Show what the retriever returns for a query, with source and heading of each chunk."""
    from actor.embeddings import E5Embeddings
    from actor.knowledge import CourseRetriever

    def value(option):
        return option.value if option is not None else None

    hits = CourseRetriever(load_settings(), E5Embeddings()).query(
        query, k=k, lang=lang.value, audience=value(audience), scenario=value(scenario), level=level,
        aggression_type=value(aggression_type),
    )
    if not hits:
        console.print("no hits: nothing matches these filters (or the store is empty: run `actor ingest`)")
    for h in hits:
        console.print(f"[bold]{h.cite()}[/bold]  score {h.score:.4f}", highlight=False)
        console.print("  " + h.text.split("\n\n", 1)[-1][:300].replace("\n", " "), highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
