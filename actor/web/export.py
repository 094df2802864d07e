"""PDF downloads (debriefs and transcripts), written from text.

The Markdown the app builds (trainee and customer text inside it already passed through
:func:`actor.web.render.text`) is parsed with ``markdown-it-py`` with raw HTML off, and its
headings, paragraphs, lists, quotes and emphasis are drawn with fpdf2's text primitives: no
HTML renderer, no image, file or URL is ever loaded. The font is DejaVu Sans, embedded (only
the glyphs used): €, ő, Arabic (shaped right to left by HarfBuzz) and most symbols print as
they are; a character the font has no glyph for is printed as U+FFFD "�", never dropped.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fpdf import FPDF
from markdown_it import MarkdownIt
from markdown_it.token import Token

FAMILY = "DejaVuSans"
STYLES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf", "BI": "DejaVuSans-BoldOblique.ttf"}
SYSTEM_FONTS = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core
REPLACEMENT = "\ufffd"
SIZES = {"h1": 17, "h2": 14, "h3": 12, "h4": 11, "h5": 11, "h6": 11}
BODY = 10.5
INDENT = 6  # mm per list or quote level
_PARSER = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def font_dir() -> Path:
    """The folder holding the DejaVu Sans TTF files: the copy matplotlib ships (a dependency),
    else Debian's ``fonts-dejavu-core``. Raises ``FileNotFoundError`` naming both."""
    spec = importlib.util.find_spec("matplotlib")  # located, not imported
    candidates = [Path(p) / "mpl-data" / "fonts" / "ttf" for p in (spec.submodule_search_locations or [])] if spec else []
    for folder in [*candidates, SYSTEM_FONTS]:
        if all((folder / name).is_file() for name in STYLES.values()):
            return folder
    raise FileNotFoundError("DejaVu Sans was not found: install the project's dependencies (matplotlib ships it) "
                            "or Debian's fonts-dejavu-core")


@cache
def _covered() -> frozenset[int]:
    """Code points DejaVu Sans has a glyph for (the regular face's character map)."""
    from fontTools.ttLib import TTFont

    with TTFont(font_dir() / STYLES[""], lazy=True) as font:
        return frozenset(font.getBestCmap())


def printable(text: str) -> str:
    """``text`` with every character the font cannot draw replaced by U+FFFD (line breaks,
    tabs and joiners kept)."""
    covered = _covered()
    return "".join(ch if ord(ch) in covered or ch in "\n\t\u200c\u200d" else REPLACEMENT for ch in text)


def _shaping_available() -> bool:
    return importlib.util.find_spec("uharfbuzz") is not None


class _Writer:
    """Draws markdown-it tokens on an A4 page."""

    def __init__(self, title: str) -> None:
        self.pdf = FPDF(format="A4")
        folder = font_dir()
        for style, name in STYLES.items():
            self.pdf.add_font(FAMILY, style, str(folder / name))
        if _shaping_available():
            self.pdf.set_text_shaping(True)
        self.pdf.set_title(printable(title))
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()
        self.margin = self.pdf.l_margin
        self.depth = 0  # list and quote nesting
        self.lists: list[list[int | None]] = []  # per open list: [next number or None for bullets]
        self.pending_bullet: str | None = None

    def _start_block(self, size: float) -> None:
        left = self.margin + INDENT * self.depth
        self.pdf.set_left_margin(left)
        self.pdf.set_x(left)
        if self.pending_bullet:
            self.pdf.set_font(FAMILY, "", size)
            self.pdf.set_x(left - INDENT + 1)
            self.pdf.write(size * 0.5, self.pending_bullet)
            self.pdf.set_x(left)
            self.pending_bullet = None

    def inline(self, token: Token, size: float, base: str = "") -> None:
        """One paragraph or heading: its inline children, styles switched as they open and close."""
        self._start_block(size)
        bold, italic = "B" in base, False
        height = size * 0.5
        for child in token.children or []:
            if child.type in ("strong_open", "strong_close"):
                bold = child.type == "strong_open" or "B" in base
            elif child.type in ("em_open", "em_close"):
                italic = child.type == "em_open"
            elif child.type in ("softbreak", "hardbreak"):
                self.pdf.ln(height)
            elif child.type in ("text", "code_inline", "html_inline"):
                self.pdf.set_font(FAMILY, ("B" if bold else "") + ("I" if italic else ""), size)
                self.pdf.write(height, printable(child.content))
        self.pdf.ln(height)

    def literal(self, content: str) -> None:
        """A code block: its lines as they are."""
        self._start_block(BODY)
        self.pdf.set_font(FAMILY, "", BODY - 1)
        for line in content.rstrip("\n").split("\n"):
            self.pdf.write(BODY * 0.5, printable(line))
            self.pdf.ln(BODY * 0.5)

    def draw(self, tokens: list[Token]) -> None:
        size = BODY
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open":
                size = SIZES.get(tok.tag, BODY)
                self.pdf.ln(2)
            elif tok.type == "heading_close":
                size = BODY
                self.pdf.ln(1)
            elif tok.type == "inline":
                heading = i > 0 and tokens[i - 1].type == "heading_open"
                self.inline(tok, size, "B" if heading else "")
            elif tok.type == "paragraph_close" and not tok.hidden:
                self.pdf.ln(1.5)
            elif tok.type in ("bullet_list_open", "ordered_list_open"):
                self.lists.append([int(tok.attrs.get("start", 1)) if tok.type == "ordered_list_open" else None])
                self.depth += 1
            elif tok.type in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
                self.depth -= 1
                if not self.lists:
                    self.pdf.ln(1.5)
            elif tok.type == "list_item_open":
                number = self.lists[-1][0]
                self.pending_bullet = "•" if number is None else f"{number}."
                if number is not None:
                    self.lists[-1][0] = number + 1
            elif tok.type == "blockquote_open":
                self.depth += 1
            elif tok.type == "blockquote_close":
                self.depth -= 1
            elif tok.type in ("fence", "code_block"):
                self.literal(tok.content)
            elif tok.type == "hr":
                self.pdf.ln(2)
                y = self.pdf.get_y()
                self.pdf.line(self.margin, y, self.pdf.w - self.pdf.r_margin, y)
                self.pdf.ln(3)
            elif tok.type == "tr_close":
                self.pdf.ln(BODY * 0.5)
            elif tok.type == "html_block":  # not produced with html off; kept as text all the same
                self.literal(tok.content)


def markdown_pdf(text: str, title: str = "") -> bytes:
    """``text`` (Markdown; raw HTML in it is printed as text) as an A4 PDF with DejaVu Sans
    embedded; returns the file's bytes. Images and links are not followed: a link prints its
    text. Raises ``FileNotFoundError`` when no DejaVu Sans is installed (see :func:`font_dir`)."""
    writer = _Writer(title)
    writer.draw(_PARSER.parse(text))
    return bytes(writer.pdf.output())
