"""The trainer workspace (Gradio): edit the files the app uses (scenarios, the customer's
prompt, the rubric, the feedback and debrief prompts) with validation shown inline (an invalid
save changes nothing on disk), preview the customer's prompt as the model will see it, read every
saved version, try a text against scripted trainees, and run an A/B comparison of two versions
with the actor's figures.

Only trainers (or everyone when the app runs without login) may use it. Files only the
evaluation harness reads are not offered (see :data:`actor.prompt_files.FILES`). Validation is
the loader's own (:func:`actor.prompt_files.validate`: required fields, unknown keys, allowed and
required placeholders). After a save the workbench reloads the prompt files
(:meth:`actor.session.Workbench.reload_prompts`): sessions started afterwards use the new
version, and a new rubric applies to every turn judged from then on. A text longer than
:data:`MAX_FILE_BYTES` is refused before it is parsed, with the limit in the message. Prompts,
transcripts and validation messages are shown as text (:func:`actor.web.render.text`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from actor import prompt_files, trial
from actor.auth import Users
from actor.db import Database
from actor.evaluator.rubric import PROMPTS_DIR
from actor.persona.actor import Actor, Utterance
from actor.persona.state import initial_state
from actor.web.render import text as as_text

MAX_FILE_BYTES = 64_000  # the largest shipped file is under 8 kB


def size_problems(text: str) -> list[str]:
    """``[message]`` when ``text`` is longer than :data:`MAX_FILE_BYTES` in UTF-8, else ``[]``."""
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_FILE_BYTES:
        return [f"the text is {size:,} bytes; an editable file may have at most {MAX_FILE_BYTES:,} bytes "
                f"({MAX_FILE_BYTES // 1000} kB)"]
    return []


def problems_of(path: str, text: str) -> list[str]:
    """The size problem of ``text``, else its validation problems as the file ``path`` (empty =
    valid); an over-long text is not parsed."""
    return size_problems(text) or prompt_files.validate(path, text)


def save_edit(path: str, text: str, author: str, db: Database, bench, root: Path = PROMPTS_DIR) -> str:
    """Save a trainer's edit of ``path`` (relative to ``root``) and reload the prompt files
    (``bench.reload_prompts()``); returns the new version's sha256. Raises
    :class:`actor.prompt_files.PromptFileError` (a ``ValueError``) whose ``problems`` name what
    is wrong (too long, a missing field, an unknown key or placeholder, a missing placeholder,
    a ``sha256`` key, a file the app does not use): the file, the stored versions and the
    workbench are then unchanged."""
    problems = problems_of(path, text)
    if problems:
        raise prompt_files.PromptFileError(problems)
    sha = prompt_files.save(path, text, author, db, root)
    bench.reload_prompts()
    return sha


def may_train(users: Users, request: gr.Request | None) -> bool:
    """Trainers may; everyone may when nobody has to log in."""
    return not users.required() or users.role(getattr(request, "username", None)) == "trainer"


def preview(path: str, text: str, bench) -> str:
    """The customer's prompt for the first turn of a session (medium difficulty, Dutch), as the
    model will see it: for a scenario file with ``text`` as that scenario, for the customer's
    prompt file with the counter scenario. Other files have no preview. Raises
    :class:`~actor.prompt_files.PromptFileError` for an invalid text."""
    if path.startswith("scenarios/"):
        scenario = prompt_files.parse(path, text)
    elif path == "persona/customer.yaml":
        scenario = bench.scenarios.get("counter") or next(iter(bench.scenarios.values()))
    else:
        return "_No preview for this file: it does not shape the customer's prompt._"
    actor = Actor(bench.persona_model, scenario, "nl", bench.retriever)
    if path == "persona/customer.yaml":
        actor.prompt = prompt_files.parse(path, text).nl
    state = initial_state(scenario.difficulties["medium"])
    history = [Utterance("customer", scenario.opening_line("nl"))]
    history.append(Utterance("employee", "Goedemiddag, wat kan ik voor u doen?"))
    examples, tactic, mood_level = actor.upcoming(history[:-1], state)
    messages = actor.messages(history, state, tactic, examples, mood_level=mood_level)
    system, user = messages[0], messages[-1]
    return (f"**system**\n\n{as_text(system.text)}\n\n**user** (last turn; tactic *{as_text(tactic)}*, level L{state.level})\n\n"
            f"{as_text(user.text)}")


def run_version(bench, path: str, text: str, names: list[str], difficulty: str) -> tuple[list[dict], str]:
    """Play the scripted trainees ``names`` against ``text`` as the file ``path`` (a scenario or
    the customer's prompt): ``(figures per script, the transcripts as Markdown)``. Raises
    :class:`~actor.prompt_files.PromptFileError` (a ``ValueError`` with ``problems``) for
    another kind of file, a text over :data:`MAX_FILE_BYTES` or an invalid text. The transcripts show every line as text."""
    problems = problems_of(path, text)
    if problems:
        raise prompt_files.PromptFileError(problems)
    edited = prompt_files.parse(path, text)  # the model the app would load from this text
    available = trial.scripts()
    results, parts = [], []
    for name in names:
        scenario_id, lang, _ = name.split("-")
        if path.startswith("scenarios/"):
            if scenario_id != Path(path).stem:
                continue
            session = trial.play(bench, scenario_id, lang, difficulty, trial.load_script(available[name]),
                                 scenario=edited)
        elif path == "persona/customer.yaml":
            session = trial.play(bench, scenario_id, lang, difficulty, trial.load_script(available[name]),
                                 persona_prompt=getattr(edited, lang))
        else:
            raise prompt_files.PromptFileError(["only scenarios and the customer's prompt can be tried out"])
        results.append({"script": name, **trial.figures(session)})
        lines = [f"**{as_text(name)}** — final L{session.state.level} ({as_text(session.state.outcome or 'open')})", "",
                 f"- customer: {as_text(session.opening.text)}"]
        for t in session.turns:
            lines.append(f"- trainee: {as_text(t.reply)} · *move {as_text(t.move)}, "
                         f"L{t.state_before.level}→L{t.state_after.level}*")
            if t.answer:
                lines.append(f"- customer ({as_text(t.answer.path)}): {as_text(t.answer.text)}")
        parts.append("\n".join(lines))
    return results, "\n\n".join(parts)


def figures_table(columns: dict[str, list[dict]]) -> pd.DataFrame:
    """The actor's figures per version, side by side (rows: measures; columns: versions)."""
    rows = {"in character (guard, first draft)": [], "in character (shown lines)": [], "right language": [],
            "median words per line": [], "fallback rate": [], "final levels": []}
    for results in columns.values():
        total = trial.summary(results) if results else {}
        rows["in character (guard, first draft)"].append(f"{total.get('in_character_first_draft', 0):.0%}")
        rows["in character (shown lines)"].append(f"{total.get('in_character_shown', 0):.0%}")
        rows["right language"].append(f"{total.get('right_language', 0):.0%}")
        rows["median words per line"].append(str(total.get("median_words")))
        rows["fallback rate"].append(f"{total.get('fallback_rate', 0):.0%}")
        rows["final levels"].append(", ".join(f"{r['script']}: L{r['final_level']}" for r in results))
    return pd.DataFrame([[k, *v] for k, v in rows.items()], columns=["measure", *columns])


def build_trainer(db: Database, users: Users, bench) -> None:
    """The workspace's components and events, inside the caller's ``gr.Blocks``/``gr.Tab``."""
    files = prompt_files.editable()
    gr.Markdown("### Scenarios, personas and the rubric\nPick a file, edit it, validate, save. "
                "Nothing invalid is saved; every saved version is kept, and new sessions use the saved one.")
    with gr.Row():
        path = gr.Dropdown(files, value=files[0] if files else None, label="File", scale=3, elem_id="trainer-file")
        load = gr.Button("Load", scale=1)
    editor = gr.Code(language="yaml", label="Content", lines=24, elem_id="trainer-editor")
    with gr.Row():
        check = gr.Button("Validate")
        save = gr.Button("Save", variant="primary", elem_id="trainer-save")
        show_preview = gr.Button("Preview the customer's prompt")
    status = gr.Markdown(elem_id="trainer-status", latex_delimiters=[])
    prompt_preview = gr.Markdown(elem_id="trainer-preview", latex_delimiters=[])
    with gr.Row():
        versions = gr.Dropdown([], label="Saved versions", scale=3)
        show_version = gr.Button("Show this version", scale=1)
    version_text = gr.Code(language="yaml", label="Version (read only)", interactive=False, lines=12)

    gr.Markdown("### Try it\nPlay scripted trainees against the text in the editor (*Try it*), or against a saved "
                "version (A) and the editor's text (B) side by side (*A/B run*). On the embedded model a script "
                "takes about a minute.")
    with gr.Row():
        script_names = gr.CheckboxGroup(list(trial.scripts()), label="Scripted trainees", scale=3, elem_id="trainer-scripts")
        difficulty = gr.Radio(["easy", "medium", "hard"], value="medium", label="Difficulty", scale=1)
    with gr.Row():
        try_it = gr.Button("Try it", elem_id="trainer-try")
        version_a = gr.Dropdown([], label="Version A (B = the editor)", elem_id="trainer-version-a")
        ab_run = gr.Button("A/B run", elem_id="trainer-ab")
    trial_table = gr.Dataframe(interactive=False, wrap=True, elem_id="trainer-figures")
    trial_transcripts = gr.Markdown(elem_id="trainer-transcripts", latex_delimiters=[])

    def guard(request: gr.Request | None) -> None:
        if not may_train(users, request):
            raise gr.Error("Only trainers may edit scenarios, personas and the rubric.")

    def version_choices(p: str):
        return gr.update(choices=[(f"{v.created_at:%Y-%m-%d %H:%M} · {v.author} · {v.sha256[:12]}", v.id)
                                  for v in db.prompt_versions(p)], value=None)

    def on_load(p, request: gr.Request):
        guard(request)
        choices = version_choices(p)
        scenario_id = Path(p).stem if p.startswith("scenarios/") else None
        default_scripts = [n for n in trial.scripts(scenario_id, "nl") if n.endswith(("-skilled", "-unskilled"))][:2]
        return {editor: (PROMPTS_DIR / p).read_text(encoding="utf-8"), status: "", prompt_preview: "", versions: choices,
                version_a: gr.update(choices=[("the file on disk", 0), *choices["choices"]], value=0),
                script_names: gr.update(choices=list(trial.scripts(scenario_id)), value=default_scripts)}

    load_outputs = {editor, status, prompt_preview, versions, version_a, script_names}
    load.click(on_load, path, load_outputs)
    path.change(on_load, path, load_outputs)

    def on_try(p, text, names, level, request: gr.Request, progress=gr.Progress()):
        guard(request)
        if not names:
            raise gr.Error("Pick at least one scripted trainee.")
        try:
            results, transcripts = run_version(bench, p, text, names, level)
        except ValueError as exc:  # an invalid text (its problems), or a script the session refused
            return {trial_transcripts: report(getattr(exc, "problems", None) or [str(exc)])}
        return {trial_table: figures_table({"this text": results}), trial_transcripts: transcripts}

    try_it.click(on_try, [path, editor, script_names, difficulty], {trial_table, trial_transcripts})

    def on_ab(p, text, vid, names, level, request: gr.Request, progress=gr.Progress()):
        guard(request)
        if not names:
            raise gr.Error("Pick at least one scripted trainee.")
        a_text = (PROMPTS_DIR / p).read_text(encoding="utf-8")
        for v in db.prompt_versions(p):
            if vid and v.id == vid:
                a_text = v.content
        try:
            a, a_md = run_version(bench, p, a_text, names, level)
            b, b_md = run_version(bench, p, text, names, level)
        except ValueError as exc:  # an invalid text (its problems), or a script the session refused
            return {trial_transcripts: report(getattr(exc, "problems", None) or [str(exc)])}
        return {trial_table: figures_table({"A": a, "B": b}), trial_transcripts: f"#### A\n\n{a_md}\n\n#### B\n\n{b_md}"}

    ab_run.click(on_ab, [path, editor, version_a, script_names, difficulty], {trial_table, trial_transcripts})

    def report(problems: list[str]) -> str:
        if not problems:
            return "✓ valid"
        return "**Not valid — nothing was saved:**\n" + "\n".join(f"- {as_text(p)}" for p in problems)

    def on_check(p, text, request: gr.Request):
        guard(request)
        return report(problems_of(p, text))

    check.click(on_check, [path, editor], status)

    def on_save(p, text, request: gr.Request):
        guard(request)
        try:
            sha = save_edit(p, text, getattr(request, "username", None) or "trainer", db, bench)
        except prompt_files.PromptFileError as exc:
            return {status: report(exc.problems)}
        return {status: f"✓ saved as version `{sha[:12]}`", versions: version_choices(p)}

    save.click(on_save, [path, editor], {status, versions})

    def on_preview(p, text, request: gr.Request):
        guard(request)
        problems = problems_of(p, text)
        if problems:
            return report(problems)
        return preview(p, text, bench)

    show_preview.click(on_preview, [path, editor], prompt_preview)

    def on_version(vid, p, request: gr.Request):
        guard(request)
        for v in db.prompt_versions(p):
            if v.id == vid:
                return v.content
        raise gr.Error("Pick a saved version first.")

    show_version.click(on_version, [versions, path], version_text)
