"""Typed refusals: a request the service turns down before anything changes, named by a code.

The session and the service raise :class:`Refusal` (``Refusal("reply_too_long", length=1120, limit=1000)``);
and the page shows :func:`message` of it in the session's language, looked up by the code in
:data:`MESSAGES` (never by reading the English text). ``str(refusal)`` is the English message,
so logs, the command line and ``pytest.raises(ValueError, match=...)`` read as before.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "nl": {
        "empty_reply": "Leeg antwoord: typ wat je tegen de klant zou zeggen.",
        "reply_too_long": "Te lang antwoord ({length} tekens; hoogstens {limit}): zeg het korter, zoals je het hardop zou zeggen.",
        "conversation_ended": "Het gesprek is afgelopen: bekijk de nabespreking of begin een nieuw gesprek.",
        "conversation_paused": "Het gesprek is gepauzeerd: hervat het om verder te gaan.",
        "busy": "De klant is nog aan het antwoorden op je vorige antwoord.",
        "no_such_turn": "Er is geen beurt {number} om opnieuw te doen.",
        "pick_turn": "Kies de beurt die je opnieuw wilt beantwoorden.",
        "no_turns": "Geef eerst minstens één antwoord voor je om een nabespreking vraagt.",
        "no_session": "Begin eerst een gesprek.",
        "session_not_found": "Dat gesprek bestaat niet of is niet van jou.",
        "bad_mode": "Onbekende modus {mode!r}: kies oefenen of toetsen.",
        "bad_status": "Onbekende status {status!r}.",
    },
    "en": {
        "empty_reply": "empty reply: type what you would say to the customer",
        "reply_too_long": "reply too long ({length} characters; at most {limit}): say it shorter, as you would out loud",
        "conversation_ended": "the conversation is {status}; look at the debrief or start a new one",
        "conversation_paused": "the conversation is paused; resume it to go on",
        "busy": "the customer is still answering your previous reply",
        "no_such_turn": "there is no turn {number} to retry",
        "pick_turn": "Pick the turn you want to answer again.",
        "no_turns": "Reply at least once before asking for a debrief.",
        "no_session": "Start a conversation first.",
        "session_not_found": "That session does not exist or is not yours.",
        "bad_mode": "mode must be 'practice' or 'assessment', got {mode!r}",
        "bad_status": "status must be active, paused, ended or stopped, got {status!r}",
    },
}
"""Per language, per refusal code: the message, a ``str.format`` template over the refusal's
parameters. Every code has a message in every language (checked by the tests)."""


class Refusal(ValueError):
    """A request refused before anything changed.

    ``code``: a key of :data:`MESSAGES` (``empty_reply``, ``reply_too_long`` with ``length`` and
    ``limit``, ``conversation_ended`` with ``status``, ``conversation_paused``, ``busy``,
    ``no_such_turn`` with ``number``, ``no_turns``, ``bad_mode`` with ``mode``, ``bad_status``
    with ``status``); ``params``: the values its message names. A ``ValueError``, so callers that
    caught the service's ``ValueError`` before still do. Raises ``KeyError`` for an unknown code.
    """

    def __init__(self, code: str, **params) -> None:
        if code not in MESSAGES["en"]:
            raise KeyError(f"unknown refusal code {code!r}")
        self.code = code
        self.params = params
        super().__init__(MESSAGES["en"][code].format(**params))


def message(exc: BaseException, lang: str) -> str:
    """What the trainee reads for ``exc`` in ``lang`` (``nl``/``en``; another language reads
    English): the :data:`MESSAGES` entry of its ``code`` (a :class:`Refusal`, or any exception
    with a ``code`` attribute such as :class:`~actor.web.service.SessionNotFound`) filled with
    its ``params``; for an exception without a known code its own text."""
    code = getattr(exc, "code", None)
    table = MESSAGES.get(lang, MESSAGES["en"])
    if code in table:
        return table[code].format(**getattr(exc, "params", {}))
    return str(exc)

