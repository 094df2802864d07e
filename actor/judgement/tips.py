"""Better phrasings from the labelled bank: a strong reply written for this scenario and language,
to the customer line most like the one the trainee answered.

The bank (``evals/judgement/bank/*.jsonl``, see :mod:`actor.judgement.bank`) holds, per shipped
scenario and language, replies labelled per rubric criterion by two independent passes. A reply
that fails no criterion and passes at least one the trainee's reply failed is a worked example of
what the trainee missed, in the scenario's own facts and in natural Dutch or English: the small
chat model's own better phrasings were rarely usable (``python -m evals.judgement --part
wording``), and one costs seconds of model time per reply, while a bank example costs one
embedding of nothing new (the customer line is already embedded for the verdicts).

Ranking (fixed weights, not fitted): cosine similarity of the customer lines (e5 query
embeddings), plus 0.1 per failed criterion the example is labelled to pass, plus 0.05 for the
same tactic, minus 0.05 per escalation level apart. The first candidate that the judge itself
passes on at least one criterion the reply failed and fails on none is used, so a tip never
contradicts the verdicts it comes with. A scenario
without bank rows (a trainer's own) gets no bank tip: the chat model or the rubric's example
words it then.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Callable, Iterable

import numpy as np

from actor.judgement.bank import BankRow

TRIED = 3
"""Candidates judged at most per reply (each costs one judgement, ~10–50 ms of embeddings)."""


class BankTips:
    """Worked examples from ``rows`` (usually :func:`~actor.judgement.bank.load_bank`), grouped
    by ``(scenario id, language)``. Only rows that fail no criterion are candidates. Holds no
    conversation state; the customer lines' embeddings are computed once per group (shared
    by every session, under a lock)."""

    def __init__(self, rows: Iterable[BankRow]) -> None:
        self._groups: dict[tuple[str, str], list[BankRow]] = defaultdict(list)
        for row in rows:
            if 0 not in row.labels.values() and row.quality != "weak":
                self._groups[(row.scenario, row.lang)].append(row)
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def groups(self) -> list[tuple[str, str]]:
        """The ``(scenario id, language)`` pairs that have worked examples."""
        return sorted(self._groups)

    def covers(self, scenario_id: str, lang: str) -> bool:
        """Whether there are worked examples for ``scenario_id`` in ``lang``."""
        return bool(self._groups.get((scenario_id, lang)))

    def prepare(self, scenario_id: str, lang: str, embed: Callable[[list[str]], np.ndarray]) -> None:
        """Embed the group's customer lines now (background work at a session's start), so the
        first tip costs no embedding. ``embed``: texts → ``len × d`` array (the judge's
        :meth:`~actor.judgement.features.Featurizer.embed`)."""
        key = (scenario_id, lang)
        rows = self._groups.get(key)
        if not rows:
            return
        with self._lock:
            if key not in self._vectors:
                vectors = np.asarray(embed([r.customer for r in rows]), dtype=np.float32)
                self._vectors[key] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def candidates(self, scenario_id: str, lang: str, customer_line: str, level: int, tactic: str | None,
                   failed: list[str], passed: list[str], embed: Callable[[list[str]], np.ndarray],
                   avoid: Iterable[str] = ()) -> list[str]:
        """Bank replies, best first, that pass at least one of ``failed`` and are labelled to fail
        none of ``failed`` + ``passed`` (n/a allowed), excluding those contained in a text of ``avoid``
        (the tips already given in the session). Empty when the scenario has no rows or nothing failed."""
        rows = self._groups.get((scenario_id, lang))
        if not rows or not failed:
            return []
        self.prepare(scenario_id, lang, embed)
        q = np.asarray(embed([customer_line])[0], dtype=np.float32)
        sims = self._vectors[(scenario_id, lang)] @ (q / max(float(np.linalg.norm(q)), 1e-9))
        avoid = [a for a in avoid if a]
        scored = []
        for row, sim in zip(rows, sims):
            if any(row.trainee in a for a in avoid) or not any(row.labels.get(c) == 1 for c in failed):
                continue
            covered = sum(row.labels.get(c) == 1 for c in failed)
            score = (float(sim) + 0.1 * covered + 0.05 * (tactic is not None and row.tactic == tactic)
                     - 0.05 * abs(row.escalation_level - level))
            scored.append((score, row.trainee))
        scored.sort(key=lambda s: -s[0])
        return list(dict.fromkeys(text for _, text in scored))

    def pick(self, scenario_id: str, lang: str, customer_line: str, level: int, tactic: str | None,
             failed: list[str], passed: list[str], embed: Callable[[list[str]], np.ndarray],
             judge_tip: Callable[[str], dict[str, str | None]], avoid: Iterable[str] = ()) -> str | None:
        """The best worked example for a reply that confidently failed ``failed`` and passed
        ``passed`` (criterion ids), or ``None``. Of the first :data:`TRIED` :meth:`candidates`,
        the first whose own verdicts (``judge_tip``: text → criterion id → ``pass`` / ``fail`` /
        ``n/a`` / ``None``, the same judge as a reply to the same line) pass at least one of
        ``failed`` and fail nothing."""
        for text in self.candidates(scenario_id, lang, customer_line, level, tactic, failed, passed, embed, avoid)[:TRIED]:
            own = judge_tip(text)
            if any(own.get(c) == "pass" for c in failed) and "fail" not in own.values():
                return text
        return None
