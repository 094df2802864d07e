"""The whole web app: the rehearsal room; the review workspace for reviewers and trainers; the
scenario, persona and rubric editor for trainers.

``build_app(service, db, users, export_dir) -> gr.Blocks``. When ``users`` has at least one
user, :func:`launch` asks for a login (Gradio's login form, checked against the scrypt hashes
of :mod:`actor.auth`); the review tab is shown only to reviewers and trainers, the editor only
to trainers.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from actor.auth import Users
from actor.db import Database
from actor.web.reviewer import build_reviewer, may_review
from actor.web.service import RehearsalService
from actor.web.trainer import build_trainer, may_train
from actor.web.trainee import CSS, build_trainee


def build_app(service: RehearsalService, db: Database, users: Users, export_dir: Path, footer: str = "") -> gr.Blocks:
    """The Blocks app; ``footer``: Markdown shown in a closed accordion at the bottom."""
    with gr.Blocks(title="The training actor") as demo:
        with gr.Tabs():
            with gr.Tab("Rehearse", id="rehearse"):
                build_trainee(demo, service, export_dir, users)
            with gr.Tab("Review", id="review", visible=False) as review_tab:
                build_reviewer(db, users, export_dir, lambda: service.bench.scenarios)
            with gr.Tab("Scenarios & rubric", id="train", visible=False) as train_tab:
                build_trainer(db, users, service.bench)
        who = gr.Markdown()
        if footer:
            with gr.Accordion("This installation", open=False):
                gr.Markdown(footer)

        def on_load(request: gr.Request):
            name = getattr(request, "username", None)
            role = users.role(name)
            line = f"Logged in as **{name}** ({role}) · [log out](/logout)" if name else ""
            return gr.update(visible=may_review(users, request)), gr.update(visible=may_train(users, request)), line

        demo.load(on_load, None, [review_tab, train_tab, who])
    return demo


def launch(demo: gr.Blocks, users: Users, host: str, port: int, export_dir: Path) -> None:
    """Serve ``demo``: with a login when there are users, the sessions' queue unbounded by Gradio
    (sessions wait on the model's lock instead), downloads from ``export_dir`` only."""
    demo.queue(default_concurrency_limit=32)
    print(f"serving on http://{host}:{port}", flush=True)
    demo.launch(server_name=host, server_port=port, css=CSS, allowed_paths=[str(export_dir)],
                auth=users.login if users.required() else None, quiet=True, footer_links=["gradio"],
                auth_message="The training actor / de trainingsacteur: log in with the name and password you were given.")
