"""The feedback's words: reasons from the rubric about the reply's own words (never from the
model), one better phrasing from the model, asked again with sampling when rejected (LangChain's
with_retry), the scheduling hook before every call, and the rubric's example when the model keeps
failing."""

from __future__ import annotations

import json

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from actor.evaluator import default_rubric
from evals.baseline.grader import Grader
from actor.judgement.wording import QUOTE_WORDS, RETRY_SAMPLING, Writer, reason
from actor.llm.local import Preempted
from test_evaluator import L1, answer, request

FAILED = ["acknowledges_emotion", "listens_and_explores", "takes_control"]
REPLY = "Ik moet even in het systeem kijken."
BETTER = "Wat vervelend dat u voor niets kwam. Wat is er precies gebeurd?"
ENGLISH_BETTER = "You could say that it is annoying."


class SamplingFake(FakeListChatModel):
    """FakeListChatModel that keeps the prompts it was sent and the sampling of each call."""

    seen: list[str] = Field(default_factory=list)
    sampling: list[dict] = Field(default_factory=list)

    def _call(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append("\n".join(m.text for m in messages))
        self.sampling.append({k: kwargs[k] for k in ("temperature", "seed") if k in kwargs})
        return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)


def better(text: str = BETTER) -> str:
    return json.dumps({"better": text})


def graded():
    """A request and its assessment with ``FAILED`` failed (a fake grader)."""
    req = request(REPLY)
    verdicts = {c: "fail" if c in FAILED else "pass" for c in L1}
    assessment = Grader(FakeListChatModel(responses=[answer(verdicts)]), "fake", mode="joint").grade(req)
    assert [c for c, r in assessment.criteria.items() if r.verdict == "fail"] == FAILED
    return req, assessment


def word(model, retries: int = 1, **kw):
    waits = []
    req, assessment = graded()
    writer = Writer(model, retries=retries, before_call=lambda: waits.append(1))
    quotes = {c: REPLY for c in FAILED}
    return writer.word(req, assessment, default_rubric(), quotes=quotes, **kw), waits, assessment


def rubric_reasons(assessment) -> dict[str, str]:
    return {c: assessment.criteria[c].reason for c in FAILED}


EXPECTED = {c: reason(default_rubric(), c, REPLY, "nl") for c in FAILED}


def test_a_reason_is_the_rubrics_missed_text_about_the_replys_words():
    assert EXPECTED["acknowledges_emotion"] == f"In “{REPLY}” benoem of erken je het gevoel van de klant niet."
    long = " ".join(f"woord{i}" for i in range(QUOTE_WORDS + 5))
    assert reason(default_rubric(), "takes_control", long, "en").startswith(
        "In “" + " ".join(long.split()[:QUOTE_WORDS]) + " …” you do not steer")
    assert reason(default_rubric(), "takes_control", "", "nl").startswith("Verwacht: Het antwoord stuurt")


def test_a_rejected_phrasing_is_asked_again_with_sampling_and_the_next_one_used():
    model = SamplingFake(responses=[better(ENGLISH_BETTER), better()])
    worded, waits, before = word(model)
    assert len(model.seen) == 2 and len(waits) == 2  # the hook ran before each attempt
    assert model.sampling[0] == {} and model.sampling[1] == {**RETRY_SAMPLING, "seed": 1}  # not the same greedy answer again
    assert worded.wording == "model" and worded.tip == BETTER
    assert rubric_reasons(worded) == EXPECTED and all(worded.criteria[c].evidence == REPLY for c in FAILED)
    assert (worded.prompt_sha256, worded.model_id, worded.rubric_sha256) == (before.prompt_sha256, "fake", default_rubric().sha256)
    assert "Dutch" in model.seen[0] and REPLY in model.seen[0] and "Luistert en vraagt door" in model.seen[0]


