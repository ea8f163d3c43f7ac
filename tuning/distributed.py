"""Scale-out on existing engines: keras-tuner's chief/worker mode and tf.distribute.

Chief/worker (`classics tune ... --chief HOST:PORT` / `--worker HOST:PORT`): the
chief serves keras-tuner's own Oracle over gRPC (keras-tuner's `OracleServicer`,
configured through KERASTUNER_TUNER_ID / KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT)
and runs no trials; workers run trials with the same subprocess-per-execution tuner as
a local search. What keras-tuner 1.4.8 lacks, added here around it:
- a worker killed mid-trial loses its trial and the chief waits forever: workers send
  a heartbeat (a GetTrial call) every few seconds while a trial runs, and the chief
  puts the trial of a worker silent for `--timeout` seconds back in keras-tuner's
  retry queue, where the next free worker takes it;
- workers that finish early would leave that requeued trial to nobody: while other
  trials are still running the chief answers IDLE instead of STOPPED, so every
  worker stays until the last trial has ended;
- a worker with an unreachable chief waited an hour: it checks the chief within
  `--timeout` and exits 2 with the address; its RPCs time out after `--timeout` too.

Multi-worker training (`--strategy multiworker`): one config trained data-parallel
with `tf.distribute.MultiWorkerMirroredStrategy` from TF_CONFIG. Keras 3.15's `fit`
fails under this strategy (keras#20585, then a scalar reduction error), so the step
here is our own, run with `strategy.run`: every global batch of B examples is split
into B / workers contiguous slices, one per worker, the loss is averaged over the
global batch (`tf.nn.compute_average_loss`) and the Keras optimizer all-reduces
(sums) the gradients, which is the single-worker step on the same global batch.
The model, data and loss are the app's own (see DATA_PARALLEL).
"""

import dataclasses
import json
import os
import pathlib
import sys
import time

from apps.common.errors import ConfigError


def _split_address(address: str):
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {address!r}")
    return host, port


# ---------------------------------------------------------------- chief
def watched_mixin():
    """A mixin for the chief's keras-tuner oracle: tracks when each worker was last
    heard from, requeues the trials of silent workers and keeps workers waiting
    (IDLE) while trials they might have to take over are still running. Every method
    holds the oracle's own lock (`keras_tuner.synchronized`)."""
    import keras_tuner
    from keras_tuner.engine import trial as trial_module

    synchronized = keras_tuner.synchronized

    class Watched:
        def _seen_now(self, tuner_id):
            if not hasattr(self, "_last_seen"):
                self._last_seen = {}
            self._last_seen[tuner_id] = time.monotonic()

        def _owner(self, trial_id):
            for tuner_id, trial in self.ongoing_trials.items():
                if trial.trial_id == trial_id:
                    return tuner_id
            return None

        @synchronized
        def create_trial(self, tuner_id):
            self._seen_now(tuner_id)
            trial = super().create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                if self.ongoing_trials:
                    # Not done yet: someone else's trial may still need a new home.
                    self.tuner_ids.add(tuner_id)
                    return trial_module.Trial(self.get_space(), status=trial_module.TrialStatus.IDLE)
                self.stop_seen = True
            return trial

        @synchronized
        def get_trial(self, trial_id):
            owner = self._owner(trial_id)
            if owner is not None:
                self._seen_now(owner)
            return super().get_trial(trial_id)

        @synchronized
        def update_trial(self, trial_id, metrics, step=0):
            owner = self._owner(trial_id)
            if owner is not None:
                self._seen_now(owner)
            return super().update_trial(trial_id, metrics, step=step)

        @synchronized
        def requeue_silent(self, timeout: float) -> list:
            """Trials of workers silent for `timeout` seconds go back to the retry queue."""
            moved = []
            now = time.monotonic()
            seen = getattr(self, "_last_seen", {})
            for tuner_id in list(self.tuner_ids):
                if now - seen.get(tuner_id, now) <= timeout:
                    continue
                trial = self.ongoing_trials.pop(tuner_id, None)
                self.tuner_ids.discard(tuner_id)
                if trial is not None:
                    self._retry_queue.append(trial.trial_id)
                    moved.append((tuner_id, trial.trial_id))
            if moved:
                self.save()
            return moved

        @synchronized
        def finished(self) -> bool:
            return bool(getattr(self, "stop_seen", False)) and not self.ongoing_trials and not self.tuner_ids

        def last_contact(self) -> float:
            return max(getattr(self, "_last_seen", {}).values(), default=0.0)

    return Watched


