"""Suggest a category, with a confidence, for a report's text.

Two kinds of classifier answer the same two calls (``predict`` and ``probabilities``):

- ``KeywordClassifier`` needs no training at all: it compares the text with the category names (and
  their sub-category names when known). It is what a district runs before it has any history.
- ``LinearClassifier`` is trained on labelled reports (``cityloop.insight.training.train``): a linear
  SVM over character n-grams of the whole text and of its title, plus the category-name similarities,
  with temperature-scaled probabilities so that "confidence ≥ 0.8" means about 80 % right or better.

Both are loaded once (``cityloop.insight.modelfile.load``) and then classify a message in well under a
millisecond of CPU, so intake can call them inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from cityloop.insight.calibration import probabilities as calibrated
from cityloop.insight.features import CategoryPrior, CharTfidf, PriorScorer, Record, document

# Keyword-rule scores are cosines in [0, 1]; this temperature spreads them into probabilities. It is not
# fitted to labels (there are none before training): it only makes a lone strong match read as confident
# and a near-tie read as doubtful. bench/classifier_eval.py prints how accurate each confidence band is.
KEYWORD_TEMPERATURE = 0.05


@dataclass(frozen=True)
class Prediction:
    """``label`` is "" when nothing in the text points to any category (send it to manual triage)."""

    label: str
    confidence: float


class Classifier(Protocol):
    kind: str
    classes: list[str]

    def probabilities(self, records: Sequence[Record]) -> np.ndarray: ...

    def predict(self, records: Sequence[Record]) -> list[Prediction]: ...


def _best(classes: Sequence[str], probs: np.ndarray, known: np.ndarray) -> list[Prediction]:
    top = probs.argmax(axis=1)
    return [
        Prediction(classes[i], float(probs[row, i])) if known[row] else Prediction("", 0.0)
        for row, i in enumerate(top)
    ]


class KeywordClassifier:
    """Category suggestions from category names alone (no training data needed)."""

    kind = "keywords"

    def __init__(self, prior: CategoryPrior, *, temperature: float = KEYWORD_TEMPERATURE) -> None:
        self.prior = prior
        self.classes = prior.classes
        self.temperature = temperature
        self._scorer: PriorScorer = prior.scorer()

    @classmethod
    def from_categories(cls, categories: Mapping[str, Sequence[str]] | Sequence[str]) -> KeywordClassifier:
        """``{"环境保护": ["噪音污染", "大气污染", …], …}`` or just a list of category names."""
        if isinstance(categories, Mapping):
            return cls(CategoryPrior({c: list(v) for c, v in categories.items()}))
        return cls(CategoryPrior.from_names(list(categories)))

    def scores(self, records: Sequence[Record]) -> np.ndarray:
        return self._scorer.scores([document(r)[0] for r in records])

    def probabilities(self, records: Sequence[Record]) -> np.ndarray:
        return calibrated(self.scores(records), self.temperature)

    def predict(self, records: Sequence[Record]) -> list[Prediction]:
        scores = self.scores(records)
        return _best(self.classes, calibrated(scores, self.temperature), scores.max(axis=1) > 0)


@dataclass
class LinearClassifier:
    """A trained linear model over text features, with temperature-scaled probabilities."""

    classes: list[str]
    full: CharTfidf
    lead: CharTfidf
    prior: CategoryPrior | None
    prior_weight: float
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    temperature: float
    training: dict[str, Any] = field(default_factory=dict)
    kind = "linear"

    def __post_init__(self) -> None:
        self._scorer = self.prior.scorer() if self.prior is not None else None

    def features(self, records: Sequence[Record]) -> sp.csr_matrix:
        return self._features([document(r) for r in records])

    def _features(self, docs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        return featurize(self.full, self.lead, self._scorer, self.prior_weight, docs)

    def scores(self, records: Sequence[Record]) -> np.ndarray:
        return self._decision([document(r) for r in records])

    def _decision(self, docs: Sequence[tuple[str, str]]) -> np.ndarray:
        if len(docs) == 1:  # intake: the text's few non-zero features against the columns they hit
            _, cols, values = feature_entries(self.full, self.lead, self._scorer, self.prior_weight, docs)
            return (self.coef[:, cols] @ values + self.intercept).reshape(1, -1)
        return decision(self._features(docs), self.coef, self.intercept)

    def probabilities(self, records: Sequence[Record]) -> np.ndarray:
        return calibrated(self.scores(records), self.temperature)

    def predict(self, records: Sequence[Record]) -> list[Prediction]:
        docs = [document(r) for r in records]
        probs = calibrated(self._decision(docs), self.temperature)
        return _best(self.classes, probs, np.array([bool(d[0]) for d in docs], dtype=bool))


def featurize(
    full: CharTfidf,
    lead: CharTfidf,
    scorer: PriorScorer | None,
    prior_weight: float,
    docs: Sequence[tuple[str, str]],
) -> sp.csr_matrix:
    """Rows: [TF-IDF of the whole text | TF-IDF of the lead | weighted category-name similarities].

    Built from numpy entries in one sparse construction.
    """
    rows, cols, values = feature_entries(full, lead, scorer, prior_weight, docs)
    width = len(full.vocabulary) + len(lead.vocabulary)
    if scorer is not None and prior_weight > 0:
        width += len(scorer.classes)
    return sp.csr_matrix((values, (rows, cols)), shape=(len(docs), width))


def feature_entries(
    full: CharTfidf,
    lead: CharTfidf,
    scorer: PriorScorer | None,
    prior_weight: float,
    docs: Sequence[tuple[str, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The non-zero (row, column, value) entries of ``featurize(...)``."""
    texts = [d[0] for d in docs]
    r1, c1, v1 = full.entries(texts)
    r2, c2, v2 = lead.entries([d[1] for d in docs])
    parts = [(r1, c1, v1), (r2, c2 + len(full.vocabulary), v2)]
    width = len(full.vocabulary) + len(lead.vocabulary)
    if scorer is not None and prior_weight > 0:
        dense = prior_weight * scorer.scores(texts)
        r3, c3 = np.nonzero(dense)
        parts.append((r3, c3 + width, dense[r3, c3]))
    rows, cols, values = (np.concatenate(p) for p in zip(*parts, strict=True))
    return rows, cols, values


def decision(features: sp.csr_matrix, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    return np.asarray(features @ coef.T) + intercept
