"""Flite's voices (settings, pitch, cache key) and the speed / room augmentation."""

import numpy as np
import pytest

from apps.common.errors import DataError
from apps.wakeword import augment, flite


def _f0(x, rate=8000):
    """Autocorrelation peak in 60-300 Hz over the loudest 100 ms."""
    frame = 800
    energy = [np.sum(x[i:i + frame] ** 2) for i in range(0, len(x) - frame, 80)]
    start = int(np.argmax(energy)) * 80
    seg = x[start:start + frame] - x[start:start + frame].mean()
    r = np.correlate(seg, seg, "full")[frame - 1:]
    lo, hi = rate // 300, rate // 60
    return rate / (lo + np.argmax(r[lo:hi]))


def test_flite_speaks_at_8_khz_with_the_pitch_asked_for():
    low, rate = flite.speak(flite.FliteUtterance("activate", "slt", 1.0, 100))
    high, _ = flite.speak(flite.FliteUtterance("activate", "slt", 1.0, 200))
    slow, _ = flite.speak(flite.FliteUtterance("activate", "slt", 1.5, 100))
    assert rate == 8000 and 0.4 < len(low) / 8000 < 1.5
    assert 85 < _f0(low) < 120 and 170 < _f0(high) < 240
    assert 1.3 < len(slow) / len(low) < 1.7
    again, _ = flite.speak(flite.FliteUtterance("activate", "slt", 1.0, 100))
    np.testing.assert_array_equal(again, low)  # one run of the program per utterance


def test_flite_settings_are_validated_keyed_and_drawn():
    with pytest.raises(DataError, match="allowed are"):
        flite.FliteUtterance("x", voice="alan")
    with pytest.raises(DataError, match="stretch"):
        flite.FliteUtterance("x", stretch=3.0)
    a, b = flite.FliteUtterance("x", f0=100), flite.FliteUtterance("x", f0=101)
    assert a.key() != b.key() and a.key() == flite.FliteUtterance("x", f0=100).key()
    drawn = flite.random_utterances(["a", "b"], 40, seed=3, voices=("kal", "awb"))
    assert drawn == flite.random_utterances(["a", "b"], 40, seed=3, voices=("kal", "awb"))
    assert {u.voice for u in drawn} == {"kal", "awb"} and {u.text for u in drawn} == {"a", "b"}
    assert all(0.8 <= u.stretch <= 1.4 and 80 <= u.f0 <= 240 for u in drawn)


def test_speed_resamples_by_the_drawn_factor():
    rng, word = np.random.default_rng(0), np.sin(np.arange(8000) * 0.2).astype(np.float32)
    for seed in range(5):
        factor = np.random.default_rng(seed).uniform(0.88, 1.12)
        out = augment.speed(np.random.default_rng(seed), word)
        assert len(out) == int(np.ceil(8000 * round(factor * 100) / 100))
    assert augment.speed(rng, word).dtype == np.float32


def test_room_response_decays_and_reverb_keeps_the_peak():
    rng = np.random.default_rng(1)
    h = augment.room_response(rng, 8000)
    assert h[0] == 1.0 and np.all(h[1:16] == 0.0)  # direct path, then 2 ms of nothing
    n = len(h)
    assert np.sum(h[n // 10:n // 5] ** 2) > 100 * np.sum(h[-n // 10:] ** 2)  # ~50 dB lower
    word = np.zeros(4000, np.float32)
    word[100] = 0.5  # a click: the output is the response itself, scaled to the same peak
    out = augment.reverb(np.random.default_rng(1), word, 8000)
    assert len(out) == 4800 and np.isclose(np.abs(out).max(), 0.5)
    ref = augment.room_response(np.random.default_rng(1), 8000)
    m = min(len(ref), 4700)
    np.testing.assert_allclose(out[100:100 + m], 0.5 * ref[:m] / np.abs(ref).max(), atol=1e-6)
