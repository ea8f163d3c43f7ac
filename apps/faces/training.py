"""The pieces of face verification training: embedding, the fitted head, calibration, metrics."""

import datetime

import numpy as np

from apps.common.errors import ConfigError
from apps.common.run import load_model_file
from apps.faces import (
    losses,  # noqa: F401 - registers the losses and the metric of saved models
    metrics,
    projection,
)
from apps.faces.data import all_pairs
from apps.faces.model import encoder_of, head_features, single_view

CALIBRATION = "calibration.json"
HEAD = "head.json"  # a closed-form head: how it was fitted


def load_encoder(path):
    """The encoder (image -> unit vectors) of a run directory or .keras file."""
    projection.register()  # the mirror layer of flip-TTA models
    return encoder_of(load_model_file(path))


def embed(model, images, batch_size=128):
    """uint8/float images (N, H, W, C) -> float32 (N, D) unit vectors."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    # Direct calls per batch, not `predict`: a new predict function per model (the tour and
    # the benchmark embed with several) makes TensorFlow warn about retracing.
    x = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False), np.float32)
                           for i in range(0, len(x), batch_size)])


def pair_distances(emb, labels):
    """All unordered pairs: (squared distances, genuine, |e_i - e_j| features)."""
    i, j, genuine = all_pairs(labels)
    diff = emb[i] - emb[j]
    return np.sum(diff * diff, axis=1), genuine, np.abs(diff)


def calibrate(model, splits, config) -> dict:
    """Thresholds and the logistic verifier from people of the training side: the
    validation people when they are unseen by the gradient steps, else training images."""
    if splits.val_unseen:
        x, y, source = splits.x_val, splits.y_val, "validation people (not trained on)"
    else:
        x = np.concatenate([splits.x_train, splits.x_val])
        y = np.concatenate([splits.y_train, splits.y_val])
        source = "training people"
    rng = np.random.default_rng(config.seed)
    if len(y) > 2000:  # ~2M pairs are plenty; keep the pair arrays small
        keep = rng.choice(len(y), 2000, replace=False)
        x, y = x[keep], y[keep]
    d, genuine, features = pair_distances(embed(model, x), y)
    w, b = metrics.fit_logistic(features, genuine)
    return {
        "threshold": metrics.threshold_best_accuracy(d, genuine),
        "threshold_at_far": metrics.threshold_at_far(d, genuine, config.target_far),
        "target_far": config.target_far,
        "distance": "squared euclidean between unit vectors (0..4)",
        "calibrated_on": source,
        "people": splits.people(y),
        "pairs": int(len(genuine)),
        "logistic": {"w": [float(v) for v in w], "b": b},
        **{f"calibration_{k}": v for k, v in metrics.summary(d, genuine).items()},
    }


def fit_head(encoder, splits, config) -> dict:
    """Fit the closed-form projection (config.head) on the training people's pooled trunk
    features, each image and its mirror image, and set it as the encoder's `projection`."""
    features = head_features(encoder)
    x = splits.x_train
    f = np.concatenate([embed(features, x), embed(features, x[:, :, ::-1])])
    y = np.concatenate([splits.y_train, splits.y_train])
    kernel, bias = projection.fit_projection(f, y, config.head, int(config.embedding_dim),
                                  float(config.head_regularization))
    single_view(encoder).get_layer("projection").set_weights([kernel, bias])
    return {"head": config.head, "features": int(f.shape[1]), "dims": int(config.embedding_dim),
            "regularization": float(config.head_regularization), "images": int(len(y)),
            "fitted_on": splits.people(splits.y_train), "mirror_images": True,
            "fitted_at": datetime.datetime.now().isoformat(timespec="seconds")}


def one_shot_identification(emb, labels, shots=1):
    """Top-1 accuracy of nearest-gallery identification: round r enrols image r of each
    person (`shots` images), the others are queries. Mean over rounds."""
    people = np.unique(labels)
    per_person = [np.flatnonzero(labels == p) for p in people]
    rounds = min(len(idx) for idx in per_person) - shots + 1
    if rounds < 1:
        raise ConfigError("one-shot identification needs more images per person than shots")
    accuracies = []
    for r in range(rounds):
        gallery = [idx[r:r + shots] for idx in per_person]
        centres = np.stack([emb[g].mean(0) for g in gallery])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        query = np.setdiff1d(np.arange(len(labels)), np.concatenate(gallery))
        d = ((emb[query][:, None] - centres[None]) ** 2).sum(-1)
        accuracies.append(float((people[d.argmin(1)] == labels[query]).mean()))
    return float(np.mean(accuracies))


def evaluate_embeddings(emb, labels, calibration) -> dict:
    d, genuine, features = pair_distances(emb, labels)
    result = metrics.summary(d, genuine)
    result["at_threshold"] = metrics.accuracy_at(d, genuine, calibration["threshold"])
    result["at_threshold_far"] = metrics.accuracy_at(d, genuine, calibration["threshold_at_far"])
    logistic = calibration["logistic"]
    p = metrics.logistic_probability(features, logistic["w"], logistic["b"])
    result["logistic_roc_auc"] = metrics.auc(-p, genuine)
    result["logistic_accuracy"] = float(((p >= 0.5) == genuine).mean())
    result["one_shot_top1"] = one_shot_identification(emb, labels)
    return result, d, genuine


def format_result(result) -> str:
    at = result["at_threshold"]
    return "\n".join([
        f"pairs {result['pairs']} ({result['genuine_pairs']} genuine) of "
        f"{len(result['people'])} unseen people",
        f"ROC AUC {result['roc_auc']:.4f}  EER {100 * result['eer']:.2f} %  "
        f"TAR@FAR1% {result['tar_at_far_1%']:.3f}  TAR@FAR0.1% {result['tar_at_far_0.1%']:.3f}",
        f"threshold {result['threshold']:.4f}: accuracy {100 * at['accuracy']:.2f} % "
        f"(TAR {at['tar']:.3f}, FAR {at['far']:.4f})",
        f"learned similarity (logistic): AUC {result['logistic_roc_auc']:.4f}, "
        f"accuracy {100 * result['logistic_accuracy']:.2f} %",
        f"one-shot identification top-1 {100 * result['one_shot_top1']:.1f} %",
    ])
