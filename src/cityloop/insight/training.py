"""Training a ``LinearClassifier`` from labelled reports, unlabelled reports and category names.

What each ingredient is for (measured on the Teddy sample, docs/insight/classifier.md):

- Labelled reports: a linear SVM over character 1–2-gram TF-IDF of the whole text and of the title.
- Category names (optional): one tiny training document per sub-category name, and each text's
  similarity to every category's names as extra features. 500 labelled messages do not mention every
  sub-problem of a category; the names do.
- Unlabelled reports (optional): they fit the vocabulary and IDF (no labels involved), and one round of
  self-training adds, per category, the unlabelled reports the first model is surest about, at half
  weight — no more per category than it has labelled examples, so no category swamps the others.
- Calibration: out-of-fold scores from an internal stratified k-fold fit the temperature; the same folds
  give the training metrics stored in the model's header.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from cityloop.core.errors import ValidationFailed
from cityloop.insight.calibration import expected_calibration_error, fit_temperature, log_loss
from cityloop.insight.calibration import probabilities as calibrated
from cityloop.insight.classifier import LinearClassifier, decision, featurize
from cityloop.insight.features import CategoryPrior, CharTfidf, Record, document

NGRAM = (1, 2)
MIN_DF = 2
MIN_EXAMPLES = 2  # per category: calibration needs every category on both sides of a split
CV_FOLDS = 5
PRIOR_WEIGHT = 1.0
PSEUDO_LABEL_WEIGHT = 0.5
SVM_C = 1.0


@dataclass(frozen=True)
class _Data:
    """Everything the fits share: the matrices are built once and sliced per fold."""

    labelled: sp.csr_matrix
    y: np.ndarray  # class indices
    names: sp.csr_matrix
    names_y: np.ndarray
    unlabelled: sp.csr_matrix
    n_classes: int


def train(
    records: Sequence[Record],
    labels: Sequence[str],
    *,
    unlabelled: Sequence[Record] = (),
    prior: CategoryPrior | None = None,
    seed: int = 0,
) -> LinearClassifier:
    """Fit, calibrate and measure a classifier. Rows with text but no label count as unlabelled."""
    texts, y_names, extra, dropped = _split(records, labels)
    classes = sorted(set(y_names))
    if len(classes) < 2:
        raise ValidationFailed("insight.error.too_few_classes", found=len(classes), min=MIN_EXAMPLES)
    prior = prior.restricted(classes) if prior is not None else None
    name_docs, name_labels = prior.pseudo_documents() if prior is not None else ([], [])
    pool = [*unlabelled_documents(unlabelled), *extra]
    full = CharTfidf.fit([d[0] for d in texts + pool] + name_docs, ngram=NGRAM, min_df=MIN_DF)
    lead = CharTfidf.fit([d[1] for d in texts + pool] + name_docs, ngram=NGRAM, min_df=MIN_DF)
    scorer = prior.scorer() if prior is not None else None
    index = {c: i for i, c in enumerate(classes)}

    width = len(full.vocabulary) + len(lead.vocabulary) + (len(classes) if scorer is not None else 0)

    def matrix(docs: Sequence[tuple[str, str]]) -> sp.csr_matrix:
        if not docs:
            return sp.csr_matrix((0, width), dtype=np.float64)
        return featurize(full, lead, scorer, PRIOR_WEIGHT, docs)

    data = _Data(
        labelled=matrix(texts),
        y=np.array([index[c] for c in y_names]),
        names=matrix([(d, d) for d in name_docs]),
        names_y=np.array([index[c] for c in name_labels], dtype=int),
        unlabelled=matrix(pool),
        n_classes=len(classes),
    )
    oof, folds = _out_of_fold(data, seed)
    temperature = fit_temperature(oof, data.y)
    coef, intercept, added = _fit(data, np.arange(len(data.y)), seed)
    return LinearClassifier(
        classes=classes,
        full=full,
        lead=lead,
        prior=prior,
        prior_weight=PRIOR_WEIGHT if prior is not None else 0.0,
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        training=_metrics(data, classes, oof, temperature, folds, added, dropped, len(name_docs)),
    )


def unlabelled_documents(records: Sequence[Record]) -> list[tuple[str, str]]:
    return [d for d in (document(r) for r in records) if d[0]]


def _split(
    records: Sequence[Record], labels: Sequence[str]
) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]], dict[str, int]]:
    """Labelled documents and labels, unlabelled documents, and categories dropped for too few examples."""
    if len(records) != len(labels):
        raise ValueError("records and labels differ in length")
    pairs: list[tuple[tuple[str, str], str]] = []
    extra: list[tuple[str, str]] = []
    for record, label in zip(records, labels, strict=True):
        doc, name = document(record), (label or "").strip()
        if doc[0] and name:
            pairs.append((doc, name))
        elif doc[0]:
            extra.append(doc)
    if not pairs:
        raise ValidationFailed("insight.error.no_labelled_rows")
    counts = Counter(name for _, name in pairs)
    dropped = {c: n for c, n in counts.items() if n < MIN_EXAMPLES}
    kept = [(d, n) for d, n in pairs if n not in dropped]
    return [d for d, _ in kept], [n for _, n in kept], extra, dropped


def _out_of_fold(data: _Data, seed: int) -> tuple[np.ndarray, int]:
    """Scores for each labelled report from a model that did not see it."""
    smallest = int(np.bincount(data.y, minlength=data.n_classes).min())
    folds = max(2, min(CV_FOLDS, smallest))
    oof = np.zeros((len(data.y), data.n_classes))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(data.y)), data.y):
        coef, intercept, _ = _fit(data, train_idx, seed)
        oof[test_idx] = decision(data.labelled[test_idx], coef, intercept)
    return oof, folds


def _fit(data: _Data, rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """SVM on the chosen labelled rows plus the name documents; then one round of self-training."""
    x = sp.vstack([data.labelled[rows], data.names], format="csr")
    y = np.concatenate([data.y[rows], data.names_y])
    weight = np.ones(len(y))
    coef, intercept = _svm(x, y, weight, data.n_classes, seed)
    if data.unlabelled.shape[0] == 0:
        return coef, intercept, 0
    picked, guessed = _confident(decision(data.unlabelled, coef, intercept), data.y[rows], data.n_classes)
    if len(picked) == 0:
        return coef, intercept, 0
    x = sp.vstack([x, data.unlabelled[picked]], format="csr")
    y = np.concatenate([y, guessed])
    weight = np.concatenate([weight, np.full(len(picked), PSEUDO_LABEL_WEIGHT)])
    coef, intercept = _svm(x, y, weight, data.n_classes, seed)
    return coef, intercept, len(picked)


def _confident(scores: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, the unlabelled rows it wins by the widest margin, at most as many as its labelled rows."""
    top = scores.argmax(axis=1)
    ordered = np.sort(scores, axis=1)
    margin = ordered[:, -1] - ordered[:, -2]
    quota = np.bincount(y, minlength=n_classes)
    picked: list[np.ndarray] = []
    for c in range(n_classes):
        rows = np.flatnonzero(top == c)
        picked.append(rows[np.argsort(-margin[rows], kind="stable")][: quota[c]])
    chosen = np.concatenate(picked) if picked else np.array([], dtype=int)
    return chosen, top[chosen]


