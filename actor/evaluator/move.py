"""The move judgement: what did the trainee's reply do, in one word the state machine needs?

The customer must answer quickly, so the persona's next state cannot wait for the full
per-criterion grading (:class:`~actor.evaluator.grader.Grader`, seven calls). :class:`MoveJudge`
decides in this order:

1. deterministic wording (:mod:`actor.evaluator.rules`): a "calm down" phrase, taunt or blame
   is ``provoke``; an explicit concession or a promised time not in the policy is ``cave``; an
   announced consequence ("if you keep…", "gaat dat door…") is ``boundary``; security, "this
   conversation ends" is ``end_conversation``; "I don't accept…", "geen uitzondering" is ``boundary``;
2. otherwise one short JSON-constrained call (``prompts/evaluator/move.yaml``) with three
   yes/no checks, taken in order: ends the conversation → ``end_conversation``, states a limit
   → ``boundary``, shows understanding or asks → ``acknowledge``; none → ``neutral``.

Why this split: on the gold replies the embedded 1.5B model, asked to pick one of six moves,
chose ``provoke`` for most polite replies, and asked yes/no whether a reply "gives in" it said
yes to almost every reply; its yes/no answers on positive evidence (understanding, a stated
limit) were the usable part (``python -m evals.evaluator --part move``). Grader-directed sentences are masked before
the model sees the reply. When the model fails after retries the move is ``neutral`` (no
progress, no punishment) and ``source`` says so; the trainee's turn is never lost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import JsonOutputParser

from actor.evaluator import rules
from actor.evaluator.assessment import Move
from actor.evaluator.grader import GradeRequest, load_prompt, turn_fields
from actor.llm import json_mode

MOVES: tuple[str, ...] = get_args(Move)
CHECKS = ("ends_conversation", "states_limit", "shows_understanding")  # in order of precedence
CHECK_MOVES = {"ends_conversation": "end_conversation", "states_limit": "boundary", "shows_understanding": "acknowledge"}
MOVE_SCHEMA = {
    "title": "MoveChecks",
    "type": "object",
    "properties": {check: {"type": "boolean"} for check in CHECKS},
    "required": list(CHECKS),
    "additionalProperties": False,
}


@dataclass(frozen=True)
class MoveJudgement:
    """The trainee's move with its reason; ``source``: ``model``, ``rules`` or ``fallback``
    (the model failed: ``neutral``); ``seconds``: wall time of the judgement."""

    move: Move
    reason: str
    source: Literal["model", "rules", "fallback"]
    prompt_sha256: str
    seconds: float = 0.0


class MoveJudge:
    """Classifies a trainee reply into a :data:`Move` with ``model`` (any LangChain chat model).

    ``retries``: extra attempts after an invalid answer or a failed call.
    """

    def __init__(self, model: BaseChatModel, retries: int = 1) -> None:
        self.prompt = load_prompt("move")
        self.chain = json_mode(model, MOVE_SCHEMA, "move_judgement") | JsonOutputParser()
        self.retries = retries

    def messages(self, req: GradeRequest) -> list:
        """The chat messages (the system part is the same for every turn: a reusable prefix)."""
        masked, _ = rules.mask_injection(req.reply)
        return [SystemMessage(self.prompt.system), HumanMessage(self.prompt.user.format(**turn_fields(req, masked)))]

    def judge(self, req: GradeRequest) -> MoveJudgement:
        """The move of ``req.reply``. Never raises for model trouble; ``ValueError`` for an empty reply."""
        if not req.reply.strip():
            raise ValueError("empty reply: nothing to judge")
        start = time.perf_counter()
        found = {f.criterion: f for f in rules.findings(req.reply, " ".join(req.policy))}
        for criterion, move in (("stays_calm", "provoke"), ("no_false_promises", "cave")):
            if criterion in found:
                return MoveJudgement(move, found[criterion].reason, "rules", self.prompt.sha256, time.perf_counter() - start)
        sign = rules.move_sign(req.reply)
        if sign:
            return MoveJudgement(sign[0], f"says {sign[1]!r}", "rules", self.prompt.sha256, time.perf_counter() - start)
        error = ""
        for _ in range(1 + self.retries):
            try:
                out = self.chain.invoke(self.messages(req))
                if isinstance(out, dict) and all(isinstance(out.get(c), bool) for c in CHECKS):
                    move = next((CHECK_MOVES[c] for c in CHECKS if out[c]), "neutral")
                    reason = ", ".join(c.replace("_", " ") for c in CHECKS if out[c]) or "none of the checks"
                    return MoveJudgement(move, reason, "model", self.prompt.sha256, time.perf_counter() - start)
                error = f"invalid answer: {str(out)[:100]}"
            except Exception as exc:  # parser errors, timeouts, HTTP errors
                error = f"{type(exc).__name__}: {exc}"[:200]
        return MoveJudgement("neutral", f"not judged: {error}", "fallback", self.prompt.sha256, time.perf_counter() - start)
