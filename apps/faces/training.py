"""Train an encoder with triplet loss, calibrate its threshold, evaluate on unseen people."""

import json
import pathlib
import sys

import numpy as np

from apps.common import train as train_lib
from apps.common.config import load_config
from apps.common.errors import ConfigError
from apps.faces import metrics
from apps.faces.config import Config
from apps.faces.data import all_pairs, load_data, make_eval_dataset, make_train_dataset, train_steps

NAME = "faces"
CALIBRATION = "calibration.json"
HEAD = "head.json"  # a closed-form head: how it was fitted
# Checkpoints are selected by the verification AUC of all validation pairs (one batch).
MONITOR = "val_embedding_verification_auc"


def load_encoder(path):
    from apps.faces import losses  # noqa: F401 - registers the losses and the metric
    from apps.faces.model import encoder_of
    from apps.faces.projection import register

    register()  # the mirror layer of flip-TTA models

    return encoder_of(train_lib.load_best_model(path))


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
    import datetime

    from apps.faces.model import head_features, single_view
    from apps.faces.projection import fit_projection

    features = head_features(encoder)
    x = splits.x_train
    f = np.concatenate([embed(features, x), embed(features, x[:, :, ::-1])])
    y = np.concatenate([splits.y_train, splits.y_train])
    kernel, bias = fit_projection(f, y, config.head, int(config.embedding_dim),
                                  float(config.head_regularization))
    single_view(encoder).get_layer("projection").set_weights([kernel, bias])
    return {"head": config.head, "features": int(f.shape[1]), "dims": int(config.embedding_dim),
            "regularization": float(config.head_regularization), "images": int(len(y)),
            "fitted_on": splits.people(splits.y_train), "mirror_images": True,
            "fitted_at": datetime.datetime.now().isoformat(timespec="seconds")}


def train(config, run_dir=None, fresh=False, verbose=None, weights_path=None):
    """Train a face encoder; returns the run directory (resumes an unfinished one)."""

    from apps.faces.losses import MarginSoftmaxLoss, TripletLoss, VerificationAUC
    from apps.faces.model import build_model, training_model

    train_lib.seed_everything(config.seed)
    splits = load_data(config)
    run_dir, resumed = train_lib.prepare_run(NAME, config, run_dir, fresh)
    print(f"{'resuming' if resumed else 'run'} {run_dir}: train {len(splits.people(splits.y_train))} "
          f"people ({len(splits.y_train)} images), validation {len(splits.people(splits.y_val))} "
          f"({len(splits.y_val)}), test {len(splits.people(splits.y_test))} unseen "
          f"({len(splits.y_test)})", file=sys.stderr)
    (run_dir / "people.txt").write_text("".join(f"{n}\n" for n in splits.names))
    model = build_model(config, splits.input_shape, weights_path)
    if config.init_from:
        from apps.common.backbones import init_backbone_from

        init_backbone_from(model, load_encoder(config.init_from))
    trainer = training_model(config, model, len(splits.people(splits.y_train)))
    if config.head != "learned":
        head = fit_head(model, splits, config)
        (run_dir / HEAD).write_text(json.dumps(head, indent=2) + "\n")
        if config.epochs == 0:  # the fitted head is the model: no gradient steps
            trainer.save(run_dir / train_lib.BEST_MODEL)
            (run_dir / train_lib.DONE_MARKER).write_text(head["fitted_at"] + "\n")
            return _finish(run_dir, splits, config)
    steps = train_steps(config, len(splits.y_train))
    triplet = TripletLoss(config.margin, config.mining)
    losses, weights = {"embedding": triplet}, {"embedding": 1.0}
    if config.loss == "margin_softmax":  # plus (optionally) the triplet term on the embeddings
        losses["cosines"] = MarginSoftmaxLoss(config.softmax_scale, config.softmax_margin,
                                              config.softmax_kind)
        weights = {"cosines": 1.0, "embedding": float(config.triplet_weight)}
    # Keras prefixes a metric with its output's name only when there are several outputs: name
    # it so that the log column is MONITOR either way.
    metrics_ = {"embedding": [VerificationAUC() if len(losses) > 1 else
                              VerificationAUC(name="embedding_verification_auc")]}
    targets = tuple(losses)  # each output's label is the person id
    trainer.compile(optimizer=train_lib.make_optimizer(config, steps), loss=losses,
                    loss_weights=weights, metrics=metrics_)
    train_ds = make_train_dataset(splits.x_train, splits.y_train, config, targets)
    val_ds = make_eval_dataset(splits.x_val, splits.y_val, config, targets)
    train_lib.fit(trainer, train_ds, val_ds, config, run_dir, monitor=MONITOR, mode="max",
                  keep=config.checkpoint, verbose=verbose)
    return _finish(run_dir, splits, config)


def _finish(run_dir, splits, config):
    best = load_encoder(run_dir)
    calibration = calibrate(best, splits, config)
    (run_dir / CALIBRATION).write_text(json.dumps(calibration, indent=2) + "\n")
    return run_dir


def load_run(run_dir):
    run_dir = pathlib.Path(run_dir)
    config = load_config(Config, run_dir / "config.json")
    path = run_dir / CALIBRATION
    if not path.exists():
        raise ConfigError(f"{run_dir}: no {CALIBRATION} (the run did not finish)")
    return config, json.loads(path.read_text()), load_encoder(run_dir)


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


def evaluate(run_dir, out_dir=None) -> dict:
    """ROC AUC, EER, TAR at FAR 1 % / 0.1 %, accuracy at the calibrated thresholds and
    one-shot identification on the test people; an ROC curve PNG."""
    from apps.faces.plots import roc_png

    config, calibration, model = load_run(run_dir)
    splits = load_data(config)
    result, d, genuine = evaluate_embeddings(embed(model, splits.x_test), splits.y_test, calibration)
    result.update(people=splits.people(splits.y_test), data=config.data,
                  threshold=calibration["threshold"], threshold_at_far=calibration["threshold_at_far"])
    out_dir = pathlib.Path(out_dir or pathlib.Path(run_dir) / "eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    result["roc_png"] = str(roc_png(d, genuine, out_dir / "roc.png",
                                    title=f"ROC on {len(result['people'])} unseen people"))
    return result


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
