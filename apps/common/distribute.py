"""Data-parallel training of any app with `tf.distribute.MultiWorkerMirroredStrategy`.

`train.fit` comes here when it runs inside a multi-worker strategy's scope, so an app's
own `train` (its model, loss, optimizer and data) trains data-parallel unchanged:

    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # before any other TF op
    with strategy.scope():
        app.train(config, run_dir=...)

Keras 3's `model.fit` fails under this strategy (keras#20585), so the step is our own,
run through `strategy.run`: every worker reads the same global batches (the apps' data
pipelines are seeded) and takes its slice of each; the loss is the model's own
`compute_loss` (compiled loss, regularisers, an app's override built on Keras losses),
averaged over the global batch; gradients are all-reduced. Batch-norm moving statistics, which each
worker gathers from its own slice, are averaged over workers after every epoch, so
all workers end with identical weights.

The run directory holds `log.csv` (one row per epoch: loss and the validation
metrics), `best.keras` (by the monitored metric), `final_weights.npz`,
`data_parallel.json` (workers, this worker's index, per-step losses, a digest of the
final weights) and `DONE`. Unlike `train.fit` there is no BackupAndRestore: a killed
multi-worker run starts again from its first epoch.
"""

import csv
import hashlib
import json
import math
import os
import pathlib
import sys
import time

import numpy as np

from apps.common.errors import ConfigError

SUMMARY = "data_parallel.json"
FINAL_WEIGHTS = "final_weights.npz"


def active_strategy():
    """The multi-worker strategy whose scope we are in, else None."""
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return None
    strategy = tf.distribute.get_strategy()
    return strategy if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None


def weights_digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _global_batches(data, global_batch: int):
    """One epoch of (x, y, sample_weight) global batches of exactly `global_batch` rows."""
    import keras
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        # Re-batch so that every step has the full global batch (the last partial batch
        # of an epoch is dropped, as every worker must take an equal slice).
        batches = data.unbatch().batch(global_batch, drop_remainder=True)
        for batch in batches:
            yield keras.utils.unpack_x_y_sample_weight(batch)
        return
    if isinstance(data, keras.utils.PyDataset):
        for index in range(len(data)):
            batch = keras.utils.unpack_x_y_sample_weight(tuple(data[index]))
            if _rows(batch[0]) == global_batch:
                yield batch
        data.on_epoch_end()
        return
    raise ConfigError(f"data-parallel training reads a tf.data.Dataset or a keras PyDataset, "
                      f"got {type(data).__name__}")


def _rows(x) -> int:
    import tensorflow as tf

    return int(tf.nest.flatten(x)[0].shape[0])


def _slice(structure, start: int, size: int):
    import tensorflow as tf

    return tf.nest.map_structure(
        lambda t: None if t is None else tf.convert_to_tensor(t)[start:start + size], structure)


