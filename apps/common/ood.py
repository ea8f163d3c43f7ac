"""Saying "unsure": an out-of-distribution score of a classifier's logits and its threshold.

Scores (higher = less like the training data):
    msp     1 - the maximum softmax probability (Hendrycks & Gimpel, 2017)
    energy  -logsumexp(logits) (Liu et al., 2020); needs real logits, so not for a model that
            outputs averaged probabilities (an ensemble, test-time augmentation)
    mahalanobis  the smallest Mahalanobis distance (squared) of the penultimate features to
            the class means, one covariance shared by the classes, both fitted on the
            TRAINING split (Lee et al., 2018, without input perturbation); for a model whose
            features the app can reach
    an app's own score, passed to `calibrate` as `extra`: e.g. a text classifier's "bigram" (how
            familiar a text's adjacent words are, apps/common/text_ood.py)
A one-logit binary model's logit z is read as the two logits (-z/2, z/2): the same softmax as
(0, z), and an energy that, like msp, depends on |z| only.

The threshold is calibrated on the run's validation split: the smallest score that at least
`pass_fraction` of the validation inputs do not exceed, so >= pass_fraction of in-distribution
validation inputs are answered without `unsure`. "auto" picks the score with the highest AUROC
between the validation inputs and a synthetic outlier set made from them by the app (pixels
shuffled within each image, words shuffled across texts): no real outlier data is used.
"""

import dataclasses
import math

import numpy as np

from apps.common.errors import ConfigError

SCORES = ("msp", "energy", "mahalanobis")


def two_logits(logits):
    """(N, 1) binary logit z -> (N, 2) logits (-z/2, z/2); (N, K) unchanged (TF tensors)."""
    import tensorflow as tf

    if logits.shape[-1] != 1:
        return logits
    return tf.concat([-0.5 * logits, 0.5 * logits], axis=-1)


def scores(logits: np.ndarray, score: str, features=None, gaussian=None) -> np.ndarray:
    """(N,) float32 scores of (N, K) logits (and (N, D) features for mahalanobis), computed by
    `score_tensor` (the export's graph op), so a threshold set on them splits exactly as the
    export does."""
    logits = np.asarray(logits, np.float32)
    if len(logits) == 0:
        return np.zeros((0,), np.float32)
    if features is not None:
        features = np.asarray(features, np.float32)
    return score_tensor(logits, score, features, gaussian).numpy()


def score_tensor(logits, score: str, features=None, gaussian=None):
    """`scores` in the graph: (N, K) float logits [(N, D) features, (means, precision)] -> (N,)."""
    import tensorflow as tf

    if score == "mahalanobis":
        if features is None or gaussian is None:
            raise ConfigError("ood_score='mahalanobis' needs the model's features and their class Gaussians")
        means, precision = (tf.constant(np.asarray(a, np.float32)) for a in gaussian)
        diff = tf.cast(features, tf.float32)[:, None, :] - means[None]  # (N, K, D)
        distance = tf.einsum("nkd,de,nke->nk", diff, precision, diff)
        return tf.reduce_min(distance, axis=-1)
    z = two_logits(tf.cast(logits, tf.float32))
    if score == "msp":
        return 1.0 - tf.reduce_max(tf.nn.softmax(z), axis=-1)
    if score == "energy":
        return -tf.reduce_logsumexp(z, axis=-1)
    raise ConfigError(f"ood_score={score!r}: expected one of {', '.join(SCORES)}")


def fit_gaussians(features: np.ndarray, labels: np.ndarray, classes: int, ridge: float = 1e-3):
    """(means (K, D), precision (D, D)) of class-conditional Gaussians with one shared
    covariance (ridge * mean variance added to its diagonal so it inverts), float64 NumPy."""
    features = np.asarray(features, np.float64)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(classes)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(features)
    covariance += ridge * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    return means, np.linalg.inv(covariance)


