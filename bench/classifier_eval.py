"""Report-text classifier: stratified 5-fold cross-validation on the 495 labelled Teddy messages, against
the baseline, in one run; calibration of the confidences; speed of classifying 10,000 messages.

    .venv/bin/python bench/classifier_eval.py [--repeats 3] [--with-unlabelled]

Everything fitted on labels happens inside each fold: ``train`` fits its vocabulary, IDF, SVM and
temperature on the fold's training messages only (plus the category names, and with
``--with-unlabelled`` the 7,142 unlabelled messages of 附件3/附件4, which carry no labels).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cityloop.insight import modelfile  # noqa: E402
from cityloop.insight.calibration import expected_calibration_error  # noqa: E402
from cityloop.insight.classifier import KeywordClassifier  # noqa: E402
from cityloop.insight.features import CategoryPrior, clean  # noqa: E402
from cityloop.insight.training import train  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "complaints"
Record = tuple[str, str]
Predictor = Callable[[list[Record], np.ndarray, list[Record]], tuple[list[str], np.ndarray | None]]


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def baseline(train_x: list[Record], train_y: np.ndarray, test_x: list[Record]) -> tuple[list[str], None]:
    """The issue's baseline: character 1–3-gram TF-IDF + LinearSVC on title + body."""
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    x = vec.fit_transform([clean(" ".join(r)) for r in train_x])
    svm = LinearSVC().fit(x, train_y)
    return list(svm.predict(vec.transform([clean(" ".join(r)) for r in test_x]))), None


def ours(prior: CategoryPrior | None, unlabelled: Sequence[Record] = ()) -> Predictor:
    def run(train_x: list[Record], train_y: np.ndarray, test_x: list[Record]) -> tuple[list[str], np.ndarray]:
        model = train(train_x, list(train_y), prior=prior, unlabelled=unlabelled)
        predictions = model.predict(test_x)
        return [p.label for p in predictions], np.array([p.confidence for p in predictions])

    return run


def cross_validate(
    name: str, predictor: Predictor, x: list[Record], y: np.ndarray, repeats: int
) -> tuple[list[float], list[tuple[str, str, float]]]:
    scores: list[float] = []
    out_of_fold: list[tuple[str, str, float]] = []  # (truth, predicted, confidence) from the first repeat
    started = time.perf_counter()
    for seed in range(repeats):
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        for train_idx, test_idx in folds.split(np.zeros(len(y)), y):
            predicted, confidence = predictor(
                [x[i] for i in train_idx], y[train_idx], [x[i] for i in test_idx]
            )
            scores.append(f1_score(y[test_idx], predicted, average="macro", labels=sorted(set(y))))
            if seed == 0 and confidence is not None:
                out_of_fold += zip(y[test_idx], predicted, confidence, strict=True)
    per_repeat = [float(np.mean(scores[r * 5 : r * 5 + 5])) for r in range(repeats)]
    print(
        f"{name:<44} macro-F1 {np.mean(scores):.3f} ± {np.std(scores):.3f} (sd over {len(scores)} folds; "
        f"per 5-fold run: {', '.join(f'{s:.3f}' for s in per_repeat)}) "
        f"[{time.perf_counter() - started:.0f} s]",
        flush=True,
    )
    return scores, out_of_fold


def keyword_rules(prior: CategoryPrior, x: list[Record], y: np.ndarray) -> None:
    """No training at all: the same messages, classified from the category names alone."""
    model = KeywordClassifier(prior)
    predictions = model.predict(x)
    predicted = [p.label for p in predictions]
    score = f1_score(y, predicted, average="macro", labels=sorted(set(y)))
    unknown = sum(1 for p in predicted if not p)
    print(f"{'keyword rules from category names, no training':<44} macro-F1 {score:.3f} ({unknown} no match)")
    reliability("keyword rules", [(t, p.label, p.confidence) for t, p in zip(y, predictions, strict=True)])


def reliability(name: str, triples: list[tuple[str, str, float]]) -> None:
    confidence = np.array([c for _, _, c in triples])
    correct = np.array([t == p for t, p, _ in triples])
    bands = []
    for threshold in (0.5, 0.7, 0.8, 0.9):
        mask = confidence >= threshold
        accuracy = correct[mask].mean() if mask.any() else float("nan")
        bands.append(f"≥{threshold:.1f}: {mask.mean():.0%} of messages, {accuracy:.1%} right")
    print(
        f"  calibration ({name}): ECE {expected_calibration_error(confidence, correct):.3f}; "
        + "; ".join(bands)
    )


def speed(prior: CategoryPrior, x: list[Record], y: np.ndarray, pool: list[Record]) -> None:
    model = train(x, list(y), prior=prior)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.clf"
        modelfile.save(model, path)
        started = time.perf_counter()
        loaded = modelfile.load(path)
        load_s = time.perf_counter() - started
        size_kb = path.stat().st_size / 1024
    batch = (pool * (10_000 // len(pool) + 1))[:10_000]
    started = time.perf_counter()
    loaded.predict(batch)
    batch_s = time.perf_counter() - started
    latencies = []
    for record in batch[:1000]:
        t0 = time.perf_counter()
        loaded.predict([record])
        latencies.append((time.perf_counter() - t0) * 1000)
    print(
        f"speed: model file {size_kb:.0f} KiB, loads in {load_s:.2f} s; 10,000 messages classified in "
        f"{batch_s:.2f} s; one message at a time: p50 {np.percentile(latencies, 50):.2f} ms, "
        f"p99 {np.percentile(latencies, 99):.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3, help="5-fold runs with different shuffles")
    parser.add_argument("--with-unlabelled", action="store_true", help="also the semi-supervised variant")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not present")
        return 0
    labelled = rows("teddy2020c_a2_sample_labeled_495.csv")
    x = [(r["留言主题"], r["留言详情"]) for r in labelled]
    y = np.array([r["一级分类"] for r in labelled])
    tree = rows("teddy2020c_a1_category_tree.csv")
    prior = CategoryPrior.from_rows([[r["一级分类"], r["二级分类"], r["三级分类"]] for r in tree])
    classes = sorted(set(y))
    pool = [
        (r["留言主题"], r["留言详情"])
        for name in (
            "teddy2020c_a3_hotspot_messages_full_4326.csv",
            "teddy2020c_a4_messages_with_replies_full_2816.csv",
        )
        for r in rows(name)
    ]
    print(f"{len(x)} labelled messages, {len(classes)} classes; stratified 5-fold × {args.repeats}")
    cross_validate("baseline: char 1-3 TF-IDF + LinearSVC", baseline, x, y, args.repeats)
    _, oof_plain = cross_validate("ours, labelled messages only", ours(None), x, y, args.repeats)
    _, oof = cross_validate("ours + category tree (the default recipe)", ours(prior), x, y, args.repeats)
    reliability("ours + category tree, out-of-fold", oof)
    reliability("ours, labelled only, out-of-fold", oof_plain)
    if args.with_unlabelled:
        cross_validate(
            "ours + tree + 7,142 unlabelled (self-training)", ours(prior, pool), x, y, args.repeats
        )
    keyword_rules(prior.restricted(classes), x, y)
    speed(prior, x, y, pool)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
