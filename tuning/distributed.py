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
here is our own (apps/common/distribute.py), which `train.fit` runs whenever it is
called inside the strategy's scope: every global batch of B examples is split into
B / workers contiguous slices, one per worker, the loss is averaged over the global
batch and the optimizer all-reduces the gradients, which is the single-worker step on
the same global batch. The model, data and loss are the app's own: its `train` runs
unchanged under the strategy, so every app that trains through `train.fit` scales out.
"""

import dataclasses
import os
import sys
import time
from concurrent import futures

from apps.common.errors import ConfigError
from tuning import search


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


        _set_tuner_env(self.address, "chief")
        tuner = search.make_tuner(settings, directory, project, hp_overrides, seed,
                                  oracle_mixin=watched_mixin())
        oracle = tuner.oracle
        tuner.save()

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
