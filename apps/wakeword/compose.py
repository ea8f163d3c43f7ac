"""Composed audio: 10 s training clips as the course builds them, and the held-out stream.

A training clip is a background (a crop of music, noise or near-silence at a random level)
with 0-4 positives and 0-2 negatives added at random, non-overlapping positions. Its labels
are 1 for `label_steps` output steps right after each positive ends (step k is the model's
output at sample k * samples_per_step + step_offset, config.py; a positive ending at sample e
ends in step (e - step_offset) // samples_per_step, so the label_steps steps after it are 1,
cut at the clip's ends).

Clips are new each epoch: epoch e's clips come from NumPy's generator seeded by (seed, e), so
a run is repeatable and a resumed epoch gets the same clips.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.common.errors import DataError
from apps.wakeword import augment
from apps.wakeword.config import Config, output_steps, samples_per_step, step_offset


@dataclasses.dataclass(frozen=True)
class Bank:
    """Material for training clips, float32 waveforms at the config's sample rate."""

    positives: list  # the trigger word, trimmed to its extent
    negatives: list  # other speech (its length is capped to half a clip when placed)
    backgrounds: list  # long recordings (music); noise and silence are made on the fly
    # Recorded speech that is not the trigger kept apart (config.recorded_apart), drawn for a
    # negative with the chance config.recorded_negative_share; else it is in `negatives`.
    recorded: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Placed:
    kind: str  # "positive" | "negative" | "hard_negative" | "prompt"
    start: int  # first sample
    end: int  # one past the last sample


def labels_for(positive_ends, num_samples: int, config: Config) -> np.ndarray:
    """(output_steps,) float32: 1 for label_steps steps after each positive's end sample."""
    y = np.zeros(output_steps(num_samples, config), np.float32)
    for end in positive_ends:
        first = (end - step_offset(config)) // samples_per_step(config) + 1
        y[max(first, 0):max(first + config.label_steps, 0)] = 1.0
    return y


