"""Course documents on disk: Markdown with validated YAML front matter.

The contract is described in ``knowledge/README.md``. :func:`load_document` parses one file and
raises :class:`KnowledgeFileError` naming the file and the field for anything off;
:func:`load_corpus` loads a whole folder and also checks that every id exists in both languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from actor.domain import Lang

Kind = Literal["course", "playbook", "policy"]
Audience = Literal["actor", "evaluator", "both"]
AggressionType = Literal["frustration", "instrumental", "white_collar"]
Tactic = Literal[
    "vent",
    "repeat_demand",
    "demand_manager",
    "threaten_review",
    "name_drop",
    "belittle",
    "insult",
    "intimidate",
    "false_claim",
    "rules_for_others",
]
SCENARIOS = ("counter", "phone", "office", "intimidation")
AGGRESSION_TYPES: tuple[str, ...] = ("frustration", "instrumental", "white_collar")
LANGS: tuple[str, ...] = ("nl", "en")


class KnowledgeFileError(ValueError):
    """A course document is invalid; ``path`` and ``field`` say where."""

    def __init__(self, path: Path, field: str, message: str) -> None:
        super().__init__(f"{path}: {field}: {message}")
        self.path = path
        self.field = field


class FrontMatter(BaseModel):
    """The YAML header of a course document (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    lang: Lang
    title: str
    kind: Kind
    audience: Audience
    scenario: str | None = None
    aggression_types: tuple[AggressionType, ...] = ()
    levels: tuple[int, int] = (0, 4)
    tactic: Tactic | None = Field(default=None, validate_default=True)

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c == "-" for c in v) or v != v.lower():
            raise ValueError("must be a lowercase slug (letters, digits, hyphens)")
        return v

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, v: str | None) -> str | None:
        if v is not None and v not in SCENARIOS:
            raise ValueError(f"unknown scenario {v!r}; expected one of {', '.join(SCENARIOS)} or null")
        return v

    @field_validator("levels")
    @classmethod
    def _level_range(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if not (0 <= lo <= hi <= 4):
            raise ValueError("must be [lowest, highest] with 0 <= lowest <= highest <= 4")
        return v

    @field_validator("tactic")
    @classmethod
    def _tactic_for_playbooks(cls, v: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "playbook" and v is None:
            raise ValueError("required for a playbook document")
        if kind != "playbook" and v is not None:
            raise ValueError("only playbook documents have a tactic")
        return v

    @property
    def types(self) -> tuple[str, ...]:
        """The aggression types covered (all three when the list is empty)."""
        return self.aggression_types or AGGRESSION_TYPES


@dataclass(frozen=True)
class Document:
    """A parsed course document: its front matter, Markdown body and path relative to the root."""

    meta: FrontMatter
    body: str
    source: str


def _split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    if not text.startswith("---"):
        raise KnowledgeFileError(path, "front matter", "the file must start with a '---' YAML block")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise KnowledgeFileError(path, "front matter", "no closing '---' line")
    try:
        meta = yaml.safe_load(parts[0][3:]) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeFileError(path, "front matter", f"invalid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise KnowledgeFileError(path, "front matter", "must be a mapping of keys to values")
    body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
    return meta, body.strip() + "\n"


def load_document(path: Path, root: Path) -> Document:
    """Parse and validate one file; ``root`` is the knowledge folder (for the relative source).

    Checks that ``lang`` and ``kind`` match the folders (``<root>/<lang>/<kind>/<id>.md``) and
    that the file name is the id. Raises :class:`KnowledgeFileError`.
    """
    rel = path.relative_to(root)
    meta_raw, body = _split_front_matter(path.read_text(encoding="utf-8"), rel)
    try:
        meta = FrontMatter.model_validate(meta_raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "front matter"
        raise KnowledgeFileError(rel, field, err["msg"]) from exc
    if len(rel.parts) != 3:
        raise KnowledgeFileError(rel, "path", "expected <lang>/<kind>/<id>.md")
    lang_dir, kind_dir, _ = rel.parts
    if lang_dir != meta.lang:
        raise KnowledgeFileError(rel, "lang", f"is {meta.lang!r} but the file is in folder {lang_dir!r}")
    if kind_dir != meta.kind:
        raise KnowledgeFileError(rel, "kind", f"is {meta.kind!r} but the file is in folder {kind_dir!r}")
    if path.stem != meta.id:
        raise KnowledgeFileError(rel, "id", f"is {meta.id!r} but the file is named {path.name!r}")
    if not body.strip():
        raise KnowledgeFileError(rel, "body", "is empty")
    return Document(meta=meta, body=body, source=str(rel))


def load_corpus(root: Path, require_parallel: bool = True) -> list[Document]:
    """All documents under ``root`` (``<lang>/<kind>/*.md``), sorted by source path.

    With ``require_parallel``, every id must exist in every language. Raises
    :class:`KnowledgeFileError` for the first bad file, ``FileNotFoundError`` when ``root``
    does not exist.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge folder {root} does not exist")
    docs = [load_document(p, root) for p in sorted(root.glob("*/*/*.md"))]
    if require_parallel:
        by_lang = {lang: {d.meta.id for d in docs if d.meta.lang == lang} for lang in LANGS}
        for lang in LANGS:
            for other in LANGS:
                for missing in sorted(by_lang[other] - by_lang[lang]):
                    src = next(d.source for d in docs if d.meta.id == missing)
                    raise KnowledgeFileError(Path(src), "id", f"{missing!r} has no {lang} version")
    return docs