def fit_data_parallel(model, train_ds, val_ds, config, run_dir, *, monitor: str, mode: str, strategy):
    """Train the compiled `model` (built inside `strategy.scope()`) for `config.epochs`."""
    import keras
    import tensorflow as tf

    run_dir = pathlib.Path(run_dir)
    workers = strategy.num_replicas_in_sync
    resolver = strategy.cluster_resolver
    index = int(resolver.task_id or 0) if resolver is not None and resolver.task_type else 0
    global_batch = int(config.batch_size)
    if global_batch % workers:
        raise ConfigError(f"batch_size {global_batch} must be divisible by the {workers} workers")
    per_worker = global_batch // workers
    start = index * per_worker
    optimizer = model.optimizer
    if optimizer is None:
        raise ConfigError("data-parallel training needs a compiled model")
    with strategy.scope():
        optimizer.build(model.trainable_variables)

    @tf.function
    def train_step(x, y, sample_weight):
        def replica_step(x, y, sample_weight):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                # Under tf.distribute, Keras losses and the TF trainer's regularisation
                # terms come already divided by the number of replicas: the workers'
                # values sum to the global batch's mean loss.
                scaled = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                            training=True)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            # The global batch's loss (the inputs are plain tensors, so `strategy.reduce`
            # would see one local value; all-reduce it explicitly).
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, scaled)

        return strategy.experimental_local_results(
            strategy.run(replica_step, args=(x, y, sample_weight)))[0]

    @tf.function
    def val_step(x, y, sample_weight):
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight)
        return loss

    stats = list(model.non_trainable_variables)

    @tf.function
    def worker_mean_of_stats():
        def mean_of():
            ctx = tf.distribute.get_replica_context()
            return [ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.identity(v.value)) for v in stats]

        return strategy.run(mean_of)

    def validate() -> dict:
        if val_ds is None:
            return {}
        for metric in model.metrics:
            metric.reset_state()
        total = count = 0
        for batch in val_ds:
            x, y, sw = keras.utils.unpack_x_y_sample_weight(batch)
            rows = _rows(x)
            # In the strategy's scope Keras divides the loss by the replica count; undo it.
            total += float(val_step(x, y, sw)) * workers * rows
            count += rows
        results = {f"val_{k}": float(v) for k, v in model.get_metrics_result().items() if k != "loss"}
        results["val_loss"] = total / max(count, 1)
        return results

    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    best, waited, step_losses, rows = None, 0, [], []
    for epoch in range(config.epochs):
        epoch_losses = []
        for x, y, sw in _global_batches(train_ds, global_batch):
            loss = float(train_step(_slice(x, start, per_worker), _slice(y, start, per_worker),
                                    _slice(sw, start, per_worker)))
            if not math.isfinite(loss):
                raise ConfigError(f"data-parallel training: non-finite loss at epoch {epoch + 1}")
            epoch_losses.append(loss)
        if not epoch_losses:
            raise ConfigError(f"batch_size {global_batch} is larger than the training set")
        step_losses.extend(epoch_losses)
        if stats and workers > 1:
            for v, mean in zip(stats, worker_mean_of_stats()):
                v.assign(strategy.experimental_local_results(mean)[0])
        row = {"epoch": epoch, "loss": float(np.mean(epoch_losses)), **validate()}
        rows.append(row)
        _append_log(run_dir / "log.csv", row)
        print(f"worker {index}/{workers}: epoch {epoch + 1}/{config.epochs} "
              + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"),
              file=sys.stderr, flush=True)
        value = row.get(monitor)
        if value is None:
            raise ConfigError(f"data-parallel training: no metric {monitor!r} "
                              f"(have {', '.join(k for k in row if k != 'epoch')})")
        if best is None or better(value, best):
            best, waited = value, 0
            model.save(run_dir / "best.keras")
        else:
            waited += 1
            if 0 < config.early_stopping_patience <= waited:
                break

    weights = [np.asarray(w) for w in model.get_weights()]
    np.savez(run_dir / FINAL_WEIGHTS, *weights)
    summary = {"workers": workers, "task_index": index, "epochs": len(rows), "monitor": monitor,
               "best": best, "loss": rows[-1]["loss"], "step_losses": step_losses,
               "weights": weights_digest(weights)}
    (run_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _append_log(path: pathlib.Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _cluster() -> tuple[int, int]:
    """(workers, this worker's index) from TF_CONFIG; one local worker without it."""
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        return 1, 0
    try:
        spec = json.loads(tf_config)
        return len(spec["cluster"]["worker"]), int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError("TF_CONFIG: expected {\"cluster\": {\"worker\": [...]}, "
                          "\"task\": {\"type\": \"worker\", \"index\": i}}") from None


def train_multiworker(task, config, run_dir=None) -> dict:
    """Train `config` with the app's Task (`classics <app> train --multiworker`), data-parallel under
    MultiWorkerMirroredStrategy (cluster from TF_CONFIG; without it, one local worker).

    Worker 0 trains into `run_dir` (the run directory every `classics <app>` command
    reads: best.keras, log.csv, config.json); worker i > 0 into `run_dir/worker<i>`.
    Returns this worker's summary (apps/common/distribute.py)."""
    app_name = task.name
    if not hasattr(config, "batch_size"):
        raise ConfigError(f"--multiworker: {app_name} does not train through fit in batches of batch_size")
    workers, index = _cluster()
    if config.batch_size % workers:
        raise ConfigError(f"batch_size {config.batch_size} must be divisible by the {workers} workers")
    if run_dir is None:
        if workers > 1:
            raise ConfigError("--multiworker with several workers needs --run-dir "
                              "(the same path on every worker)")
        run_dir = pathlib.Path(config.runs_dir) / app_name / f"multiworker-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = pathlib.Path(run_dir)
    own_dir = run_dir if index == 0 else run_dir / f"worker{index}"

    import tensorflow as tf

    # The strategy first: it must exist before any other TensorFlow op.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        task.train(config, run_dir=own_dir, fresh=True, verbose=2)
    return {**json.loads((own_dir / SUMMARY).read_text()), "run_dir": str(own_dir)}
