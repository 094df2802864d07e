"""The chat model's probability of "yes" for each observable check of the rubric.

For one reply, every check of every applicable criterion (``prompts/rubric.yaml``) is asked as a
narrow yes/no question on a shared context (the customer's line and the reply), and the
probability of the answer is read from the model instead of sampled
(:meth:`actor.llm.local.LocalChatModel.answer_probabilities`: one forward pass per question,
the shared context reused from the KV cache). The model's bias is removed with a content-free
reply (Zhao et al., 2021, "Calibrate before use"): the check's logit on an empty reply is
subtracted. A criterion's score is the mean calibrated probability of its checks (checks asked
as "does the reply avoid…" count the same way as the others: yes is good).

This is the slow, optional signal (about a second per check on 2 cores). ``python -m
evals.judgement --part checks`` measures it against the fitted heads; the app does not use it
unless that measurement shows it helps (see the README's "Judgement").
"""

from __future__ import annotations

import math

from langchain_core.messages import HumanMessage, SystemMessage

from actor.evaluator.request import GradeRequest
from actor.evaluator.rubric import Rubric, applicable, default_rubric

ANSWERS = {"yes": ("Yes", "yes", " Yes", " yes", "YES", "Ja", "ja"), "no": ("No", "no", " No", " no", "NO", "Nee", "nee")}
SYSTEM = "You check one thing about an employee's reply to a customer. Answer only yes or no."
CONTENT_FREE = "N/A"


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


class CheckScorer:
    """``model``: a chat model with ``answer_probabilities`` (the embedded backend).
    :meth:`score` returns criterion id → calibrated mean p(yes) over its checks."""

    def __init__(self, model, rubric: Rubric | None = None) -> None:
        self.model = model
        self.rubric = rubric or default_rubric()
        self._bias: dict[str, float] = {}

    def _messages(self, customer: str, reply: str, question: str) -> list:
        context = f"Customer: {customer}\nEmployee's reply: {reply}\n\n"
        return [SystemMessage(SYSTEM), HumanMessage(context + f"Question: {question}\nAnswer yes or no.")]

    def _p_yes(self, customer: str, reply: str, question: str) -> float:
        return self.model.answer_probabilities(self._messages(customer, reply, question), ANSWERS)["yes"]

    def bias(self, question: str) -> float:
        """The logit of "yes" on a content-free reply (cached per question)."""
        if question not in self._bias:
            self._bias[question] = _logit(self._p_yes("(a customer)", CONTENT_FREE, question))
        return self._bias[question]

    def score(self, req: GradeRequest) -> dict[str, float]:
        """Criterion id → calibrated probability that the reply does what its checks ask."""
        out = {}
        for cid in applicable(self.rubric, req.level, req.aggression_type, req.tactic):
            ps = []
            for check in self.rubric.criterion(cid).checks:
                q = check("en")
                z = _logit(self._p_yes(req.customer_line, req.reply, q)) - self.bias(q)
                ps.append(1 / (1 + math.exp(-z)))
            out[cid] = sum(ps) / len(ps)
        return out
