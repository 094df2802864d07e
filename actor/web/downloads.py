"""Downloads that only the user they were made for can fetch.

Exports and debriefs are never written to a folder the web server serves. A handler that made
a file for the logged-in user calls :meth:`Downloads.offer`, which keeps the bytes in memory for
a short time (ten minutes by default) under a random 256-bit token and returns the link
``download/<token>``. The route :meth:`Downloads.route` answers ``GET /download/<token>`` only
for that same user, while their role still allows it; anything else (an unknown or expired
token, another user, nobody logged in) gets the same 404. Files are sent as attachments with
``Cache-Control: no-store`` and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from actor.auth import Users

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "md": "text/markdown; charset=utf-8",
               "pdf": "application/pdf"}
NOT_FOUND = "This download does not exist, has expired or is not yours: make it again in the app."


@dataclass(frozen=True)
class Offer:
    """One file on offer: its bytes, the name the browser saves it as, who may fetch it
    (``owner``; ``None`` when the app runs without login), the roles that still may
    (``None``: any role), and when it expires (``clock()`` seconds)."""

    data: bytes
    filename: str
    owner: str | None
    roles: tuple[str, ...] | None
    expires: float


def gradio_user(request: Request) -> str | None:
    """The user logged in to the Gradio app that handles ``request`` (Gradio's login cookie
    looked up in the app's token table, as its ``/gradio_api/user`` route does); ``None`` when
    nobody is."""
    app = request.scope.get("app")
    cookie_id, tokens = getattr(app, "cookie_id", None), getattr(app, "tokens", None)
    if cookie_id is None or tokens is None:
        return None
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token) if token else None


class Downloads:
    """Files on offer for ``ttl`` seconds, at most ``max_bytes`` in all (the oldest go first)."""

    def __init__(self, users: Users, ttl: float = 600.0, max_bytes: int = 256 * 2**20,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users, self.ttl, self.max_bytes, self.clock = users, ttl, max_bytes, clock
        self._offers: dict[str, Offer] = {}
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for token in [t for t, o in self._offers.items() if o.expires <= now]:
            del self._offers[token]
        total = sum(len(o.data) for o in self._offers.values())
        for token in sorted(self._offers, key=lambda t: self._offers[t].expires):
            if total <= self.max_bytes:
                break
            total -= len(self._offers.pop(token).data)

    def offer(self, data: bytes, filename: str, owner: str | None, roles: tuple[str, ...] | None = None) -> str:
        """Keep ``data`` for ``owner`` and return its link, ``download/<token>`` (relative, so it
        works under a reverse proxy's path prefix). ``filename``: ASCII, with an extension of
        :data:`MEDIA_TYPES`."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._offers[token] = Offer(data, filename, owner, roles, now + self.ttl)
            self._expire(now)
        return f"download/{token}"

    def fetch(self, token: str, user: str | None) -> Offer | None:
        """The offer behind ``token`` if ``user`` may have it now, else ``None``. With a login
        required: ``user`` must be the owner and still exist with one of the offer's roles."""
        with self._lock:
            self._expire(self.clock())
            offer = self._offers.get(token)
        if offer is None:
            return None
        if self.users.required():
            role = self.users.role(user)
            if user is None or user != offer.owner or role is None or (offer.roles is not None and role not in offer.roles):
                return None
        return offer

    async def _serve(self, request: Request) -> Response:
        offer = self.fetch(request.path_params["token"], gradio_user(request))
        if offer is None:
            return PlainTextResponse(NOT_FOUND, status_code=404, headers={"Cache-Control": "no-store"})
        extension = offer.filename.rsplit(".", 1)[-1]
        return Response(offer.data, media_type=MEDIA_TYPES.get(extension, "application/octet-stream"), headers={
            "Content-Disposition": f'attachment; filename="{offer.filename}"', "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff"})

    def route(self) -> Route:
        """The Starlette route ``GET /download/{token}`` (for the app's ``app_kwargs``)."""
        return Route("/download/{token}", self._serve, methods=["GET"])
