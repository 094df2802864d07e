"""What the evaluator produces: per-turn assessments and the end-of-session debrief."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from actor.domain import Move  # noqa: F401  (re-exported)

Verdict = Literal["pass", "fail", "n/a"]


class CriterionResult(BaseModel):
    """One criterion on one reply: reason first, then the trainee's quoted words, then the verdict.

    ``verdict`` is ``None`` when the criterion applies but could not be judged. ``source``:
    ``heads`` (a fitted head on rules and embeddings decided it), ``rules`` (a deterministic
    failure sign), ``applicability`` (n/a by rule), ``checks`` (no fitted head: the model's
    check probabilities with the default threshold) or ``model`` (a model's sampled verdict).
    ``p_pass``: the calibrated probability of a pass (``None`` for n/a); ``unsure``: ``p_pass``
    fell in the uncertain band (shown as "twijfel / unsure", the verdict is the side it leans
    to); ``calibrated``: false for a criterion without a fitted head (a trainer's new or
    rewritten criterion).
    """

    model_config = ConfigDict(extra="forbid")
    reason: str
    evidence: str = ""
    verdict: Verdict | None
    source: Literal["model", "rules", "applicability", "heads", "checks"] = "model"
    p_pass: float | None = None
    unsure: bool = False
    calibrated: bool = True
    signals: dict[str, float] = Field(default_factory=dict)


class TurnAssessment(BaseModel):
    """The grade of one trainee reply.

    ``criteria`` maps every rubric id to its :class:`CriterionResult`; ``tip`` is one line of
    coaching in the session language; ``tone`` is the tone of the reply on 1 (hostile) … 5
    (warm and respectful), probability-weighted (a float); ``move`` classifies the reply for
    the persona's state machine. ``status`` is ``graded`` or ``rules_only`` (no fitted heads or
    the judgement failed: only the deterministic checks ran; ``error`` says why). ``wording``:
    ``pending`` (verdicts exist, the reasons and tip are being written), ``model`` (the tip written by
    the chat model and checked), ``bank`` (the tip is a worked example of the labelled bank,
    :mod:`actor.judgement.tips`), ``rubric`` (the model's words were rejected or it failed: the
    rubric's own text). Provenance: ``rubric_sha256``, ``prompt_sha256`` (the wording prompt),
    ``heads_sha256`` (the bank the heads were fitted on) and ``model_id``.
    """

    model_config = ConfigDict(extra="forbid")
    criteria: dict[str, CriterionResult]
    tip: str
    tone: float | None = Field(None, ge=1, le=5)
    move: Move
    status: Literal["graded", "rules_only"] = "graded"
    wording: Literal["pending", "model", "bank", "rubric"] = "model"
    heads_sha256: str = ""
    error: str | None = None
    injection_suspected: bool = False
    rubric_sha256: str
    prompt_sha256: str
    model_id: str
    seconds: float = 0.0

    @property
    def score(self) -> float | None:
        """Share of applicable, graded criteria passed (0–1); ``None`` when none was graded."""
        graded = [r.verdict for r in self.criteria.values() if r.verdict in ("pass", "fail")]
        return sum(v == "pass" for v in graded) / len(graded) if graded else None

    def verdicts(self) -> dict[str, Verdict | None]:
        """``{criterion id: verdict}``, the shape of the gold labels and exports."""
        return {cid: r.verdict for cid, r in self.criteria.items()}


def classify_move(verdicts: dict[str, Verdict | None]) -> Move:
    """The trainee's move, derived from the verdicts (the persona's state machine consumes it).

    Order matters: a counter-attack or "calm down" (``stays_calm`` failed) provokes whatever
    else the reply does; conceding under pressure (``no_false_promises`` failed) is caving;
    then ending the conversation safely, a clear boundary, acknowledgement or exploring.
    """
    if verdicts.get("stays_calm") == "fail":
        return "provoke"
    if verdicts.get("no_false_promises") == "fail":
        return "cave"
    if verdicts.get("escalates_safely") == "pass":
        return "end_conversation"
    if verdicts.get("sets_boundary") == "pass":
        return "boundary"
    if "pass" in (verdicts.get("acknowledges_emotion"), verdicts.get("listens_and_explores")):
        return "acknowledge"
    return "neutral"


class Moment(BaseModel):
    """A quoted moment of the session: turn number (1-based), the trainee's words, why."""

    model_config = ConfigDict(extra="forbid")
    turn: int
    quote: str
    why: str


class Improvement(BaseModel):
    """A failed criterion at one turn with a better phrasing."""

    model_config = ConfigDict(extra="forbid")
    criterion: str
    turn: int
    said: str
    better: str


class Debrief(BaseModel):
    """The end-of-session debrief (aggregates plus model-written phrasing and advice).

    ``pass_rates``: criterion id → share of applicable graded turns passed (``None`` when the
    criterion never applied); ``overall``: mean turn score (0–1); ``escalation``: the
    customer's level after each turn; ``best`` / ``worst``: two moments each.
    """

    model_config = ConfigDict(extra="forbid")
    lang: Literal["nl", "en"]
    turns: int
    pass_rates: dict[str, float | None]
    overall: float | None
    best: list[Moment]
    worst: list[Moment]
    improvements: list[Improvement]
    escalation: list[int]
    next_exercise: str
    model_id: str = ""
    markdown: str = ""
