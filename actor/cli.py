"""The ``actor`` command line: doctor, ingest, search, chat, simulate, user, export, import."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live

from actor.config import load_settings
from actor.knowledge.documents import AGGRESSION_TYPES, LANGS, SCENARIOS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="The training actor: rehearse difficult conversations.")
console = Console(soft_wrap=True)




def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of ``values`` (Typer shows and checks the choices)."""
    return Enum(name, {v: v for v in values}, type=str)


Lang = _choices("Lang", LANGS)
AggressionType = _choices("AggressionType", AGGRESSION_TYPES)
Audience = _choices("Audience", ("actor", "evaluator"))
Scenario = _choices("Scenario", SCENARIOS)
Difficulty = _choices("Difficulty", ("easy", "medium", "hard"))


@app.callback()
def main() -> None:
    """The training actor: rehearse difficult conversations with an aggressive customer."""


@app.command()
def doctor(
    verify: bool = typer.Option(True, help="Re-hash the model file (about 3 s)."),
    generate: bool = typer.Option(True, help="Run a one-sentence test generation per backend."),
) -> None:
    """Check settings, backends, the model file, a test generation and embeddings."""
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
    lang: Lang = typer.Option(Lang("nl"), help="language of the material"),
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


def _verdict_line(turn) -> str:
    marks = {"pass": "[green]✓[/green]", "fail": "[red]✗[/red]", None: "?"}
    parts = [f"{marks[r.verdict]} {cid}" for cid, r in turn.assessment.criteria.items() if r.verdict != "n/a"]
    return "  ".join(parts)