def threshold(values: np.ndarray, pass_fraction: float) -> float:
    """The smallest t with at least `pass_fraction` of `values` <= t."""
    values = np.sort(np.asarray(values, np.float32))
    if len(values) == 0:
        raise ConfigError("no validation inputs to calibrate the 'unsure' threshold on")
    return float(values[max(math.ceil(pass_fraction * len(values)) - 1, 0)])  # exact in float32


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an outside score > an inside score), ties counting half (Mann-Whitney U / (n m))."""
    inside, outside = np.asarray(inside, np.float64), np.asarray(outside, np.float64)
    both = np.concatenate([inside, outside])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for value in np.unique(both):  # average ranks of ties
        tied = both == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    u = ranks[len(inside):].sum() - len(outside) * (len(outside) + 1) / 2
    return float(u / (len(inside) * len(outside)))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """What an export bakes in: the score, its threshold and how they were chosen."""

    score: str
    threshold: float
    pass_fraction: float
    validation_count: int
    proxy_auroc: dict  # score -> AUROC validation vs the synthetic outliers
    means: list | None = None  # mahalanobis: (K, D) class means of the training features
    precision: list | None = None  # mahalanobis: (D, D) inverse of their shared covariance
    params: dict | None = None  # a score computed by the app (`extra`): its parameters

    @property
    def gaussian(self):
        return None if self.means is None else (np.asarray(self.means, np.float32),
                                                np.asarray(self.precision, np.float32))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def calibrate(val_logits, proxy_logits, score: str = "auto", pass_fraction: float = 0.95,
              probabilities: bool = False, val_features=None, proxy_features=None,
              gaussian=None, extra=None, params=None) -> Calibration:
    """Pick the score ("auto": the highest AUROC of validation vs `proxy_logits`) and its
    threshold on the validation logits. `probabilities`: the model outputs averaged
    probabilities (their logs are passed), where energy is meaningless; mahalanobis is
    offered when the features and the training Gaussians (`fit_gaussians`) are given.
    `extra`: {name: (validation scores, proxy scores)} of scores the app computes itself (e.g.
    apps/common/text_ood.py), offered too; `params` ({name: dict}) are kept for the chosen one."""
    extra = dict(extra or {})
    allowed = (["msp"] + ([] if probabilities else ["energy"]) + (["mahalanobis"] if gaussian is not None else [])
               + list(extra))
    if score != "auto" and score not in allowed:
        why = {"energy": " (the model averages probabilities: no logits for energy)",
               "mahalanobis": " (no features of this model)"}.get(score, "")
        raise ConfigError(f"ood_score={score!r}: expected auto or {' / '.join(allowed)}{why}")
    gaussian = None if gaussian is None else tuple(np.asarray(a, np.float32) for a in gaussian)

    def of(name, z, features, which):
        if name in extra:
            return np.asarray(extra[name][which], np.float32)
        return scores(z, name, features if name == "mahalanobis" else None, gaussian)

    aurocs = {name: auroc(of(name, val_logits, val_features, 0), of(name, proxy_logits, proxy_features, 1))
              for name in allowed}
    chosen = max(allowed, key=lambda name: aurocs[name]) if score == "auto" else score
    keep = chosen == "mahalanobis"
    return Calibration(chosen, threshold(of(chosen, val_logits, val_features, 0), pass_fraction),
                       float(pass_fraction), int(len(val_logits)), aurocs, gaussian[0].tolist() if keep else None,
                       gaussian[1].tolist() if keep else None, (params or {}).get(chosen))


def shuffled_pixels(images: np.ndarray, seed: int) -> np.ndarray:
    """(N, H, W, C) -> each image's pixel positions shuffled (its own permutation): the images'
    intensities without their shapes, the synthetic outliers of image classifiers."""
    rng = np.random.default_rng(seed)
    n, h, w, c = images.shape
    flat = images.reshape(n, h * w, c).copy()
    for row in flat:
        rng.shuffle(row)
    return flat.reshape(images.shape)


def shuffled_words(texts, seed: int) -> list:
    """Texts of the same lengths (in words) made of all the texts' words in a random order:
    the synthetic outliers of text classifiers."""
    rng = np.random.default_rng(seed)
    split = [str(t).split() for t in texts]
    words = [w for ws in split for w in ws]
    order = rng.permutation(len(words))
    out, start = [], 0
    for ws in split:
        out.append(" ".join(words[i] for i in order[start:start + len(ws)]))
        start += len(ws)
    return out