def _svm(
    x: sp.csr_matrix, y: np.ndarray, weight: np.ndarray, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(coef, intercept) with one row per class, also for two classes and for classes absent from y."""
    svm = LinearSVC(C=SVM_C, random_state=seed).fit(x, y, sample_weight=weight)
    raw_coef, raw_intercept = np.asarray(svm.coef_), np.asarray(svm.intercept_)
    if len(svm.classes_) == 2:  # one score column: make it two, symmetric around zero
        raw_coef = np.vstack([-raw_coef[0] / 2, raw_coef[0] / 2])
        raw_intercept = np.array([-raw_intercept[0] / 2, raw_intercept[0] / 2])
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.full(n_classes, -1e3)  # a class never seen in this fit never wins
    coef[svm.classes_] = raw_coef
    intercept[svm.classes_] = raw_intercept
    return coef, intercept


def _metrics(
    data: _Data,
    classes: list[str],
    oof: np.ndarray,
    temperature: float,
    folds: int,
    added: int,
    dropped: dict[str, int],
    names: int,
) -> dict[str, object]:
    predicted = oof.argmax(axis=1)
    probs = calibrated(oof, temperature)
    confidence = probs.max(axis=1)
    correct = predicted == data.y
    return {
        "labelled": len(data.y),
        "unlabelled": int(data.unlabelled.shape[0]),
        "self_training_added": added,
        "category_name_documents": names,
        "per_class": dict(zip(classes, map(int, np.bincount(data.y, minlength=data.n_classes)), strict=True)),
        "dropped_classes": dropped,
        "cv_folds": folds,
        "cv_macro_f1": round(float(f1_score(data.y, predicted, average="macro")), 4),
        "cv_accuracy": round(float(accuracy_score(data.y, predicted)), 4),
        "cv_log_loss": round(log_loss(oof, data.y, temperature), 4),
        "cv_ece": round(expected_calibration_error(confidence, correct), 4),
        "temperature": round(temperature, 6),
    }
