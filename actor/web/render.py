"""Text that trainees, customers, models and reviewers wrote, shown in the app and written to
exports: always as text, never as markup.

:func:`text` is the one function every view and every Markdown export uses to put such a string
into the Markdown they build (the chat, the feedback panel, the review transcript, the trainer's
previews and transcripts, the debrief). Its result renders as exactly the characters of the
string in any CommonMark or GFM renderer (Gradio's ``marked``, ``markdown-it-py``): no HTML tag,
no image, link, autolink, heading, list, table, code block or formula can come out of it.

:func:`clean` removes control characters before text is stored; :func:`debrief_markdown`
renders a stored debrief with every free-text field passed through :func:`text`.
"""

from __future__ import annotations

import re
import unicodedata

from actor.evaluator.assessment import Debrief

# Characters that can open inline markup anywhere in a line: code spans, emphasis, links and
# images, raw HTML and autolinks, entities, strikethrough, table cells, formulas, email autolinks.
_INLINE = re.compile(r"([\\`*_\[\]<>&~|$@])")
# GFM's bare autolinks (``www.x`` and ``scheme://x``): break the pattern with an escape.
_WWW = re.compile(r"(?i)\b(www)\.")
_SCHEME = re.compile(r"://")
# Block markers at the start of a line: headings, setext underlines, list bullets, ordered lists.
_LINE_START = re.compile(r"^([#=+\-])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")


def text(value: str | None) -> str:
    """Markdown source that renders as the characters of ``value`` (``None`` → ``""``).

    Every ASCII character that could start inline markup is backslash-escaped, as are block
    markers at the start of a line; indentation becomes no-break spaces (U+00A0, which Markdown
    does not count as indentation, so no code block), a tab four of them; empty lines are
    dropped; line breaks become Markdown hard breaks (a backslash at the end of the line), so the
    result stays inside the paragraph, list item or quote it is put in. Control characters other
    than the line break are removed (see :func:`clean`).
    """
    if not value:
        return ""
    lines = []
    for line in clean(value).split("\n"):
        body = line.strip()
        if not body:
            continue
        indent = line[: len(line) - len(line.lstrip())].expandtabs(4)
        body = _INLINE.sub(r"\\\1", body)
        body = _SCHEME.sub(r"\\://", _WWW.sub(r"\1\\.", body))
        body = _ORDERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", body))
        lines.append("\u00a0" * len(indent) + body)
    return "\\\n".join(lines)


_KEEP = {"\n", "\t"}


def clean(value: str) -> str:
    """``value`` without control characters (Unicode category ``Cc``: NUL, escape sequences,
    DEL, the C1 range), keeping line breaks and tabs; ``\\r\\n`` and lone ``\\r`` become
    ``\\n``. Used on everything a person or a model types before it is stored (PostgreSQL
    refuses NUL in text) and before it is rendered."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in value if ch in _KEEP or unicodedata.category(ch) != "Cc")


def debrief_markdown(debrief: Debrief | dict) -> str:
    """The debrief as Markdown (the evaluator's layout) with the quoted words, reasons, better
    phrasings and the next exercise passed through :func:`text`. ``debrief``: a
    :class:`~actor.evaluator.assessment.Debrief` or its stored ``model_dump()``; a stored debrief
    this version cannot read is shown as its stored Markdown, through :func:`text`."""
    from pydantic import ValidationError

    from actor.evaluator.debrief import render_markdown
    from actor.evaluator.rubric import default_rubric

    if isinstance(debrief, dict):
        try:
            d = Debrief.model_validate(debrief)
        except ValidationError:
            return text(str(debrief.get("markdown") or ""))
    else:
        d = debrief
    safe = d.model_copy(update={
        "best": [m.model_copy(update={"quote": text(m.quote), "why": text(m.why)}) for m in d.best],
        "worst": [m.model_copy(update={"quote": text(m.quote), "why": text(m.why)}) for m in d.worst],
        "improvements": [i.model_copy(update={"said": text(i.said), "better": text(i.better)}) for i in d.improvements],
        "next_exercise": text(d.next_exercise),
    })
    return render_markdown(safe, default_rubric())
