"""The previous move judgement (wording rules + nearest example replies), kept as the baseline
``python -m evals.judgement --part old`` measures (and ``python -m evals.actor --moves legacy``
plays with, :class:`LegacyMoves`); the app's move comes from
:mod:`actor.judgement` (derived from the fitted verdicts, ``TurnAssessment.move``).
:class:`MoveJudgement` is this judge's answer (older stored turns hold it as ``move_judgement``).

The customer must answer quickly, so the persona's next state cannot wait for the full
per-criterion grading (:class:`~evals.baseline.grader.Grader`, seven model calls).
:class:`MoveJudge` decides in milliseconds, in this order:

1. deterministic wording (:mod:`actor.evaluator.rules`): a "calm down" phrase, taunt or blame
   is ``provoke``; an explicit concession or a promised time not in the policy is ``cave``; an
   announced consequence ("if you keep…", "gaat dat door…") is ``boundary``; security, "this
   conversation ends" is ``end_conversation``; "I don't accept…", "geen uitzondering" is ``boundary``;
2. otherwise a nearest-neighbour vote: the reply is embedded (multilingual-e5-small, the same
   model as the retriever) and compared with the example replies of
   ``prompts/evaluator/moves.yaml``; the ``k`` most similar vote with their cosine similarity.
   ``end_conversation`` is never decided this way: the conversation must not end on a near match
   (a polite request for an ID once came out nearest to "I am calling security").

Why not the chat model: on the 26 gold replies the embedded 1.5B model, asked to pick one of
the six moves, chose ``provoke`` for most polite replies, and asked yes/no checks it answered
"yes" to nearly every check; rules + neighbours agree with the move the human labels imply on
0.73 of the gold replies, the model-based variants on 0.31–0.62 (``python -m evals.evaluator
--part move``). The full grading still runs on every reply, after the customer has answered.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from actor import prompt_files
from actor.prompt_files import MoveBank
from actor.evaluator import rules
from actor.evaluator.assessment import Move, TurnAssessment
from actor.evaluator.request import GradeRequest

MOVES: tuple[str, ...] = get_args(Move)


def load_bank(path: Path | None = None) -> tuple[MoveBank, str]:
    """``(bank, sha256 of the file)`` (default the shipped file); raises
    :class:`~actor.prompt_files.PromptFileError` for a bad file, ``FileNotFoundError``."""
    bank = prompt_files.read(path, "evaluator/moves.yaml") if path else prompt_files.load("evaluator/moves.yaml")
    return bank, bank.sha256


@dataclass(frozen=True)
class MoveJudgement:
    """The trainee's move with its reason; ``source``: ``rules``, ``neighbours`` or
    ``fallback`` (embedding failed: ``neutral``); ``prompt_sha256``: the example bank's hash;
    ``seconds``: wall time of the judgement."""

    move: Move
    reason: str
    source: Literal["rules", "neighbours", "fallback", "model", "judgement"]
    prompt_sha256: str
    seconds: float = 0.0


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class MoveJudge:
    """Classifies a trainee reply into a :data:`Move`.

    ``embeddings``: anything with ``embed_query(text) -> list[float]`` (the app passes
    :class:`~actor.embeddings.E5Embeddings`; tests a deterministic fake). The example bank is
    embedded once when the judge is built (~2 s for ~120 examples on 2 cores); the judge holds
    no conversation state, so one instance serves every session of a process. ``k``: neighbours
    that vote.
    """

    def __init__(self, embeddings, bank_path: Path | None = None, k: int = 5) -> None:
        self.embeddings = embeddings
        self.bank, self.sha256 = load_bank(bank_path)
        self.k = k
        self.examples = [(move, text) for move in MOVES if move != "end_conversation" for text in getattr(self.bank, move)]
        self.vectors = [_unit(embeddings.embed_query(text)) for _, text in self.examples]

    def neighbours(self, reply: str) -> list[tuple[float, str, str]]:
        """The ``k`` most similar examples: ``(cosine similarity, move, example text)``."""
        q = _unit(self.embeddings.embed_query(reply))
        scored = [(sum(a * b for a, b in zip(q, v)), move, text) for (move, text), v in zip(self.examples, self.vectors)]
        return sorted(scored, reverse=True)[: self.k]

    def judge(self, req: GradeRequest) -> MoveJudgement:
        """The move of ``req.reply``. Never raises for embedding trouble (``neutral``);
        ``ValueError`` for an empty reply."""
        if not req.reply.strip():
            raise ValueError("empty reply: nothing to judge")
        start = time.perf_counter()

        def done(move: str, reason: str, source: str) -> MoveJudgement:
            return MoveJudgement(move, reason, source, self.sha256, time.perf_counter() - start)

        found = {f.criterion: f for f in rules.findings(req.reply, req.allowed)}
        for criterion, move in (("stays_calm", "provoke"), ("no_false_promises", "cave")):
            if criterion in found:
                return done(move, f"{found[criterion].reason}: {found[criterion].evidence!r}", "rules")
        sign = rules.move_sign(req.reply)
        if sign:
            return done(sign[0], f"says {sign[1]!r}", "rules")
        masked, _ = rules.mask_injection(req.reply)
        try:
            near = self.neighbours(masked)
        except Exception as exc:  # the embedding engine failed: no progress, no punishment
            return done("neutral", f"not judged: {type(exc).__name__}", "fallback")
        votes: dict[str, float] = {}
        for similarity, move, _ in near:
            votes[move] = votes.get(move, 0.0) + similarity
        move = max(votes, key=votes.get)
        best = next(text for _, m, text in near if m == move)
        return done(move, f"closest to {move} examples such as {best!r}", "neighbours")


class LegacyMoves:
    """The nearest-example move judge (:class:`MoveJudge`) behind the
    interface the session expects from its judgement (``verdicts(req)`` → an assessment with the
    move; no criteria)."""

    def __init__(self, embeddings) -> None:
        self.judge = MoveJudge(embeddings)

    def verdicts(self, req):
        m = self.judge.judge(req)
        return TurnAssessment(criteria={}, tip="", move=m.move, status="graded", wording="pending", heads_sha256=m.prompt_sha256,
                              rubric_sha256="", prompt_sha256="", model_id="move-judge", seconds=m.seconds)
