"""The move judgement on the real embedding model (multilingual-e5-small): clear replies in both
languages get the move a trainer would give them."""

from __future__ import annotations

import pytest

from actor.evaluator import GradeRequest
from evals.baseline.move import MoveJudge

CASES = [
    ("nl", "Wat vervelend dat u al drie keer voor niks bent gekomen. Wat is er de vorige keren gebeurd?", "acknowledge"),
    ("en", "That sounds really stressful with your flight tomorrow. What happened when you returned the car?", "acknowledge"),
    ("nl", "Doe even normaal, er staan meer mensen te wachten.", "provoke"),
    ("en", "Fine, I'll waive the fee just this once.", "cave"),
    ("nl", "Dit is een bedreiging. Ik beëindig dit gesprek en ik haal de beveiliging.", "end_conversation"),
    ("en", "I won't make an exception for you. What I can do is file it today.", "boundary"),
    ("nl", "Daarvoor moet u op de website kijken.", "neutral"),
]


@pytest.mark.slow
def test_clear_replies_get_the_move_a_trainer_would_give():
    from actor.embeddings import E5Embeddings

    judge = MoveJudge(E5Embeddings())
    got = [judge.judge(GradeRequest(lang=lang, customer_line="(angry customer)", reply=reply, level=2)).move
           for lang, reply, _ in CASES]
    assert got == [want for _, _, want in CASES]
