"""Events from probabilities (NumPy and TF agree), stream metrics by hand, baselines."""

import dataclasses

import numpy as np
import pytest

from apps.wakeword import events
from apps.wakeword.compose import Placed
from apps.wakeword.config import SPECTROGRAM, Config, output_steps

CONFIG = Config(**SPECTROGRAM)  # the course's front end: 40 ms steps


def test_events_by_hand():
    p = np.array([0, .6, .7, .2, .9, 0, 0, .8, .8, .8, .8, .8, 0, .5])
    assert events.detect_events(p, 0.5, 3).tolist() == [1, 4, 7, 10, 13]
    assert events.detect_events(p, 0.5, 1).tolist() == [1, 2, 4, 7, 8, 9, 10, 11, 13]
    assert events.detect_events(p, 0.75, 5).tolist() == [4, 9]
    assert events.detect_events(np.zeros(5), 0.5, 3).tolist() == []


@pytest.mark.slow
def test_tensorflow_events_agree_with_numpy():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    fn = tf.function(events.detect_events_tf, input_signature=[
        tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.int32)])
    for _ in range(20):
        p = rng.random(rng.integers(0, 400)).astype(np.float32) ** 3
        threshold, refractory = float(rng.uniform(0.2, 0.9)), int(rng.integers(1, 30))
        want = events.detect_events(p, threshold, refractory)
        got = fn(tf.constant(p), tf.constant(threshold), tf.constant(refractory))
        np.testing.assert_array_equal(got.numpy(), want)


def test_score_stream_by_hand():
    config = dataclasses.replace(CONFIG, threshold=0.5, refractory_seconds=0.2, label_steps=2)
    n = 8000 * 60  # a minute: 1,496 steps of 40 ms
    steps = output_steps(n, config)
    placed = [Placed("positive", 8000, 16000),  # 1-2 s: detected at 2.4 s
              Placed("positive", 80000, 88000),  # 10-11 s: missed
              Placed("hard_negative", 160000, 168000),  # 20-21 s: fires at 21.2 s
              Placed("prompt", 240000, 250000)]
    p = np.zeros(steps, np.float32)
    p[[60, 61, 62]] = 0.9  # 2.4 s: one event (refractory 5 steps)
    p[530] = 0.8  # 21.2 s: a false accept on the hard negative
    p[1000] = 0.6  # 40 s: a false accept elsewhere
    score = events.score_stream(p, placed, n, config, match_seconds=1.5)
    assert (score.triggers, score.detected, score.false_accepts) == (2, 1, 2)
    assert score.hard_negative_accepts == 1
    assert score.recall == 0.5
    assert score.hours == pytest.approx(1 / 60)
    assert score.false_accepts_per_hour == pytest.approx(120.0)
    # labels: steps 51, 52 (after 16000 // 320 = 50) and 276, 277; predicted: 60-62, 530, 1000
    assert score.all_zeros_accuracy == pytest.approx(1 - 4 / steps)
    assert score.frame_accuracy == pytest.approx(1 - 9 / steps)
    never = events.score_stream(np.zeros(steps), placed, n, config)
    assert (never.detected, never.false_accepts, never.frame_accuracy) == (
        0, 0, score.all_zeros_accuracy)


def test_windowed_probabilities_line_up_with_one_long_pass():
    config = dataclasses.replace(CONFIG, clip_seconds=2.0)  # windows of 16,000 samples

    def predict(windows):  # per step: the mean of its 1,320-sample receptive field
        return np.stack([events.energy_probabilities(w, config, floor_db=-200, span_db=400)
                         for w in windows])

    rng = np.random.default_rng(0)
    for length in (1320, 16000, 16001, 55555):
        x = rng.uniform(0.0, 1.0, length).astype(np.float32) * np.linspace(0.01, 1, length,
                                                                            dtype=np.float32)
        got = events.windowed_probabilities(predict, x, config, batch=3)
        want = events.energy_probabilities(x, config, floor_db=-200, span_db=400)
        assert got.shape == (output_steps(length, config),)
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_energy_baseline_by_hand():
    silence = np.zeros(8000, np.float32)
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000).astype(np.float32)  # -3 dB RMS
    quiet = tone * 10 ** (-30 / 20)  # -33 dB: 12 dB above the -45 dB floor of a 30 dB span
    assert np.all(events.energy_probabilities(silence, CONFIG) == 0)
    assert np.all(events.energy_probabilities(tone, CONFIG) == 1)
    np.testing.assert_allclose(events.energy_probabilities(quiet, CONFIG), 12 / 30, atol=0.01)
