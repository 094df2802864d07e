"""Gradio entry point: ``python app.py`` serves the training actor on http://127.0.0.1:7860.

Host and port come from ``ACTOR_APP_HOST`` / ``ACTOR_APP_PORT``; sessions are stored in
``ACTOR_DATABASE_URL`` (default: a SQLite file in ``ACTOR_HOME``). The page is the rehearsal
room (:mod:`actor.web.trainee`); nothing here holds conversation state: each session lives in
the service and the database, and its id travels in the URL (``?session=<id>``). Downloads
(debriefs, exports) are offered per user through ``/download/<token>``; no folder is served.
Logins, lockouts and refusals are logged to standard error (logger ``actor.auth``).
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # private by default: no usage pings

import gradio as gr  # noqa: E402

from actor.config import Settings, load_settings  # noqa: E402
from actor.llm import model_id  # noqa: E402
from actor.llm.modelfile import EMBEDDED_MODEL  # noqa: E402


def status_markdown(settings: Settings) -> str:
    """A Markdown summary of the installation (backends, model file, data folder)."""
    cached = settings.model_cache_dir / EMBEDDED_MODEL.filename
    model_state = (
        f"`{settings.local_model_path}` (own GGUF)" if settings.local_model_path
        else f"`{cached}` ({'ready' if cached.is_file() else 'assembled on first use'})"
    )
    return "\n".join(
        [
            "### This installation",
            f"- customer (persona): {settings.persona.backend} backend, {model_id('persona', settings)}",
            f"- grader (evaluator): {settings.evaluator.backend} backend, {model_id('evaluator', settings)}",
            f"- embedded model file: {model_state}",
            f"- data folder: `{settings.home}`",
            "",
        ]
    )


def build(settings: Settings, knowledge_status: str = "", service=None) -> tuple[gr.Blocks, object, object]:
    """The Gradio app for ``settings``, its :class:`~actor.auth.Users` and its
    :class:`~actor.web.downloads.Downloads`.

    ``service``: a :class:`~actor.web.RehearsalService` (built from ``settings`` when omitted:
    loads the embedding model, warms up the models, opens and migrates the database).
    """
    from actor.auth import Users
    from actor.db import Database, default_url
    from actor.session import Workbench
    from actor.web import RehearsalService
    from actor.web.app import build_app
    from actor.web.downloads import Downloads

    db = service.db if service is not None else Database.open(settings.database_url or default_url(settings.home))
    if service is None:
        bench = Workbench.from_settings(settings)
        print(f"models warmed up in {bench.warm_up():.1f} s", flush=True)
        # one grading worker for the embedded model (the cores are shared with the customer);
        # remote endpoints serve requests in parallel
        workers = 1 if settings.evaluator.backend == "local" else 8
        service = RehearsalService(bench, db, workers)
    users = Users(db)
    downloads = Downloads(users)
    footer = status_markdown(settings) + (f"\n- {knowledge_status}" if knowledge_status else "")
    return build_app(service, db, users, downloads, footer), users, downloads


def prepare_knowledge(settings: Settings) -> str:
    """Ingest the course material when the store is empty or stale; return a status line.

    An invalid course file does not stop the app: the error is shown on the page and in the log.
    """
    from actor.embeddings import E5Embeddings
    from actor.knowledge import KnowledgeFileError, ingest, is_stale

    embeddings = E5Embeddings()
    try:
        if is_stale(settings, embeddings):
            print(f"course material changed or not yet ingested: ingesting {settings.knowledge_dir}", flush=True)
            return f"course material ingested: {ingest(settings, embeddings)}"
        return "course material: up to date"
    except (KnowledgeFileError, FileNotFoundError) as exc:
        print(f"invalid course material: {exc}", flush=True)
        return f"**invalid course material**: {exc}"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("actor").setLevel(logging.INFO)
    settings = load_settings()
    knowledge_status = prepare_knowledge(settings)
    print(knowledge_status, flush=True)
    from actor.web.app import launch

    demo, users, downloads = build(settings, knowledge_status)
    if users.required():
        print("login required (users exist; add more with `actor user add`)", flush=True)
    launch(demo, users, downloads, settings.app_host, settings.app_port)


if __name__ == "__main__":
    main()
