"""Temperature scaling: one number that turns a linear model's scores into honest probabilities.

softmax(scores / T) with T chosen to minimise the log-loss of out-of-fold scores (Guo et al. 2017,
"On Calibration of Modern Neural Networks"; scikit-learn ≥ 1.8 offers the same as
``CalibratedClassifierCV(method="temperature")``). One parameter cannot overfit 500 messages, and
dividing by T never changes which class wins, so calibrating does not move macro-F1.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax


def probabilities(scores: np.ndarray, temperature: float) -> np.ndarray:
    return np.asarray(softmax(np.asarray(scores, dtype=np.float64) / temperature, axis=1))


def log_loss(scores: np.ndarray, truth: np.ndarray, temperature: float) -> float:
    logp = log_softmax(np.asarray(scores, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(truth)), truth].mean())


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """T > 0 minimising the log-loss of ``softmax(scores / T)`` against class indices ``truth``."""
    result = minimize_scalar(
        lambda log_t: log_loss(scores, truth, float(np.exp(log_t))), bounds=(-6.0, 6.0), method="bounded"
    )
    return float(np.exp(result.x))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)
