"""Downloads: a debrief or transcript as Markdown and as PDF (fpdf2's HTML renderer)."""

from __future__ import annotations

import markdown
from fpdf import FPDF

_REPLACE = {"€": "EUR ", "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "✓": "+", "✗": "x", "→": "->"}


def _latin1(text: str) -> str:
    """The PDF's core font is Latin-1: map the few common characters outside it, drop the rest."""
    for char, repl in _REPLACE.items():
        text = text.replace(char, repl)
    return text.encode("latin-1", "replace").decode("latin-1")


def markdown_pdf(text: str, title: str = "") -> bytes:
    """``text`` (Markdown) rendered as an A4 PDF; returns the file's bytes."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(title))
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.write_html(markdown.markdown(_latin1(text), extensions=["tables"]))
    return bytes(pdf.output())