def _set_tuner_env(address: str, tuner_id: str) -> None:
    host, port = _split_address(address)
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    os.environ["KERASTUNER_ORACLE_IP"] = host
    os.environ["KERASTUNER_ORACLE_PORT"] = port


@dataclasses.dataclass
class Chief:
    """Serves the oracle; returns when every trial ended and every worker was told so."""

    address: str
    timeout: float = 60.0
    give_up_after: float | None = None  # no worker heard from this long: exit 2 (resumable)
    is_chief = True

    def run_round(self, settings, directory, project, hp_overrides, seed):
        import grpc
        from keras_tuner.src import protos
        from keras_tuner.src.distribute.oracle_chief import OracleServicer

        from tuning import search

        _set_tuner_env(self.address, "chief")
        tuner = search.make_tuner(settings, directory, project, hp_overrides, seed,
                                  oracle_mixin=watched_mixin())
        oracle = tuner.oracle
        tuner.save()
        from concurrent import futures

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(oracle), server)
        host, port = _split_address(self.address)
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError:
            bound = 0
        if not bound:
            raise ConfigError(f"--chief {self.address}: cannot listen there (port in use or bad host)")
        server.start()
        print(f"chief: oracle serving on {self.address} ({project})", file=sys.stderr, flush=True)
        started = time.monotonic()
        give_up = self.give_up_after or 10 * self.timeout
        try:
            while not oracle.finished():
                time.sleep(0.5)
                for tuner_id, trial_id in oracle.requeue_silent(self.timeout):
                    print(f"chief: worker {tuner_id} silent for {self.timeout:.0f}s; "
                          f"trial {trial_id} goes back to the queue", file=sys.stderr, flush=True)
                last = oracle.last_contact() or started
                if time.monotonic() - last > give_up and not oracle.finished():
                    oracle.save()
                    raise ConfigError(
                        f"chief {self.address}: no worker heard from for {give_up:.0f}s; "
                        f"{len(oracle.trials)} trials started; rerun the chief to resume")
        finally:
            server.stop(grace=2).wait()
            tuner.save()
        return search.trial_rows(tuner, project)


@dataclasses.dataclass
class Worker:
    """Runs trials for the chief until it says there are none left."""

    address: str
    tuner_id: str | None = None
    timeout: float = 60.0
    is_chief = False

    def check_chief(self):
        import grpc

        host, port = _split_address(self.address)
        channel = grpc.insecure_channel(f"{host}:{port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=self.timeout)
        except grpc.FutureTimeoutError:
            raise ConfigError(
                f"--worker {self.address}: chief unreachable for {self.timeout:g}s "
                "(is `classics tune ... --chief` running there, and the port open?)") from None
        finally:
            channel.close()

    def run_round(self, settings, directory, project, hp_overrides, seed):
        import grpc
        from keras_tuner.src.distribute import oracle_client

        from tuning import search

        tuner_id = self.tuner_id or f"worker-{os.uname().nodename}-{os.getpid()}"
        if "chief" in tuner_id:
            raise ConfigError(
                f"--worker-id {tuner_id!r}: must not contain 'chief' (keras-tuner's chief marker)")
        self.check_chief()
        _set_tuner_env(self.address, tuner_id)
        # keras-tuner waits up to an hour per call for a chief that went away.
        oracle_client.TIMEOUT = self.timeout
        heartbeat = max(0.5, min(search.HEARTBEAT_SECONDS, self.timeout / 4))
        try:
            tuner = search.make_tuner(settings, directory, project, hp_overrides, seed,
                                      heartbeat_seconds=heartbeat)
            tuner.search()
        except grpc.RpcError as e:
            raise ConfigError(
                f"--worker {self.address}: lost the chief ({e.code().name}); "
                f"rerun with --worker-id {tuner_id} to resume this worker's trial") from None
        return []


# ---------------------------------------------------------------- multi-worker training
@dataclasses.dataclass
class DataParallelParts:
    """What the custom step needs from an app, all built by the app's own code."""

    build_model: object  # () -> keras.Model returning logits
    dataset: object  # (global_batch) -> tf.data of (x, y) global batches, same order on every worker
    per_example_loss: object  # (y, logits) -> (batch,) losses
    steps_per_epoch: int


def classification_parts(config) -> DataParallelParts:
    import keras

    from apps import get_app
    from apps.classification.data import make_dataset

    app = get_app("classification")
    splits = app.load_data(config)
    num_classes = len(splits.class_names)
    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=config.label_smoothing, reduction=None)
    return DataParallelParts(
        build_model=lambda: app.build_model(config, num_classes, splits.input_shape),
        dataset=lambda: make_dataset(splits.x_train, splits.y_train, config, num_classes, training=True),
        per_example_loss=loss,
        steps_per_epoch=len(splits.y_train) // config.batch_size,
    )


