"""The whole web app: the rehearsal room; the review workspace for reviewers and trainers; the
scenario, persona and rubric editor for trainers.

``build_app(service, db, users, downloads) -> gr.Blocks``. When ``users`` has at least one
user, :func:`launch` asks for a login (Gradio's login form, checked against the scrypt hashes
of :mod:`actor.auth` through its login brake); the review tab is shown only to reviewers and
trainers, the editor only to trainers, the installation details (which name the data folder)
only to reviewers and trainers. Files are offered through :class:`~actor.web.downloads.Downloads`
(``GET /download/<token>``, for the user they were made for); no folder is served.
"""

from __future__ import annotations

import gradio as gr
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from actor.auth import Users, client_address
from actor.db import Database
from actor.web import render
from actor.web.downloads import Downloads
from actor.web.reviewer import build_reviewer, may_review
from actor.web.service import RehearsalService
from actor.web.trainer import build_trainer, may_train
from actor.web.trainee import CSS, build_trainee


def build_app(service: RehearsalService, db: Database, users: Users, downloads: Downloads, footer: str = "") -> gr.Blocks:
    """The Blocks app; ``footer``: Markdown shown to reviewers and trainers (and everyone when
    nobody logs in) in a closed accordion at the bottom."""
    with gr.Blocks(title="The training actor") as demo:
        with gr.Tabs():
            with gr.Tab("Rehearse", id="rehearse"):
                build_trainee(demo, service, downloads)
            with gr.Tab("Review", id="review", visible=False) as review_tab:
                build_reviewer(db, users, downloads, lambda: service.bench.scenarios)
            with gr.Tab("Scenarios & rubric", id="train", visible=False) as train_tab:
                build_trainer(db, users, service.bench)
        who = gr.Markdown()
        with gr.Accordion("This installation", open=False, visible=False) as footer_box:
            footer_text = gr.Markdown()  # filled per user on load: the page's config reaches everyone

        def on_load(request: gr.Request):
            name = getattr(request, "username", None)
            role = users.role(name)
            line = f"Logged in as **{render.text(name)}** ({role}) · [log out](/logout)" if name else ""
            staff = may_review(users, request)
            return (gr.update(visible=staff), gr.update(visible=may_train(users, request)), line,
                    gr.update(visible=staff and bool(footer)), footer if staff else "")

        demo.load(on_load, None, [review_tab, train_tab, who, footer_box, footer_text])
    return demo


class ClientAddress:
    """ASGI middleware: sets :data:`actor.auth.client_address` to the request's client address
    (as the server saw it: uvicorn takes it from ``X-Forwarded-For`` only for trusted proxies)
    for the login brake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = client_address.set(client[0] if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(token)


def launch(demo: gr.Blocks, users: Users, downloads: Downloads, host: str, port: int) -> None:
    """Serve ``demo``: with a login when there are users (checked by
    :meth:`~actor.auth.Users.authenticate`), the sessions' queue unbounded by Gradio (sessions
    wait on the model's lock instead), ``GET /download/<token>`` for offered files, no folder
    served."""
    demo.queue(default_concurrency_limit=32)
    print(f"serving on http://{host}:{port}", flush=True)
    demo.launch(server_name=host, server_port=port, css=CSS, allowed_paths=[],
                auth=users.authenticate if users.required() else None, quiet=True, footer_links=["gradio"],
                auth_message="The training actor / de trainingsacteur: log in with the name and password you were given.",
                app_kwargs={"routes": [downloads.route()], "middleware": [Middleware(ClientAddress)]})