@app.command("chat")
def chat_command(
    scenario: Scenario = typer.Option(..., help="which scenario"),
    lang: Lang = typer.Option(Lang("nl"), help="language of the conversation"),
    difficulty: Difficulty = typer.Option(Difficulty("medium")),
    assessment: bool = typer.Option(False, "--assessment", help="hide the per-turn feedback"),
) -> None:
    """Rehearse in the terminal. Type your reply; an empty line or /stop ends the conversation."""
    from actor.evaluator import write_debrief
    from actor.llm import chat_model, model_id
    from actor.session import open_session

    settings = load_settings()
    session = open_session(settings, scenario.value, difficulty.value, lang.value)
    console.print(f"[bold]{session.scenario.title(lang.value)}[/bold] — {session.scenario.briefing(lang.value)}", highlight=False)
    console.print(f"[bold red]{session.scenario.customer.name(lang.value)}[/bold red]: {session.history[0].text}", highlight=False)
    name = session.scenario.customer.name(lang.value)
    while not session.ended:
        try:
            reply = console.input("[bold]you[/bold]: ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not reply or reply == "/stop":
            break
        try:
            session.check_reply(reply)
        except ValueError as exc:
            console.print(f"[yellow]{exc}[/yellow]", highlight=False)
            continue
        with Live(console=console, auto_refresh=False, transient=False) as live:
            for item in session.respond(reply):
                if isinstance(item, str):
                    live.update(f"[bold red]{name}[/bold red]: {item}", refresh=True)
                else:
                    turn = item
                    if turn.answer:
                        live.update(f"[bold red]{name}[/bold red] (L{turn.state_after.level}): {turn.answer.text}", refresh=True)
        if not assessment:
            session.grade(turn)
            console.print(f"  [dim]your reply:[/dim] {_verdict_line(turn)}  → {turn.assessment.tip}", highlight=False)
    for t in session.turns:
        if t.needs_wording:
            session.grade(t)
    if session.turns:
        debrief = write_debrief(session.turns, lang.value, chat_model("evaluator", settings), model_id("evaluator", settings))
        console.print(debrief.markdown, highlight=False)


@app.command("simulate")
def simulate_command(
    script: Path = typer.Option(..., exists=True, dir_okay=False, help="YAML list of trainee replies"),
    scenario: Scenario = typer.Option(...),
    lang: Lang = typer.Option(Lang("nl")),
    difficulty: Difficulty = typer.Option(Difficulty("medium")),
    out: Path = typer.Option(Path("transcript.json"), help="where to write the transcript (JSON)"),
) -> None:
    """Play a scripted trainee against the actor and write the transcript as JSON."""
    import json

    import yaml
    from pydantic import TypeAdapter, ValidationError

    from actor.session import open_session

    try:
        replies = TypeAdapter(list[str]).validate_python(yaml.safe_load(script.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        console.print(f"[red]{script} must be a YAML list of replies[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from exc
    session = open_session(load_settings(), scenario.value, difficulty.value, lang.value)
    for reply in replies:
        if session.ended:
            break
        turn = session.turn(reply)
        console.print(f"L{turn.state_before.level}→L{turn.state_after.level} {turn.move:16s} "
                      f"{turn.answer.path if turn.answer else 'end':12s} {turn.answer.text if turn.answer else session.state.outcome}",
                      highlight=False)
    out.write_text(json.dumps(session.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"transcript written to {out} (outcome {session.state.outcome}, final level L{session.state.level})")


user_app = typer.Typer(no_args_is_help=True, help="Users who log in to the app (trainee, trainer, reviewer).")
app.add_typer(user_app, name="user")
Role = _choices("Role", ("trainee", "trainer", "reviewer"))
ExportFormat = _choices("ExportFormat", ("json", "csv", "md", "pdf"))


def _database():
    from actor.db import Database, default_url

    settings = load_settings()
    return Database.open(settings.database_url or default_url(settings.home))


def _read_password(confirm: bool = True) -> str:
    """The password from a hidden prompt (asked twice when ``confirm``) when standard input is
    a terminal, else the first line of standard input (for scripts: ``… < file`` or a pipe).
    Never from the command line, where ``ps`` and the shell history would show it."""
    import sys

    if sys.stdin is not None and sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


@user_app.command("add")
def user_add(
    name: str = typer.Argument(..., help="the login name"),
    role: Role = typer.Option(Role("trainee"), help="what the user may do"),
) -> None:
    """Add a user; the password (at least 8 characters) is asked for, or read from the first
    line of standard input. Once a user exists, the app asks everyone to log in."""
    from actor.auth import Users

    try:
        Users(_database()).add(name, role.value, _read_password())
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"added {name} ({role.value})", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """List the users and their roles."""
    for u in _database().users():
        console.print(f"{u.username:24s} {u.role:9s} since {u.created_at:%Y-%m-%d}", highlight=False)


@user_app.command("passwd")
def user_passwd(name: str = typer.Argument(..., help="the login name")) -> None:
    """Set a new password for a user (asked for, or read from the first line of standard
    input). A running app takes it at the next login."""
    from actor.auth import Users

    try:
        Users(_database()).set_password(name, _read_password())
    except (ValueError, KeyError) as exc:
        console.print(f"[red]{exc.args[0]}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"new password set for {name}", highlight=False)


@user_app.command("remove")
def user_remove(
    name: str = typer.Argument(..., help="the login name"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Remove a user: they can no longer log in (their sessions stay). Restart the app to end
    the sessions they are logged in with."""
    from actor.auth import Users

    if not yes and not typer.confirm(f"remove user {name}?"):
        raise typer.Exit(1)
    try:
        Users(_database()).remove(name)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"removed {name}", highlight=False)


@app.command("export")
def export_command(
    session: list[str] = typer.Option(..., help="session id (repeat for several; csv takes several, the others one)"),
    format: ExportFormat = typer.Option(ExportFormat("json")),
    out: Path = typer.Option(..., help="file to write"),
) -> None:
    """Export stored sessions: JSON (complete, re-importable), CSV (a row per turn), Markdown or PDF."""
    import json

    from actor import review

    db = _database()
    try:
        if format.value == "csv":
            out.write_text(review.export_csv(db, session), encoding="utf-8-sig")  # with a BOM: spreadsheets read it as UTF-8
        elif format.value == "json":
            data = [review.export_session(db, sid) for sid in session]
            out.write_text(json.dumps(data if len(data) > 1 else data[0], ensure_ascii=False, indent=2), encoding="utf-8")
        else:
            md = "\n\n".join(review.export_markdown(db, sid) for sid in session)
            if format.value == "md":
                out.write_text(md, encoding="utf-8")
            else:
                from actor.web.export import markdown_pdf

                out.write_bytes(markdown_pdf(md, title="Sessions"))
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"wrote {out}")


@app.command("import")
def import_command(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="a JSON export")) -> None:
    """Import sessions exported as JSON (ids, times, branches, overrides and comments as they were)."""
    import json

    from actor import review

    data = json.loads(path.read_text(encoding="utf-8"))
    db = _database()
    for item in data if isinstance(data, list) else [data]:
        try:
            console.print(f"imported {review.import_session(db, item)}")
        except (ValueError, KeyError, TypeError) as exc:
            console.print(f"[red]not imported: {exc}[/red]", highlight=False)
            raise typer.Exit(2) from exc


judgement_app = typer.Typer(no_args_is_help=True, help="The judgement heads (fitted on the labelled bank and reviewers' overrides).")
app.add_typer(judgement_app, name="judgement")


@judgement_app.command("fit")
def judgement_fit(
    out: Path = typer.Option(None, help="where to save the heads (default: $ACTOR_HOME/judgement/heads.json, which the app loads before the shipped ones)"),
    overrides: bool = typer.Option(True, help="add reviewers' overrides from the database as labels"),
    compare: bool = typer.Option(True, help="print scenario-held-out figures before and after (a few minutes)"),
) -> None:
    """Refit the judgement heads on the bank plus reviewers' overrides and save them.

    Prints the scenario-held-out accuracy per criterion of the bank alone and of the bank plus
    the overrides (the overrides only ever join the training side). The app keeps its loaded
    heads until it is restarted; nothing is written until the new heads are complete.
    """
    from actor.embeddings import E5Embeddings
    from actor.judgement.bank import CRITERIA, load_bank
    from actor.judgement.features import Featurizer
    from actor.judgement.heads import fit_heads
    from actor.judgement.judge import criterion_hash
    from actor.judgement.learn import override_rows, rows_sha256
    from actor.judgement.measure import holdout
    from actor.evaluator import default_rubric

    settings = load_settings()
    rows, bank_sha = load_bank()
    extra = override_rows(_database()) if overrides else []
    console.print(f"bank: {len(rows)} rows (sha256 {bank_sha[:12]}); reviewer overrides: {len(extra)}")
    featurizer = Featurizer(E5Embeddings(), Path(settings.home) / "judgement" / "embeddings-e5-small.npz")
    if compare:
        before, _ = holdout(rows, featurizer, progress=lambda m: None)
        after, _ = holdout(rows, featurizer, progress=lambda m: None, extra_train=extra) if extra else (before, None)
        console.print(f"{'criterion':<22} {'before':>7} {'after':>7}   (scenario-held-out accuracy on the bank)")
        for cid in CRITERIA:
            console.print(f"{cid:<22} {before['criteria'][cid]['accuracy']:>7.3f} {after['criteria'][cid]['accuracy']:>7.3f}")
        console.print(f"{'move':<22} {before['move']['accuracy']:>7.3f} {after['move']['accuracy']:>7.3f}")
    rubric = default_rubric()
    heads = fit_heads(rows + extra, featurizer, bank_sha, rows_sha256(extra), progress=console.print,
                      extra={"criterion_sha256": {c.id: criterion_hash(rubric, c.id) for c in rubric.criteria}})
    featurizer.save_cache()
    target = out or Path(settings.home) / "judgement" / "heads.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    heads.save(target)
    console.print(f"saved {target} ({len(rows) + len(extra)} rows); restart the app to use them")


if __name__ == "__main__":  # pragma: no cover
    app()