def _background(rng: np.random.Generator, bank: Bank, n: int) -> np.ndarray:
    kind = rng.choice(["music", "noise", "silence"], p=[0.5, 0.3, 0.2]) if bank.backgrounds \
        else rng.choice(["noise", "silence"], p=[0.6, 0.4])
    if kind == "music":
        track = bank.backgrounds[rng.integers(len(bank.backgrounds))]
        if len(track) < n:
            track = np.tile(track, n // len(track) + 1)
        start = rng.integers(len(track) - n + 1)
        x = track[start:start + n]
        level = 10 ** rng.uniform(-2.0, -0.5)  # peak 0.01-0.32
        return (x / (np.abs(x).max() + 1e-6) * level).astype(np.float32)
    if kind == "noise":
        white = rng.standard_normal(n)
        # white or brown-ish (integrated, detrended): two colours of room and line noise
        x = white if rng.random() < 0.5 else np.cumsum(white) - np.convolve(
            np.cumsum(white), np.ones(401) / 401, "same")
        return (x / (np.std(x) + 1e-9) * 10 ** rng.uniform(-3.0, -1.3)).astype(np.float32)
    return (rng.standard_normal(n) * 1e-4).astype(np.float32)


def _telephone_channel(rng: np.random.Generator, word: np.ndarray, rate: int) -> np.ndarray:
    """A random telephone-like channel: a 2nd-order Butterworth band-pass from 150-500 Hz to
    2.8-3.9 kHz, then a first-order spectral tilt y[t] = x[t] - a x[t-1], a in [-0.6, 0.6].
    espeak-ng's speech is full-band; recorded prompts (and phone calls) are not."""
    from scipy.signal import butter, lfilter, sosfilt

    low, high = rng.uniform(150.0, 500.0), min(rng.uniform(2800.0, 3900.0), 0.49 * rate)
    banded = sosfilt(butter(2, [low, high], btype="band", fs=rate, output="sos"), word)
    return lfilter([1.0, -rng.uniform(-0.6, 0.6)], [1.0], banded).astype(np.float32)


def _augment(rng: np.random.Generator, word: np.ndarray, config: Config) -> np.ndarray:
    """A placed word through the random speed, room and channel its config asks for."""
    if config.speed_augment and rng.random() < config.speed_augment:
        word = augment.speed(rng, word)
    if config.reverb_augment and rng.random() < config.reverb_augment:
        word = augment.reverb(rng, word, config.sample_rate)
    if config.channel_augment and rng.random() < config.channel_augment:
        word = _telephone_channel(rng, word, config.sample_rate)
    return word


def _place(rng, length: int, taken: list, n: int, tries: int = 50) -> int | None:
    """A start for `length` samples in [0, n) overlapping none of `taken` ((start, end) pairs)."""
    if length > n:
        return None
    for _ in range(tries):
        start = int(rng.integers(0, n - length + 1))
        if all(start >= e or start + length <= s for s, e in taken):
            return start
    return None


def _negative(rng: np.random.Generator, bank: Bank, config: Config) -> np.ndarray:
    """A recorded negative with the chance recorded_negative_share (always when there are
    only recorded ones), else a synthetic one."""
    pool = bank.negatives
    if bank.recorded and (not pool or rng.random() < config.recorded_negative_share):
        pool = bank.recorded
    return pool[rng.integers(len(pool))]


def compose_clip(rng: np.random.Generator, bank: Bank, config: Config):
    """(waveform (n,), labels (output_steps,), [Placed, ...]) for one training clip."""
    n = int(round(config.clip_seconds * config.sample_rate))
    x = _background(rng, bank, n)
    taken, placed = [], []
    words = [("positive", bank.positives[rng.integers(len(bank.positives))])
             for _ in range(rng.integers(0, config.max_positives + 1))]
    if bank.negatives or bank.recorded:
        words += [("negative", _negative(rng, bank, config))
                  for _ in range(rng.integers(0, config.max_negatives + 1))]
    for kind, word in words:
        if kind == "negative" and len(word) > n // 2:  # a long prompt: a random half-clip of it
            cut = int(rng.integers(0, len(word) - n // 2 + 1))
            word = word[cut:cut + n // 2]
        word = _augment(rng, word, config)
        start = _place(rng, len(word), taken, n)
        if start is None:
            continue
        gain = 10 ** rng.uniform(-0.6, 0.0) / (np.abs(word).max() + 1e-6)  # peak 0.25-1
        x[start:start + len(word)] += word * gain
        taken.append((start, start + len(word)))
        placed.append(Placed(kind, start, start + len(word)))
    x = np.clip(x, -1.0, 1.0)
    y = labels_for([p.end for p in placed if p.kind == "positive"], n, config)
    return x, y, placed


def clips(bank: Bank, config: Config, seed: int, epoch: int, count: int, stream: int = 0):
    """Yields `count` (waveform, labels) pairs, the same for the same (seed, stream, epoch);
    stream 0 is training, 1 validation."""
    if not bank.positives:
        raise DataError("wakeword: no positive recordings to compose clips from")
    rng = np.random.default_rng([seed, stream, epoch])
    for _ in range(count):
        x, y, _ = compose_clip(rng, bank, config)
        yield x, y


def clip_dataset(bank: Bank, config: Config, first_epoch: int = 0, epochs: int | None = None):
    """tf.data of batched (waveform (b, n), labels (b, steps)): epoch e's clips_per_epoch clips
    follow epoch e-1's, each epoch from its own (seed, e) generator; use steps_per_epoch =
    clips_per_epoch // batch_size with fit."""
    import tensorflow as tf

    n = int(round(config.clip_seconds * config.sample_rate))
    spec = (tf.TensorSpec((n,), tf.float32), tf.TensorSpec((output_steps(n, config),), tf.float32))
    last = first_epoch + (epochs if epochs is not None else config.epochs)

    def one_epoch(epoch):
        return tf.data.Dataset.from_generator(
            lambda e: clips(bank, config, config.seed, int(e), config.clips_per_epoch),
            output_signature=spec, args=(epoch,))

    return (tf.data.Dataset.range(first_epoch, last).flat_map(one_epoch)
            .batch(config.batch_size, drop_remainder=True).prefetch(2))


def epoch_dataset(bank: Bank, config: Config):
    """tf.data of one epoch's batches (clips_per_epoch // batch_size of them) for `fit`: each
    pass over it (each epoch of this process) draws new clips, pass k from (seed, k)."""
    import itertools

    import tensorflow as tf

    n = int(round(config.clip_seconds * config.sample_rate))
    spec = (tf.TensorSpec((n,), tf.float32), tf.TensorSpec((output_steps(n, config),), tf.float32))
    passes = itertools.count()
    return (tf.data.Dataset.from_generator(
        lambda: clips(bank, config, config.seed, next(passes), config.clips_per_epoch),
        output_signature=spec).batch(config.batch_size, drop_remainder=True)
        # a known length: fit then knows where an epoch ends
        .apply(tf.data.experimental.assert_cardinality(config.clips_per_epoch // config.batch_size))
        .prefetch(2))


def fixed_clips(bank: Bank, config: Config, count: int):
    """(waveforms (count, n), labels (count, steps)) as arrays: a validation set that stays the
    same from epoch to epoch (its own generator stream)."""
    pairs = list(clips(bank, config, config.seed, 0, count, stream=1))
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def evaluation_stream(positives: list, hard_negatives: list, prompts: list, music: list,
                      config: Config, seed: int = 0):
    """(waveform, [Placed, ...]) of at least eval_hours of held-out audio: a background of held-
    out music, noise and near-silence in 5-60 s stretches, over which the held-out prompts
    (speech that is not the trigger), eval_positives triggers and eval_hard_negatives hard
    negatives (cycling through `positives` and `hard_negatives`) follow one another in random
    order, 0.5-3 s apart, each at a random level. Prompts are repeated until the stream is long
    enough."""
    if not positives:
        raise DataError("wakeword: no held-out positive recordings for the evaluation stream")
    rng = np.random.default_rng([seed, 7919])
    rate = config.sample_rate
    items = ["positive"] * config.eval_positives + ["hard_negative"] * config.eval_hard_negatives
    rng.shuffle(items)
    target = int(config.eval_hours * 3600 * rate)
    # Each trigger or hard negative is preceded by prompts until the planned length is spread
    # evenly over them; every word starts 0.5-3 s after the previous one ends.
    sequence, cursor, order, counts = [], 0, [], {"positive": 0, "hard_negative": 0}
    per_item = target / max(len(items), 1)
    for index, kind in enumerate(items + [None]):
        while prompts and cursor < per_item * index:
            if not order:
                order = list(rng.permutation(len(prompts)))
            word = prompts[order.pop()]
            start = cursor + int(rng.uniform(0.5, 3.0) * rate)
            sequence.append(("prompt", word, start))
            cursor = start + len(word)
        if kind == "positive" or (kind == "hard_negative" and hard_negatives):
            pool = positives if kind == "positive" else hard_negatives
            word = pool[counts[kind] % len(pool)]
            counts[kind] += 1
            start = cursor + int(rng.uniform(0.5, 3.0) * rate)
            sequence.append((kind, word, start))
            cursor = start + len(word)
    n = max(target, cursor + rate)
    x = _stream_background(rng, music, n, rate)
    placed = []
    for kind, word, start in sequence:
        gain = 10 ** rng.uniform(-0.6, 0.0) / (np.abs(word).max() + 1e-6)
        x[start:start + len(word)] += word * gain
        placed.append(Placed(kind, start, start + len(word)))
    return np.clip(x, -1.0, 1.0), placed


def _stream_background(rng, music: list, n: int, rate: int) -> np.ndarray:
    bank = Bank(positives=[], negatives=[], backgrounds=list(music))
    parts, total = [], 0
    while total < n:
        length = int(rng.uniform(5.0, 60.0) * rate)
        parts.append(_background(rng, bank, length))
        total += length
    return np.concatenate(parts)[:n]
