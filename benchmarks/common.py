"""Timing, FLOP counting and table helpers shared by the benchmarks.

Every benchmark module exposes `run(quick: bool) -> list[Row]`; `benchmarks/run.py`
collects the rows of all of them into one table.
"""

import dataclasses
import datetime
import math
import os
import platform
import statistics
import sys
import threading
import time

COLUMNS = ("benchmark", "ours", "reference", "ratio (ours/ref)", "target", "ok")
MISSED = "MISSED"


@dataclasses.dataclass
class Row:
    """One line of the table.

    `reference` is always measured in the same run (None when the row has no same-run
    reference, e.g. the reference measurement itself). `ok` is True/False against the
    `target`, or None for an information-only row.
    """

    name: str
    ours: float
    ours_unit: str
    reference: float | None = None
    reference_unit: str = ""
    target: str = "info"
    ok: bool | None = None
    ratio: float | None = None
    note: str = ""

    def __post_init__(self):
        if self.ratio is None and self.reference not in (None, 0) and _finite(self.ours):
            self.ratio = self.ours / self.reference


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def at_most(ratio: float | None, limit: float) -> bool:
    return ratio is not None and ratio <= limit


def at_least(value: float | None, limit: float) -> bool:
    return value is not None and value >= limit


# ---------------------------------------------------------------- formatting
def format_value(value, unit=""):
    if value is None:
        return "-"
    if not _finite(value):
        return f"{value} {unit}".strip()
    magnitude = abs(value)
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.1f}"
    elif magnitude >= 10:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def status(ok):
    return "info" if ok is None else ("yes" if ok else MISSED)


def format_table(rows) -> str:
    cells = [
        (
            row.name,
            format_value(row.ours, row.ours_unit),
            format_value(row.reference, row.reference_unit),
            "-" if row.ratio is None else f"{row.ratio:.3f}",
            row.target,
            status(row.ok),
        )
        for row in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(COLUMNS, *cells)]

    def line(values):
        return "| " + " | ".join(str(v).ljust(w) for v, w in zip(values, widths)) + " |"

    out = [line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(c) for c in cells)
    notes = [f"  [{row.name}] {row.note}" for row in rows if row.note]
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)


def environment_header(argv=None) -> str:
    """Command, date, cores and load: what a results file needs to be read later."""
    argv = sys.argv if argv is None else argv
    main = sys.modules.get("__main__")
    if argv and getattr(main, "__spec__", None) is not None and main.__spec__.name:
        argv = ["-m", main.__spec__.name, *argv[1:]]  # `python -m benchmarks.run ...`
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    lines = [
        f"command: python {' '.join(argv)}",
        f"date:    {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"nproc:   {os.cpu_count()} (usable by this process: {affinity})",
        f"load:    {load_average()} (1/5/15 min, at start)",
        f"python:  {platform.python_version()} on {platform.machine()}",
    ]
    return "\n".join(lines)


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "?"
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class LoadSampler:
    """Samples the 1-minute load average every `interval` s in a thread while in the
    `with` block: how shared the machine was during a long measurement."""

    def __init__(self, interval=30.0):
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while True:
            if hasattr(os, "getloadavg"):
                self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "load: not sampled"
        mean = statistics.mean(self.samples)
        return (f"1-min load average over {len(self.samples)} samples: mean {mean:.1f}, "
                f"min {min(self.samples):.1f}, max {max(self.samples):.1f} (on {os.cpu_count()} cores)")


def finished_or_trained(app: str, env: str, preset: str, quick: bool, runs_dir):
    """The finished run named by the environment variable `env` (full runs only), else `app`
    trained at `preset` (`tiny` when quick) into `runs_dir`: a Run."""
    from apps import get_task
    from apps.common.config import preset_config
    from apps.common.run import Run

    task = get_task(app)
    path = os.environ.get(env)
    if path and not quick:
        return Run.open(app, task.Config, path)
    config = preset_config(task.Config, task.presets, "tiny" if quick else preset)
    return task.train(dataclasses.replace(config, runs_dir=str(runs_dir)), verbose=0)


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the results (table and details)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- timing
def median(values):
    return statistics.median(values)


