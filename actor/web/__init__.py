"""The web app: the rehearsal service (sessions, storage, background grading) and the Gradio pages."""

from actor.refusals import Refusal
from actor.web.service import ForegroundGate, RehearsalService, SessionNotFound, SessionView

__all__ = ["ForegroundGate", "Refusal", "RehearsalService", "SessionNotFound", "SessionView"]
