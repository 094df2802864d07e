"""The trainer workspace (Gradio): edit scenarios, the customer's prompt, the rubric and the
evaluator's files with validation shown inline (an invalid save changes nothing on disk),
preview the customer's prompt as the model will see it, and read every saved version.

Only trainers (or everyone when the app runs without login) may use it. A saved scenario is used
by sessions started afterwards; the other files take effect for new sessions (the customer's
prompt) or after a restart (rubric, evaluator prompts, move examples).
"""

from __future__ import annotations

import html

import gradio as gr
import yaml

from actor import prompt_files
from actor.auth import Users
from actor.db import Database
from actor.evaluator.rubric import PROMPTS_DIR
from actor.persona.actor import Actor, Utterance, pick_tactic
from actor.persona.scenario import Scenario, load_scenarios
from actor.persona.state import initial_state


def may_train(users: Users, request: gr.Request | None) -> bool:
    """Trainers may; everyone may when nobody has to log in."""
    return not users.required() or users.role(getattr(request, "username", None)) == "trainer"


def preview(path: str, text: str, bench) -> str:
    """The customer's prompt for the first turn of a session (medium difficulty, Dutch), as the
    model will see it: for a scenario file with ``text`` as that scenario, for the customer's
    prompt file with the counter scenario. Other files have no preview."""
    if path.startswith("scenarios/"):
        scenario = Scenario.model_validate(yaml.safe_load(text))
    elif path == "persona/customer.yaml":
        scenario = bench.scenarios.get("counter") or next(iter(bench.scenarios.values()))
    else:
        return "_No preview for this file: it does not shape the customer's prompt._"
    actor = Actor(bench.persona_model, scenario, "nl", bench.retriever)
    if path == "persona/customer.yaml":
        from actor.persona.actor import PersonaPrompt

        actor.prompt = PersonaPrompt.model_validate(yaml.safe_load(text)["nl"])
    state = initial_state(scenario.difficulties["medium"])
    tactic = pick_tactic(state)
    history = [Utterance("customer", scenario.opening_line("nl")), Utterance("employee", "Goedemiddag, wat kan ik voor u doen?")]
    system, user = actor.messages(history, state, tactic, actor.examples(tactic, state))
    return (f"**system**\n<pre>{html.escape(system.text)}</pre>\n\n**user** (tactic *{tactic}*, level L{state.level})\n"
            f"<pre>{html.escape(user.text)}</pre>")


def build_trainer(db: Database, users: Users, bench) -> None:
    """The workspace's components and events, inside the caller's ``gr.Blocks``/``gr.Tab``."""
    files = prompt_files.editable()
    gr.Markdown("### Scenarios, personas and the rubric\nPick a file, edit it, validate, save. "
                "Nothing invalid is saved; every saved version is kept.")
    with gr.Row():
        path = gr.Dropdown(files, value=files[0] if files else None, label="File", scale=3, elem_id="trainer-file")
        load = gr.Button("Load", scale=1)
    editor = gr.Code(language="yaml", label="Content", lines=24, elem_id="trainer-editor")
    with gr.Row():
        check = gr.Button("Validate")
        save = gr.Button("Save", variant="primary", elem_id="trainer-save")
        show_preview = gr.Button("Preview the customer's prompt")
    status = gr.Markdown(elem_id="trainer-status")
    prompt_preview = gr.Markdown(elem_id="trainer-preview")
    with gr.Row():
        versions = gr.Dropdown([], label="Saved versions", scale=3)
        show_version = gr.Button("Show this version", scale=1)
    version_text = gr.Code(language="yaml", label="Version (read only)", interactive=False, lines=12)

    def guard(request: gr.Request | None) -> None:
        if not may_train(users, request):
            raise gr.Error("Only trainers may edit scenarios, personas and the rubric.")

    def version_choices(p: str):
        return gr.update(choices=[(f"{v.created_at:%Y-%m-%d %H:%M} · {v.author} · {v.sha256[:12]}", v.id)
                                  for v in db.prompt_versions(p)], value=None)

    def on_load(p, request: gr.Request):
        guard(request)
        return (PROMPTS_DIR / p).read_text(encoding="utf-8"), "", "", version_choices(p)

    load.click(on_load, path, [editor, status, prompt_preview, versions])
    path.change(on_load, path, [editor, status, prompt_preview, versions])

    def report(problems: list[str]) -> str:
        if not problems:
            return "✓ valid"
        return "**Not valid — nothing was saved:**\n" + "\n".join(f"- `{html.escape(p)}`" for p in problems)

    def on_check(p, text, request: gr.Request):
        guard(request)
        return report(prompt_files.validate(p, text))

    check.click(on_check, [path, editor], status)

    def on_save(p, text, request: gr.Request):
        guard(request)
        problems = prompt_files.validate(p, text)
        if problems:
            return report(problems), gr.update()
        sha = prompt_files.save(p, text, getattr(request, "username", None) or "trainer", db)
        if p.startswith("scenarios/"):
            bench.scenarios = load_scenarios()  # new sessions use the saved scenario
        return f"✓ saved as version `{sha[:12]}`", version_choices(p)

    save.click(on_save, [path, editor], [status, versions])

    def on_preview(p, text, request: gr.Request):
        guard(request)
        problems = prompt_files.validate(p, text)
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
