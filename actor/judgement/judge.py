"""One judgement of one trainee reply: verdicts, move and tone in milliseconds; words later.

::

    GradeRequest ─▶ Judge.verdicts()   applicability (rule) ─▶ features (rules + e5 embeddings +
                                       level/type/tactic) ─▶ fitted head per criterion ─▶ p(pass)
                                       ─▶ rule failure signs can only turn a pass into a fail
                                       ─▶ verdicts, "unsure" band, move (derive_move on the verdicts), tone
                 ─▶ Judge.reasons()    per failed criterion the rubric's "missed" text about the
                                       reply's own words (no chat model); the better phrasing is
                                       a worked example of the labelled bank for this scenario
                                       when one fits (actor.judgement.tips), shown with the verdicts
                 ─▶ Judge.word()       otherwise the chat model writes the better phrasing in the
                                       background (actor.judgement.wording), else the rubric's
                                       example; verdicts never change here

The move gates the customer's answer, so it uses only what :meth:`Judge.verdicts` has: no chat
model. Heads come from ``actor/judgement/heads.json`` (``actor judgement fit``); without them
the judgement says so once at start and gives rule-only verdicts (``status="rules_only"``),
never made-up ones.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from actor.evaluator import rules
from actor.evaluator.assessment import CriterionResult, TurnAssessment
from actor.evaluator.request import GradeRequest
from actor.evaluator.rubric import Rubric, applicable, default_rubric
from actor.judgement.bank import BANK_DIR, derive_move, load_bank
from actor.judgement.features import FIXED_WIDTHS, Featurizer, strip_injection
from actor.judgement.heads import BLOCK_SETS as FEATURE_SETS
from actor.judgement.heads import DEFAULT_HEADS, Heads
from actor.judgement.tips import BankTips

UNSURE_BAND = (0.35, 0.65)  # p(pass) in this band is shown as "twijfel / unsure" (fixed, not tuned)
FIT_COMMAND = "actor judgement fit"


def load_heads(path: Path = DEFAULT_HEADS, bank_dir: Path | None = BANK_DIR) -> tuple[Heads | None, str | None]:
    """``(heads, problem)``: the fitted heads and, when something is wrong, one line for the
    start-up log with the command that fixes it. Missing or unreadable file: ``(None, line)``;
    fitted on another bank than the one in ``bank_dir``: ``(heads, line)`` (still used: they
    are real fitted heads, only older). Never raises."""
    try:
        heads = Heads.load(path)
    except FileNotFoundError:
        return None, f"no fitted judgement heads at {path}: verdicts come from the rule checks only; run `{FIT_COMMAND}`"
    except (ValueError, OSError) as exc:
        return None, f"judgement heads unreadable ({exc}): verdicts come from the rule checks only; run `{FIT_COMMAND}`"
    if bank_dir is not None and Path(bank_dir).is_dir():
        try:
            _, sha = load_bank(bank_dir)
        except (FileNotFoundError, ValueError):
            return heads, None
        if sha != heads.bank_sha256:
            return heads, (f"judgement heads were fitted on another version of the bank ({heads.bank_sha256[:12]}, "
                           f"now {sha[:12]}); run `{FIT_COMMAND}` to refit")
    return heads, None


def criterion_hash(rubric: Rubric, cid: str) -> str:
    """sha256 of one criterion's definition: a head fitted on another definition is not used
    for it. The feedback's ``missed`` text is not part of it (it words a failure, it does not
    define one), so rewording it keeps the criterion's head."""
    return hashlib.sha256(rubric.criterion(cid).model_dump_json(exclude={"missed"}).encode()).hexdigest()