def test_a_model_that_keeps_failing_leaves_the_rubric_example_and_the_same_reasons():
    model = SamplingFake(responses=["nonsense", better(ENGLISH_BETTER), better()])
    worded, waits, _ = word(model)
    assert len(model.seen) == 2 and len(waits) == 2  # 1 + retries calls, never the good third answer
    assert worded.wording == "rubric" and worded.tip.startswith("Bijvoorbeeld")
    assert rubric_reasons(worded) == EXPECTED


def test_a_preempted_call_is_asked_again_without_using_an_attempt():
    class PreemptedOnce(SamplingFake):
        def _call(self, messages, stop=None, run_manager=None, **kwargs):
            if not self.seen:
                self.seen.append("preempted")
                raise Preempted("gave way to foreground work")
            return super()._call(messages, stop=stop, run_manager=run_manager, **kwargs)

    model = PreemptedOnce(responses=[better()])
    worded, waits, _ = word(model, retries=0)
    assert len(model.seen) == 2 and len(waits) == 2 and worded.wording == "model"


def test_a_failing_tip_judge_is_not_model_trouble_and_is_not_retried():
    model = SamplingFake(responses=[better(), better()])

    def judge_tip(text):
        raise RuntimeError("the judgement broke")

    with pytest.raises(RuntimeError, match="the judgement broke"):
        word(model, judge_tip=judge_tip)
    assert len(model.seen) == 1


@pytest.mark.parametrize(("text", "kept"), [
    ("Drie keer voor niets komen, dat is echt vervelend. Mag ik uw ophaalcode zien?", True),
    ("Ik zou het antwoord kunnen hebben gezegd als 'Dat stond niet in uw app.' Het gevoel van de klant was boosheid.", False),
    ("You could have said that you understand the customer's anger.", False),
])
def test_a_better_phrasing_is_something_to_say_to_the_customer(text, kept):
    lang = "en" if text.startswith("You") else "nl"
    assert Writer._good_tip(text, "Regels zijn regels.", lang, None, None) is kept


def judged(verdicts: dict[str, str]):
    """An assessment of a better phrasing with these verdicts (a fake grader; the rest pass)."""
    full = {c: verdicts.get(c, "pass") for c in L1}
    return Grader(FakeListChatModel(responses=[answer(full)]), "fake", mode="joint").grade(request(BETTER))


@pytest.mark.parametrize(("verdicts", "kept"), [
    ({}, True),                                                        # fixes what the reply missed
    ({c: "fail" for c in FAILED}, False),                              # fixes none of it
    ({"acknowledges_emotion": "fail", "listens_and_explores": "fail"}, True),  # fixes one
    ({"stays_calm": "fail"}, False),                                   # loses the calm the reply had
])
def test_a_better_phrasing_must_fix_something_the_reply_missed_and_lose_nothing(verdicts, kept):
    _, assessment = graded()
    assert Writer._good_tip(BETTER, REPLY, "nl", assessment, lambda text: judged(verdicts)) is kept


class CachingFake(SamplingFake):
    """A fake that, like the embedded model, keeps a prompt cache (so a prefill makes sense)."""

    caches_prefix: bool = True


def test_the_fixed_start_of_the_prompt_is_prefilled_once_per_session():
    from test_session import make

    session = make(["Hm."])
    model = CachingFake(responses=["x", "y"])
    session.writer = Writer(model)
    session.prefill_wording()
    session.prefill_wording()
    assert len(model.seen) == 1  # once: it stays cached for every later reply
    prompt = model.seen[0]
    assert session.scenario.title("nl") in prompt and "Dutch" in prompt
    assert prompt.endswith("<customer>") and "{" not in prompt  # up to the first per-reply part, all filled in
    assert not Writer(SamplingFake(responses=["x"])).prefill("nl", "x", [])  # no cache, no prefill


def test_a_reply_that_failed_nothing_costs_no_model_call():
    req = request(REPLY)
    assessment = Grader(FakeListChatModel(responses=[answer({c: "pass" for c in L1})]), "fake", mode="joint").grade(req)
    model = SamplingFake(responses=[better()])
    worded = Writer(model).word(req, assessment, default_rubric())
    assert model.seen == [] and worded.tip == "" and worded.wording == "rubric"
