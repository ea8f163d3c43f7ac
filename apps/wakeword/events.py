"""Per-step probabilities -> trigger events, and the metrics of a detector on a stream.

An event fires at the first step whose probability reaches `threshold`; no other event fires
for `refractory` steps after it (a probability still at or above the threshold then fires
again). Event times are config.step_times(step): step k is the model's output at 40 k ms with
the spectrogram, at the end of its 0.78 s field (0.78 + 0.08 k s) with the speech embedding.

A trigger counts as detected when an event falls in [its start, its end + match_seconds];
each trigger takes at most one event, the earliest. Every other event is a false accept.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.wakeword.compose import labels_for
from apps.wakeword.config import (
    Config,
    output_steps,
    receptive_field,
    samples_per_step,
    step_seconds,
    step_times,
)


def detect_events(probabilities: np.ndarray, threshold: float, refractory: int) -> np.ndarray:
    """int64 step indices of events in one (steps,) sequence."""
    events, last = [], None
    for step in np.flatnonzero(np.asarray(probabilities) >= threshold):
        if last is None or step - last >= refractory:
            events.append(step)
            last = step
    return np.asarray(events, np.int64)


def detect_events_tf(probabilities, threshold, refractory):
    """The same as `detect_events` in TensorFlow (for the exported graph): int64 steps."""
    import tensorflow as tf

    candidates = tf.reshape(tf.where(probabilities >= threshold), [-1])  # int64 steps
    refractory = tf.cast(refractory, tf.int64)

    def step(carry, candidate):
        last, _ = carry
        fire = candidate - last >= refractory
        return tf.where(fire, candidate, last), fire

    start = (tf.constant(-(2 ** 62), tf.int64), tf.constant(False))
    _, fired = tf.scan(step, candidates, initializer=start)
    return tf.boolean_mask(candidates, fired)


@dataclasses.dataclass(frozen=True)
class StreamScore:
    triggers: int
    detected: int
    false_accepts: int
    hard_negative_accepts: int  # false accepts inside a hard negative's match window
    hours: float
    frame_accuracy: float  # per-step (p >= threshold) == label
    all_zeros_accuracy: float  # the same for a detector that never fires

    @property
    def recall(self) -> float:
        return self.detected / self.triggers if self.triggers else float("nan")

    @property
    def false_accepts_per_hour(self) -> float:
        return self.false_accepts / self.hours


def score_stream(probabilities: np.ndarray, placed, num_samples: int, config: Config,
                 match_seconds: float = 1.0) -> StreamScore:
    """Events of `probabilities` (steps,) against the stream's recorded words
    (compose.Placed with kind "positive" / "hard_negative" / ...)."""

    rate, dt = config.sample_rate, step_seconds(config)
    refractory = int(round(config.refractory_seconds / dt))
    times = step_times(detect_events(probabilities, config.threshold, refractory), config)
    triggers = sorted((p.start / rate, p.end / rate + match_seconds) for p in placed
                      if p.kind == "positive")
    used = np.zeros(len(times), bool)
    detected = 0
    for start, stop in triggers:
        hits = np.flatnonzero(~used & (times >= start) & (times <= stop))
        if hits.size:
            used[hits[0]] = True
            detected += 1
    false_times = times[~used]
    hard = [(p.start / rate, p.end / rate + match_seconds) for p in placed
            if p.kind == "hard_negative"]
    hard_hits = sum(bool(np.any((false_times >= a) & (false_times <= b))) for a, b in hard)
    labels = labels_for([p.end for p in placed if p.kind == "positive"], num_samples, config)
    steps = min(len(labels), len(probabilities))
    predicted = np.asarray(probabilities[:steps]) >= config.threshold
    return StreamScore(
        triggers=len(triggers), detected=detected, false_accepts=int((~used).sum()),
        hard_negative_accepts=int(hard_hits), hours=num_samples / rate / 3600.0,
        frame_accuracy=float(np.mean(predicted == (labels[:steps] > 0.5))),
        all_zeros_accuracy=float(np.mean(labels[:steps] == 0)))


def windowed_probabilities(predict, waveform: np.ndarray, config: Config,
                           batch: int = 16) -> np.ndarray:
    """(output_steps(len(waveform)),) probabilities of a long waveform from a model trained on
    clip_seconds clips: windows of one clip every half clip (starts on step boundaries), each
    step taken from the window where it has at least ~half a clip of context (the first window
    gives its first steps too). `predict(windows (b, n)) -> (b, steps)` probabilities."""
    n = int(round(config.clip_seconds * config.sample_rate))
    per_step = samples_per_step(config)
    hop_steps = (n // 2) // per_step
    hop = hop_steps * per_step
    total = output_steps(len(waveform), config)
    window_steps = output_steps(n, config)
    keep_from = window_steps - hop_steps
    count = max(1, int(np.ceil(max(total - window_steps, 0) / hop_steps)) + 1)
    padded = np.zeros((count - 1) * hop + n, np.float32)
    kept = min(len(waveform), len(padded))  # samples past the last step's field are unused
    padded[:kept] = waveform[:kept]
    windows = np.stack([padded[i * hop:i * hop + n] for i in range(count)])
    probs = np.concatenate([predict(windows[i:i + batch]) for i in range(0, count, batch)])
    out = [probs[0]] + [p[keep_from:] for p in probs[1:]]
    return np.concatenate(out)[:total]


def energy_probabilities(waveform: np.ndarray, config: Config, floor_db: float = -45.0,
                         span_db: float = 30.0) -> np.ndarray:
    """The voice-activity baseline: per output step, the level (dB of RMS over the step's
    receptive field, config.receptive_field) mapped linearly from floor_db..floor_db+span_db to 0..1;
    it fires on anything loud, trigger or not."""
    per_step = samples_per_step(config)
    field = receptive_field(config)
    steps = output_steps(len(waveform), config)
    power = np.concatenate([[0.0], np.cumsum(np.square(waveform, dtype=np.float64))])
    starts = np.arange(steps) * per_step
    rms = np.sqrt((power[starts + field] - power[starts]) / field)
    level = 20 * np.log10(rms + 1e-9)
    return np.clip((level - floor_db) / span_db, 0.0, 1.0).astype(np.float32)
