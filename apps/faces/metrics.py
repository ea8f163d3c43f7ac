"""Verification metrics on pair distances (lower = more alike) and threshold calibration.

A pair is accepted as "same person" when its distance is <= the threshold. TAR (true
accept rate) is the fraction of genuine pairs accepted, FAR (false accept rate) the
fraction of impostor pairs accepted. Pure NumPy.
"""

import numpy as np

from apps.common.errors import DataError


def _check(distances, genuine):
    d = np.asarray(distances, np.float64).ravel()
    g = np.asarray(genuine, bool).ravel()
    if d.shape != g.shape:
        raise DataError(f"distances {d.shape} and genuine {g.shape} differ in length")
    if g.all() or not g.any():
        raise DataError(f"verification needs genuine and impostor pairs; got {int(g.sum())} genuine "
                        f"of {len(g)}")
    if not np.isfinite(d).all():
        raise DataError("distances contain NaN or infinity")
    return d, g


def roc(distances, genuine):
    """-> (thresholds, far, tar): one point per distinct distance, ascending, after the
    start point (threshold below every distance: far = tar = 0)."""
    d, g = _check(distances, genuine)
    order = np.argsort(d, kind="stable")
    d, g = d[order], g[order]
    last = np.r_[np.flatnonzero(np.diff(d)), len(d) - 1]  # last index of each distinct value
    tp = np.cumsum(g)[last]
    fp = np.cumsum(~g)[last]
    thresholds = np.r_[-np.inf, d[last]]
    return thresholds, np.r_[0.0, fp / (~g).sum()], np.r_[0.0, tp / g.sum()]


def auc(distances, genuine) -> float:
    """Area under the ROC curve (ties count half, as sklearn's roc_auc_score)."""
    _, far, tar = roc(distances, genuine)
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2.0))


def eer(distances, genuine) -> float:
    """Equal error rate: where FAR = FRR (= 1 - TAR), linearly interpolated on the ROC."""
    _, far, tar = roc(distances, genuine)
    frr = 1.0 - tar
    diff = far - frr  # rises from -1 to +1
    k = int(np.argmax(diff >= 0))
    if k == 0:
        return float(far[0])
    d0, d1 = diff[k - 1], diff[k]
    t = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    return float(far[k - 1] + t * (far[k] - far[k - 1]))


def tar_at_far(distances, genuine, far_target: float) -> float:
    """The best TAR with FAR <= far_target over all thresholds."""
    _, far, tar = roc(distances, genuine)
    return float(tar[far <= far_target + 1e-12].max())


def _midpoint(thresholds, k):
    """A threshold between ROC point k's distance and the next distance."""
    if k == 0:
        return float(thresholds[1]) - 1e-6
    if k + 1 < len(thresholds):
        return float((thresholds[k] + thresholds[k + 1]) / 2.0)
    return float(thresholds[k]) + 1e-6


def threshold_best_accuracy(distances, genuine) -> float:
    """The threshold of the highest pair accuracy (midway between neighbouring distances)."""
    thresholds, far, tar = roc(distances, genuine)
    d, g = _check(distances, genuine)
    n_gen, n_imp = g.sum(), (~g).sum()
    accuracy = (tar * n_gen + (1.0 - far) * n_imp) / len(g)
    return _midpoint(thresholds, int(np.argmax(accuracy)))


def threshold_at_far(distances, genuine, far_target: float) -> float:
    """The largest threshold whose FAR is <= far_target (midway to the next distance)."""
    thresholds, far, _ = roc(distances, genuine)
    return _midpoint(thresholds, int(np.flatnonzero(far <= far_target + 1e-12).max()))


def accuracy_at(distances, genuine, threshold: float) -> dict:
    d, g = _check(distances, genuine)
    accept = d <= threshold
    tar, far = float(accept[g].mean()), float(accept[~g].mean())
    return {"accuracy": float((accept == g).mean()), "tar": tar, "far": far,
            "balanced_accuracy": (tar + 1.0 - far) / 2.0}


def summary(distances, genuine) -> dict:
    d, g = _check(distances, genuine)
    return {
        "pairs": int(len(g)), "genuine_pairs": int(g.sum()),
        "roc_auc": auc(d, g), "eer": eer(d, g),
        "tar_at_far_1%": tar_at_far(d, g, 0.01), "tar_at_far_0.1%": tar_at_far(d, g, 0.001),
    }


# ---------------------------------------------------------------- the learned similarity
def fit_logistic(features, genuine, l2=1e-3, iterations=50):
    """Logistic regression p(same) = sigmoid(w . x + b) on x = |f(x1) - f(x2)| (the course's
    learned similarity), by Newton's method with balanced class weights and an L2 penalty
    on w. -> (w (D,), b)."""
    x = np.asarray(features, np.float64)
    y = np.asarray(genuine, np.float64)
    _check(np.zeros(len(y)), y.astype(bool))
    n, dim = x.shape
    weight = np.where(y > 0, 0.5 / y.mean(), 0.5 / (1 - y.mean())) / n
    xb = np.c_[x, np.ones(n)]
    theta = np.zeros(dim + 1)
    penalty = np.r_[np.full(dim, l2), 0.0]
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ theta, -50, 50)))
        grad = xb.T @ (weight * (p - y)) + penalty * theta
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:dim].astype(np.float32), float(theta[dim])


def logistic_probability(features, w, b):
    z = np.asarray(features, np.float64) @ np.asarray(w, np.float64) + b
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
