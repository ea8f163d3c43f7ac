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


def detect_events(probabilities: np.ndarray, threshold: float, refractory: int,
                  first_step: int = 0, last: int | None = None) -> np.ndarray:
    """int64 step indices of events in one (steps,) sequence. A stream scored in pieces passes
    each piece's `first_step` and the `last` event step before it (the refractory period
    carries over)."""
    events = []
    for step in np.flatnonzero(np.asarray(probabilities) >= threshold) + first_step:
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


class WindowScorer:
    """Per-step probabilities of audio arriving in chunks, in constant memory: windows of one
    clip (config.clip_seconds) every `hop_steps` output steps, each giving the last hop_steps
    of its steps (the first window all of its steps). A step is thus scored with at least
    clip - hop of context before it. Keeps fewer than one clip of samples between calls
    (`buffer`), however long the input; `feed` returns the steps its chunk completes, `finish`
    the rest (the last window zero-padded). `predict(windows (b, n)) -> (b, steps)`."""

    def __init__(self, predict, config: Config, hop_steps: int | None = None, batch: int = 16):
        self.predict, self.config, self.batch = predict, config, batch
        self.size = int(round(config.clip_seconds * config.sample_rate))  # n samples a window
        self.per_step = samples_per_step(config)
        self.window_steps = output_steps(self.size, config)
        half = (self.size // 2) // self.per_step
        self.hop_steps = half if hop_steps is None else hop_steps
        if not 1 <= self.hop_steps <= max(1, self.window_steps):
            raise ValueError(f"hop_steps={self.hop_steps}: a hop is 1..{self.window_steps} "
                             "output steps (one clip's)")
        self.hop = self.hop_steps * self.per_step
        self.buffer = np.zeros(0, np.float32)  # samples from the next window's start on (< n)
        self.seen = 0  # samples fed so far
        self.steps = 0  # steps returned so far
        self.windows = 0  # windows scored so far

    def _score(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities of the steps new in these consecutive windows, in order."""
        probs = np.concatenate([self.predict(windows[i:i + self.batch])
                                for i in range(0, len(windows), self.batch)])
        out = [probs[i] if self.windows + i == 0 else probs[i][self.window_steps - self.hop_steps:]
               for i in range(len(probs))]
        self.windows += len(probs)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def feed(self, chunk: np.ndarray) -> np.ndarray:
        """Probabilities of the steps whose window is complete once `chunk` has arrived."""
        chunk = np.asarray(chunk, np.float32).reshape(-1)
        data = np.concatenate([self.buffer, chunk])
        count = 0 if len(data) < self.size else 1 + (len(data) - self.size) // self.hop
        new = np.zeros(0, np.float32)
        if count:
            windows = np.lib.stride_tricks.sliding_window_view(data, self.size)[::self.hop]
            new = self._score(windows[:count])
        # State changes only once the windows are scored: a chunk interrupted (Ctrl-C) while
        # its windows run is not counted, and `finish` still answers for the samples before it.
        self.buffer = data[count * self.hop:].copy()  # fewer than n samples
        self.seen += len(chunk)
        self.steps += len(new)
        return new

    def finish(self) -> np.ndarray:
        """The steps left at the end of the input (output_steps of all samples fed in total),
        from the last window padded with zeros."""
        total = output_steps(self.seen, self.config)
        if total <= self.steps:
            return np.zeros(0, np.float32)
        window = np.zeros((1, self.size), np.float32)
        window[0, :len(self.buffer)] = self.buffer
        new = self._score(window)[:total - self.steps]
        self.steps += len(new)
        self.buffer = np.zeros(0, np.float32)
        return new


def windowed_probabilities(predict, waveform: np.ndarray, config: Config, batch: int = 16,
                           hop_steps: int | None = None) -> np.ndarray:
    """(output_steps(len(waveform)),) probabilities of a long waveform from a model trained on
    clip_seconds clips: windows of one clip every half clip (or `hop_steps`; starts on step
    boundaries), each step taken from the window where it has at least ~half a clip of context
    (the first window gives its first steps too): `WindowScorer` over the waveform, fed a
    batch of windows at a time (memory: the waveform and one batch)."""
    scorer = WindowScorer(predict, config, hop_steps, batch)
    step = batch * scorer.hop
    waveform = np.asarray(waveform, np.float32)
    parts = [scorer.feed(waveform[i:i + step]) for i in range(0, len(waveform), step)]
    return np.concatenate(parts + [scorer.finish()])


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
