"""The web app: the rehearsal service (sessions, storage, background grading) and the Gradio pages."""

from actor.web.service import ForegroundGate, RehearsalService, SessionNotFound

__all__ = ["ForegroundGate", "RehearsalService", "SessionNotFound"]