# app name -> its data-parallel parts; a new app adds one line.
DATA_PARALLEL = {"classification": classification_parts}


def train_multiworker(app_name: str, config, run_dir=None) -> dict:
    """Train `config` with MultiWorkerMirroredStrategy (cluster from TF_CONFIG; without
    TF_CONFIG, one local worker). Every worker writes weights_worker<i>.npz and
    log_worker<i>.json into `run_dir`; returns this worker's summary."""
    if app_name not in DATA_PARALLEL:
        raise ConfigError(f"{app_name} has no data-parallel parts yet (tuning/distributed.py DATA_PARALLEL)")
    tf_config = os.environ.get("TF_CONFIG")
    workers, index = 1, 0
    if tf_config:
        try:
            spec = json.loads(tf_config)
            workers = len(spec["cluster"]["worker"])
            index = int(spec["task"]["index"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("TF_CONFIG: expected {\"cluster\": {\"worker\": [...]}, "
                              "\"task\": {\"type\": \"worker\", \"index\": i}}") from None
    global_batch = config.batch_size
    if global_batch % workers:
        raise ConfigError(f"batch_size {global_batch} must be divisible by the {workers} workers")

    import numpy as np
    import tensorflow as tf

    # The strategy first: it must exist before any other TensorFlow op.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    from apps.common import config as config_lib
    from apps.common import train as train_lib

    train_lib.seed_everything(config.seed)
    parts = DATA_PARALLEL[app_name](config)
    if parts.steps_per_epoch < 1:
        raise ConfigError(f"batch_size {global_batch} is larger than the training set")
    with strategy.scope():
        model = parts.build_model()
        optimizer = train_lib.make_optimizer(config, parts.steps_per_epoch)
        optimizer.build(model.trainable_variables)

    per_worker = global_batch // workers

    def dataset_fn(context):
        ds = parts.dataset().unbatch().batch(global_batch, drop_remainder=True)
        # Worker i takes rows [i*b, (i+1)*b) of each global batch: same batches as one worker.
        start = context.input_pipeline_id * per_worker
        return ds.map(lambda x, y: (x[start:start + per_worker], y[start:start + per_worker]))

    options = tf.distribute.InputOptions(experimental_fetch_to_device=False)
    dist_ds = strategy.distribute_datasets_from_function(dataset_fn, options)

    @tf.function
    def train_step(x, y):
        def replica_step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = tf.nn.compute_average_loss(parts.per_example_loss(y, logits),
                                                  global_batch_size=global_batch)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        per_replica = strategy.run(replica_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    # Batch-norm moving statistics are per worker (each sees its slice of the batch);
    # averaging them over workers after every epoch leaves every worker with the same
    # model, and their mean is the global batch's moving mean.
    stats = list(model.non_trainable_variables)

    @tf.function
    def worker_mean_of_stats():
        def mean_of():
            ctx = tf.distribute.get_replica_context()
            return [ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.identity(v.value)) for v in stats]

        return strategy.run(mean_of)

    losses = []
    for epoch in range(config.epochs):
        epoch_losses = [float(train_step(x, y)) for x, y in dist_ds]
        losses.append(epoch_losses)
        if stats and workers > 1:
            for v, mean in zip(stats, worker_mean_of_stats()):
                v.assign(strategy.experimental_local_results(mean)[0])
        print(f"worker {index}: epoch {epoch + 1}/{config.epochs} loss {np.mean(epoch_losses):.4f}",
              file=sys.stderr, flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = pathlib.Path(run_dir or pathlib.Path(config.runs_dir) / app_name / f"multiworker-{stamp}")
    run_dir.mkdir(parents=True, exist_ok=True)
    weights = [np.asarray(w) for w in model.get_weights()]
    np.savez(run_dir / f"weights_worker{index}.npz", *weights)
    digest = _digest(weights)
    summary = {"workers": workers, "task_index": index, "loss": float(np.mean(losses[-1])),
               "step_losses": [v for epoch in losses for v in epoch], "weights": digest}
    (run_dir / f"log_worker{index}.json").write_text(json.dumps(summary, indent=2) + "\n")
    if index == 0:
        config_lib.save_config(config, run_dir / "config.json")
    return summary


def _digest(arrays) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:16]