class Judge:
    """Judges trainee replies. ``embeddings``: the e5 model (or a deterministic fake in tests);
    ``heads``: fitted :class:`~actor.judgement.heads.Heads` or ``None`` (rule checks only);
    ``writer``: an :class:`~actor.judgement.wording.Writer` for the words, or ``None`` (the
    rubric's text); ``tips``: the bank's worked examples (:class:`~actor.judgement.tips.BankTips`),
    used as the better phrasing when one fits (no model call then). Holds no conversation state: one instance serves every session."""

    def __init__(self, embeddings, heads: Heads | None, rubric: Rubric | None = None, writer=None,
                 model_id: str = "", tips: BankTips | None = None) -> None:
        self.featurizer = Featurizer(embeddings)
        self.heads = heads
        self.writer = writer
        self.tips = tips
        self.model_id = model_id
        self.use_rubric(rubric or default_rubric())

    def use_rubric(self, rubric: Rubric) -> None:
        """Judge with ``rubric`` from now on (a trainer saved a new version); a criterion whose
        definition differs from the one its head was fitted on loses its calibrated head."""
        heads = self.heads
        fitted = (heads.extra or {}).get("criterion_sha256", {}) if heads else {}
        self.calibrated = {cid: bool(heads and cid in heads.criteria and fitted.get(cid, criterion_hash(rubric, cid))
                                     == criterion_hash(rubric, cid)) for cid in (c.id for c in rubric.criteria)}
        self.rubric = rubric

    def verdicts(self, req: GradeRequest) -> TurnAssessment:
        """Verdicts, move and tone of ``req.reply`` (no chat model; tens of milliseconds).
        ``wording`` is ``pending`` until :meth:`word` has run. Raises ``ValueError`` for an
        empty reply or a level outside 0–4; an embedding failure gives rule-only verdicts."""
        if not req.reply.strip():
            raise ValueError("empty reply: nothing to judge")
        start = time.perf_counter()
        criteria = applicable(self.rubric, req.level, req.aggression_type, req.tactic)
        ctx = req
        clean, injection = strip_injection(req.reply)
        found = {f.criterion: f for f in rules.findings(clean, req.allowed)}
        rows: dict[str, np.ndarray] = {}
        error = None
        results: dict[str, CriterionResult] = {}
        for c in self.rubric.criteria:
            cid = c.id
            if cid not in criteria:
                results[cid] = CriterionResult(reason="", verdict="n/a", source="applicability")
                continue
            head = self.heads.criteria.get(cid) if self.heads and self.calibrated[cid] else None
            p, signals = None, {}
            if head is not None and error is None:
                try:
                    if head.feature_set not in rows:
                        rows[head.feature_set] = self.featurizer.row(ctx, FEATURE_SETS[head.feature_set])
                    x = rows[head.feature_set]
                    p = float(head.p_pass(x)[0])
                    signals = _contributions(head, x)
                except Exception as exc:  # the embedding engine failed: rule checks only
                    error = f"{type(exc).__name__}: {exc}"[:300]
                    p = None
            if cid in found:
                f = found[cid]
                results[cid] = CriterionResult(reason=f.reason, evidence=f.evidence, verdict="fail", source="rules",
                                               p_pass=min(p, 0.05) if p is not None else 0.0, signals=signals,
                                               calibrated=self.calibrated[cid])
            elif p is None:
                results[cid] = CriterionResult(reason="", verdict=None, source="heads" if head else "checks",
                                               calibrated=self.calibrated[cid], unsure=True)
            else:
                results[cid] = CriterionResult(reason="", verdict="pass" if p >= 0.5 else "fail", source="heads", p_pass=round(p, 4),
                                               unsure=UNSURE_BAND[0] <= p <= UNSURE_BAND[1], signals=signals)
        labels = {cid: (None if r.verdict in (None, "n/a") else int(r.verdict == "pass")) for cid, r in results.items()}
        tone = None
        if self.heads and self.heads.tone and error is None:
            try:
                x = self.featurizer.row(ctx, FEATURE_SETS[self.heads.tone.feature_set])
                tone = round(float(np.clip(self.heads.tone.expected(x)[0], 1, 5)), 2)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        usable = self.heads is not None and error is None
        return TurnAssessment(
            criteria=results, tip="", tone=tone, move=derive_move(labels),
            status="graded" if usable else "rules_only", error=error if error else (None if self.heads else "no fitted heads"),
            injection_suspected=injection, wording="pending",
            rubric_sha256=self.rubric.sha256, prompt_sha256=self.writer.sha256 if self.writer else "",
            heads_sha256=self.heads.bank_sha256 if self.heads else "", model_id=self.model_id,
            seconds=time.perf_counter() - start,
        )

    def weakest_sentence(self, req: GradeRequest, cid: str, max_words: int = 18) -> str:
        """The words of ``req.reply`` that ``cid`` concerns: the sentence its head scores lowest
        (the whole reply when it is one sentence or there is no head), cut to ``max_words``
        words. Always text of the reply."""
        from actor.judgement.features import sentences

        clean, _ = strip_injection(req.reply)
        parts = sentences(clean) or [clean]
        head = self.heads.criteria.get(cid) if self.heads and self.calibrated.get(cid) else None
        best = parts[0]
        if head is not None and len(parts) > 1:
            try:
                scored = []
                for part in parts:
                    ctx = replace(req, reply=part)
                    scored.append((float(head.p_pass(self.featurizer.row(ctx, FEATURE_SETS[head.feature_set]))[0]), part))
                best = min(scored)[1]
            except Exception:  # embeddings unavailable: the first sentence
                best = parts[0]
        words = best.split()
        return best if len(words) <= max_words else " ".join(words[:max_words]) + " …"

    def quotes(self, req: GradeRequest, assessment: TurnAssessment) -> dict[str, str]:
        """Criterion id → the reply's words each confident failure concerns: its evidence (a
        rule's match, or a quote chosen earlier) or :meth:`weakest_sentence`."""
        from actor.judgement.wording import failed_criteria

        return {cid: assessment.criteria[cid].evidence or self.weakest_sentence(req, cid) for cid in failed_criteria(assessment)}

    def prepare(self, scenario_id: str | None = None, lang: str | None = None) -> None:
        """Embed the bank's customer lines for ``scenario_id`` in ``lang`` now (default: every
        scenario and language; :meth:`~actor.judgement.tips.BankTips.prepare`), so that no
        session's first tip, nor its first prompt evaluation, waits for them (~300 short lines,
        a few seconds on 2 cores; done at start-up by :meth:`~actor.session.Workbench.warm_up`).
        Never raises."""
        if self.tips is None:
            return
        for sid, lg in self.tips.groups:
            if scenario_id in (None, sid) and lang in (None, lg):
                try:
                    self.tips.prepare(sid, lg, self.featurizer.embed)
                except Exception:
                    pass

    def bank_tip(self, req: GradeRequest, assessment: TurnAssessment, avoid: Sequence[str] = ()) -> str | None:
        """A worked example from the bank for ``req.scenario_id`` that passes a criterion the
        reply confidently failed and that this judge fails on nothing
        (:meth:`~actor.judgement.tips.BankTips.pick`), not one of ``avoid``; ``None`` when
        there is none, nothing failed, or the embeddings fail."""
        from actor.judgement.wording import failed_criteria

        failed = failed_criteria(assessment)
        if self.tips is None or not failed or not req.scenario_id:
            return None
        passed = [c for c, r in assessment.criteria.items() if r.verdict == "pass"]
        try:
            return self.tips.pick(req.scenario_id, req.lang, req.customer_line, req.level, req.tactic, failed, passed,
                                  self.featurizer.embed, lambda text: self.verdicts(replace(req, reply=text)).verdicts(),
                                  avoid)
        except Exception:
            return None

    def reasons(self, req: GradeRequest, assessment: TurnAssessment, avoid: Sequence[str] = ()) -> TurnAssessment:
        """``assessment`` with the reason of each confident failure (the rubric's ``missed`` text
        about the words :meth:`weakest_sentence` picks), no chat model involved: shown with the
        verdicts at once. When the bank has a worked example (:meth:`bank_tip`, not one of
        ``avoid``) it is the tip and the words are final (``wording``: ``bank``); otherwise
        ``wording`` and ``tip`` are kept (the model's better phrasing follows)."""
        from actor.judgement.wording import rubric_wording

        worded = rubric_wording(req, assessment, self.rubric, self.quotes(req, assessment))
        example = self.bank_tip(req, assessment, avoid) if assessment.wording == "pending" else None
        if example:
            return _with_example(worded, example, req.lang)
        return worded.model_copy(update={"wording": assessment.wording, "tip": assessment.tip})

    def word(self, req: GradeRequest, assessment: TurnAssessment, writer=None, avoid: Sequence[str] = ()) -> TurnAssessment:
        """``assessment`` with its reasons (the rubric's ``missed`` text about the reply's words
        each failed criterion concerns, chosen here by :meth:`weakest_sentence`) and a better
        phrasing: the bank's worked example when one fits (:meth:`bank_tip`, not one of
        ``avoid``), else one written by ``writer`` (default: the judge's own; judged like a
        reply before it is kept), else the rubric's example. The verdicts are never changed.
        Never raises for model trouble."""
        from actor.judgement.wording import rubric_wording

        start = time.perf_counter()
        writer = writer or self.writer
        quotes = self.quotes(req, assessment)
        example = self.bank_tip(req, assessment, avoid)
        if example:
            worded = _with_example(rubric_wording(req, assessment, self.rubric, quotes), example, req.lang)
        elif writer is not None:
            worded = writer.word(req, assessment, self.rubric, quotes=quotes,
                                 judge_tip=lambda text: self.verdicts(replace(req, reply=text)))
        else:
            worded = rubric_wording(req, assessment, self.rubric, quotes)
        return worded.model_copy(update={"seconds": assessment.seconds + (time.perf_counter() - start)})

    def judge(self, req: GradeRequest) -> TurnAssessment:
        """:meth:`verdicts` then :meth:`word`."""
        return self.word(req, self.verdicts(req))


def _with_example(worded: TurnAssessment, example: str, lang: str) -> TurnAssessment:
    """``worded`` with the bank's worked ``example`` as its tip (``wording``: ``bank``, final)."""
    from actor.judgement.wording import example_tip

    return worded.model_copy(update={"wording": "bank", "tip": example_tip(example, lang)})


def _contributions(head, x: np.ndarray) -> dict[str, float]:
    """Feature block → its share of the head's logit (``(x - mean) / scale · coef`` summed per
    block), rounded; blocks in the order of the head's feature set."""
    z = (np.asarray(x) - np.asarray(head.mean)) / np.asarray(head.scale) * np.asarray(head.coef)
    blocks = FEATURE_SETS[head.feature_set]
    fixed = sum(FIXED_WIDTHS.get(b, 0) for b in blocks)
    embedded = [b for b in blocks if b not in FIXED_WIDTHS]
    width = (len(z) - fixed) // max(1, len(embedded))  # the embedding dimension
    out, i = {}, 0
    for block in blocks:
        n = FIXED_WIDTHS.get(block, width)
        out[block] = round(float(z[i:i + n].sum()), 3)
        i += n
    return out
