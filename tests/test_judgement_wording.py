"""The wording's retries (LangChain's with_retry): a rejected answer is asked again, what an
attempt got right is kept, the scheduling hook runs before every call, and a model that keeps
failing leaves the rubric's text."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from actor.evaluator import Grader, default_rubric
from actor.judgement.wording import Writer
from actor.llm.local import Preempted
from test_evaluator import L1, RecordingFake, answer, request

FAILED = ["acknowledges_emotion", "listens_and_explores", "takes_control"]
WHY = "Je noemde geen gevoel van de klant."
BETTER = "Wat vervelend dat u voor niets kwam. Wat is er precies gebeurd?"
ENGLISH_WHY = "You did not name the feeling of the customer."
ENGLISH_BETTER = "You could say that it is annoying."


def words(why: str = WHY, better: str = BETTER) -> str:
    return json.dumps({**{c: {"why": why} for c in FAILED}, "better": better})


def graded():
    """A request and its assessment with ``FAILED`` failed (a fake grader)."""
    req = request("Ik moet even in het systeem kijken.")
    verdicts = {c: "fail" if c in FAILED else "pass" for c in L1}
    assessment = Grader(FakeListChatModel(responses=[answer(verdicts)]), "fake", mode="joint").grade(req)
    assert [c for c, r in assessment.criteria.items() if r.verdict == "fail"] == FAILED
    return req, assessment


def word(model, retries: int = 1, **kw):
    waits = []
    req, assessment = graded()
    writer = Writer(model, retries=retries, before_call=lambda: waits.append(1))
    return writer.word(req, assessment, default_rubric(), **kw), waits, assessment


def test_a_rejected_answer_is_asked_again_and_the_next_one_used():
    model = RecordingFake(responses=[words(ENGLISH_WHY, ENGLISH_BETTER), words()])
    worded, waits, before = word(model)
    assert len(model.seen) == 2 and len(waits) == 2  # the hook ran before each attempt
    assert worded.wording == "model" and worded.tip == BETTER
    assert all(worded.criteria[c].reason == WHY for c in FAILED)
    assert (worded.prompt_sha256, worded.model_id, worded.rubric_sha256) == (before.prompt_sha256, "fake", default_rubric().sha256)


def test_what_an_attempt_got_right_is_kept_and_the_next_fills_in_the_rest():
    model = RecordingFake(responses=[words(WHY, ENGLISH_BETTER), words(ENGLISH_WHY, BETTER), words("Nee.", "Nee.")])
    worded, waits, _ = word(model, retries=2)
    assert len(model.seen) == 2 and len(waits) == 2  # complete after two: the third is never asked
    assert worded.wording == "model" and worded.tip == BETTER and all(worded.criteria[c].reason == WHY for c in FAILED)


def test_a_model_that_keeps_failing_leaves_the_rubric_text():
    model = RecordingFake(responses=["nonsense", words(ENGLISH_WHY, ENGLISH_BETTER), words()])
    worded, waits, _ = word(model)
    assert len(model.seen) == 2 and len(waits) == 2  # 1 + retries calls, never the good third answer
    assert worded.wording == "rubric" and worded.tip.startswith("Bijvoorbeeld")
    assert all(worded.criteria[c].reason.startswith("Verwacht: ") for c in FAILED)


def test_a_preempted_call_is_asked_again_without_using_an_attempt():
    class PreemptedOnce(RecordingFake):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            if not self.seen:
                self.seen.append("preempted")
                raise Preempted("gave way to foreground work")
            return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    model = PreemptedOnce(responses=[words()])
    worded, waits, _ = word(model, retries=0)
    assert len(model.seen) == 2 and len(waits) == 2 and worded.wording == "model"


def test_a_failing_tip_judge_is_not_model_trouble_and_is_not_retried():
    model = RecordingFake(responses=[words(), words()])

    def judge_tip(text):
        raise RuntimeError("the judgement broke")

    with pytest.raises(RuntimeError, match="the judgement broke"):
        word(model, judge_tip=judge_tip)
    assert len(model.seen) == 1


@pytest.mark.parametrize(("better", "kept"), [
    ("Drie keer voor niets komen, dat is echt vervelend. Mag ik uw ophaalcode zien?", True),
    ("Ik zou het antwoord kunnen hebben gezegd als 'Dat stond niet in uw app.' Het gevoel van de klant was boosheid.", False),
    ("You could have said that you understand the customer's anger.", False),
])
def test_a_better_phrasing_is_something_to_say_to_the_customer(better, kept):
    from actor.judgement.wording import Writer

    lang = "en" if better.startswith("You") else "nl"
    assert Writer._good_tip(better, "Regels zijn regels.", lang, None, None) is kept
