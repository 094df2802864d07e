"""A judgement on deterministic fake embeddings, fitted through the real fitting code on a tiny
synthetic bank: tests get a real :class:`~actor.judgement.judge.Judge` without the e5 model."""

from __future__ import annotations

from actor.judgement.bank import CRITERIA, BankRow, derive_move
from actor.judgement.features import Featurizer
from actor.judgement.heads import fit_heads
from actor.judgement.judge import Judge

ACK = "Drie keer voor niks komen, wat vervelend. Wat staat er precies in de app?"
NEUTRAL = "Ik moet even in het systeem kijken."
PROVOKE = "Rustig aan meneer, niet mijn probleem."
CAVE = "Oké oké, ik beloof dat u het geld vandaag terugkrijgt."


class WordEmbeddings:
    """Deterministic fake embeddings (64 floats): a text's vector counts its words by a hash, so
    replies that share words are close. ``embed_query`` / ``embed_documents`` like E5Embeddings."""

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * 64
        for word in text.lower().replace(",", " ").replace(".", " ").replace("?", " ? ").split():
            vector[sum(map(ord, word)) % 64] += 1.0
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


GOOD = ["wat vervelend voor u, wat staat er in de app?", "drie keer, dat is echt balen. wat is er gebeurd?",
        "that sounds frustrating, what does the app say?", "i can see why you're annoyed, when did it happen?",
        "wat vervelend, ik kijk nu in het systeem. wat is uw naam?", "annoying, I'll check the scan history now. what's the code?"]
FLAT = ["ik moet even in het systeem kijken.", "ok.", "i need to check the system.", "hmm ok.", "ik kijk wel.", "fine."]
HOSTILE = ["rustig aan meneer, niet mijn probleem.", "calm down, not my problem.", "doe normaal zeg.", "relax, not my fault."]
CAVING = ["ik beloof dat u het geld vandaag terugkrijgt.", "i promise you get the money back today.",
          "ik beloof het, vandaag geregeld.", "i'll waive it, i promise."]


def _row(i: int, text: str, scenario: str, kind: str) -> BankRow:
    good, hostile, caving = kind == "good", kind == "hostile", kind == "caving"
    labels = {c: None for c in CRITERIA}
    labels.update(stays_calm=0 if hostile else 1, acknowledges_emotion=int(good), listens_and_explores=int(good),
                  takes_control=int(good), no_false_promises=0 if caving else 1)
    return BankRow(id=f"{scenario}-{i}", lang="en" if any(w in text for w in ("the", "i ", "calm", "fine")) else "nl",
                   scenario=scenario, aggression_type="frustration", escalation_level=1, tactic="vent",
                   customer="Derde keer dat ik hier sta!", trainee=text, labels=labels, move=derive_move(labels),
                   tone=5 if good else 1 if hostile else 3)


def tiny_bank() -> list[BankRow]:
    """36 rows over two scenarios: good, flat, hostile and caving replies at L1."""
    rows = []
    for scenario in ("counter", "phone"):
        for kind, texts in (("good", GOOD), ("flat", FLAT), ("hostile", HOSTILE), ("caving", CAVING)):
            rows += [_row(len(rows) + i, t if scenario == "counter" else t.capitalize(), scenario, kind) for i, t in enumerate(texts)]
    return rows


def fake_judge(writer=None, rows=None) -> Judge:
    """A :class:`Judge` whose heads were fitted on :func:`tiny_bank` (or ``rows``)."""
    embeddings = WordEmbeddings()
    heads = fit_heads(rows or tiny_bank(), Featurizer(embeddings), "tiny-bank")
    return Judge(embeddings, heads, writer=writer, model_id="fake")