def spread(values) -> str:
    """min-max range of a list of timings, as text."""
    return f"{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f} ms"


def matmul_gflops(n=2048, reps=10, warmup=3):
    """Achieved fp32 GFLOP/s of one `n x n` @ `n x n` matmul (median of `reps` after warm-up)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32, seed=1)
    b = tf.random.normal((n, n), dtype=tf.float32, seed=2)

    @tf.function
    def product(a, b):
        # The sum forces the result without copying it out; it costs n^2 of 2n^3 flops.
        return tf.reduce_sum(tf.matmul(a, b))

    times = []
    for i in range(warmup + reps):
        start = time.perf_counter()
        product(a, b).numpy()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return 2.0 * n**3 / median(times) / 1e9, times


# ---------------------------------------------------------------- models
def forward_flops(model, input_shape) -> dict:
    """Exact forward FLOPs per image of `model`'s Conv2D and Dense layers (2 x MACs).

    Conv2D: 2 * H_out * W_out * k_h * k_w * (C_in / groups) * C_out; Dense: 2 * in * out
    (times the positions a Dense is applied to). BN, activations, adds, pooling and
    biases are ignored. Counts layers nested in sub-models and in custom layers such as
    `layers.ResidualBlock`: every Conv2D/Dense records its real input/output shapes
    during one traced forward pass of a single image.

    Returns {"total": flops, "conv": ..., "dense": ..., "layers": count}.
    """
    import keras
    import numpy as np

    counted = {"conv": 0, "dense": 0, "layers": 0}
    patched = []

    def wrap(layer):
        original = layer.call

        def call(inputs, *args, **kwargs):
            outputs = original(inputs, *args, **kwargs)
            in_shape, out_shape = tuple(inputs.shape), tuple(outputs.shape)
            if isinstance(layer, keras.layers.Conv2D):
                k_h, k_w, c_in_per_group, c_out = layer.kernel.shape
                h_out, w_out = out_shape[1], out_shape[2]
                counted["conv"] += 2 * h_out * w_out * k_h * k_w * c_in_per_group * c_out
            else:
                d_in, d_out = layer.kernel.shape
                positions = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
                counted["dense"] += 2 * positions * d_in * d_out
            counted["layers"] += 1
            return outputs

        layer.call = call
        patched.append(layer)

    for layer in model._flatten_layers(include_self=False, recursive=True):
        # Conv2DTranspose/DepthwiseConv2D have other formulas; none of our models use them.
        if type(layer) in (keras.layers.Conv2D, keras.layers.Dense):
            wrap(layer)
    try:
        model(np.zeros((1, *input_shape), "float32"), training=False)
    finally:
        for layer in patched:
            del layer.call
            assert layer.call.__func__ is type(layer).call  # the class method is back
    counted["total"] = counted["conv"] + counted["dense"]
    return counted


def random_batch(batch_size, input_shape, num_classes=10, seed=0):
    """Random uint8-valued images (as float32 tensors, like the app's pipeline) and one-hot labels."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(batch_size, *input_shape), dtype=np.uint8)
    y = rng.integers(0, num_classes, size=batch_size)
    return tf.constant(x.astype("float32")), tf.one_hot(y, num_classes)


def time_train_steps(model, x, y, steps, warmup=3):
    """Seconds per `train_on_batch` call (each call returns numpy logs, so it is synchronous)."""
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return times


def interleaved_train_steps(models: dict, batch, rounds, steps_per_round, warmup=3):
    """Time several models A, B, A, B, ... so slow drift (other processes, thermal)
    hits each alike. Returns {name: [seconds per step, ...]} and the per-round medians."""
    x, y = batch
    for model in models.values():
        time_train_steps(model, x, y, steps=0, warmup=warmup)
    times = {name: [] for name in models}
    per_round = {name: [] for name in models}
    for r in range(rounds):
        # Alternate who goes first too, so neither always follows the other.
        order = list(models) if r % 2 == 0 else list(reversed(list(models)))
        for name in order:
            t = time_train_steps(models[name], x, y, steps=steps_per_round, warmup=0)
            times[name].extend(t)
            per_round[name].append(median(t))
    return times, per_round
