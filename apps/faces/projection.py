"""Closed-form embedding heads fitted on the training people, and the flip layer of test-time
augmentation.

A frozen pretrained trunk's pooled features (each image and its mirror image, unit length)
are mapped by one affine projection learned from the training identities, then L2-normalised:

    "pca"     x -> V_k^T (x - mu)                          (the top-k principal axes)
    "whiten"  x -> diag(1 / sigma_k) V_k^T (x - mu)        (PCA whitening)
    "wccn"    x -> S_w^(-1/2) V_k^T (x - mu)               (PCA, then within-class
              covariance normalisation: the spread of one person's images becomes the
              identity, so directions where a person varies (pose, light) count less than
              directions where people differ; Hatch et al. 2006, the LDA family)

S_w is the within-class covariance in the k-d PCA space, shrunk towards a multiple of the
identity: S_w + r * trace(S_w)/k * I (r = `regularization`). Pure NumPy; the result is the
(kernel, bias) of a Dense layer, so the head lives inside the Keras model and the export.
"""

import numpy as np

from apps.common.errors import ConfigError

FITTED = ("pca", "whiten", "wccn")  # the closed-form projections
HEADS = ("learned", *FITTED, "none")


def fit_projection(features, labels, method, dims, regularization=0.3):
    """(N, F) features, (N,) person ids -> (kernel (F, dims), bias (dims,)) with
    `features @ kernel + bias` the projection `method` fitted on them."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels)
    if method not in FITTED:
        raise ConfigError(f"head: expected one of {', '.join(HEADS)}, got {method!r}")
    if x.ndim != 2 or len(x) != len(y):
        raise ConfigError(f"features {x.shape} and labels {y.shape}: expected (N, F) and (N,)")
    limit = min(len(x) - 1, x.shape[1])
    if not 1 <= dims <= limit:
        raise ConfigError(f"embedding_dim: a {method} head on {len(x)} training images of "
                          f"{x.shape[1]} features gives at most {limit} dimensions, got {dims}")
    if not regularization >= 0:
        raise ConfigError(f"head_regularization: expected >= 0, got {regularization}")
    mu = x.mean(0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    kernel = vt[:dims].T  # (F, dims) principal axes
    if method == "whiten":
        kernel = kernel / (s[:dims] / np.sqrt(len(x)))
    elif method == "wccn":
        z = (x - mu) @ kernel
        people = np.unique(y)
        if len(people) < 2:
            raise ConfigError(f"head: wccn needs at least 2 training people, got {len(people)}")
        means = np.stack([z[y == p].mean(0) for p in people])
        within = z - means[np.searchsorted(people, y)]
        s_w = within.T @ within / len(z)
        s_w += regularization * np.trace(s_w) / dims * np.eye(dims)
        values, vectors = np.linalg.eigh(s_w)
        if values.min() <= 0:
            raise ConfigError("head: the within-class covariance is singular (every person has "
                              "one image?); set head_regularization > 0")
        kernel = kernel @ (vectors / np.sqrt(values))  # S_w^(-1/2) up to a rotation
    return kernel.astype(np.float32), (-mu @ kernel).astype(np.float32)


def _flip_layer():
    import keras

    @keras.saving.register_keras_serializable(package="classics")
    class HorizontalFlip(keras.layers.Layer):
        """(N, H, W, C) -> the mirror images (W reversed), in training and inference alike."""

        def call(self, inputs):
            return keras.ops.flip(inputs, axis=2)

        def compute_output_shape(self, input_shape):
            return input_shape

    return HorizontalFlip


_FLIP = []


def horizontal_flip(**kwargs):
    """The mirror layer (its class is made and registered on first use, not at import)."""
    if not _FLIP:
        _FLIP.append(_flip_layer())
    return _FLIP[0](**kwargs)


def register():
    """Make the layer known to `keras.models.load_model` (a saved flip-TTA model holds one)."""
    if not _FLIP:
        _FLIP.append(_flip_layer())
