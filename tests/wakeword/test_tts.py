"""espeak-ng through the espeakng-loader wheel: synthesis, settings, the cache."""

import numpy as np
import pytest

from apps.common.errors import DataError
from apps.wakeword import sounds, tts


@pytest.fixture(scope="module")
def engine():
    return tts.Espeak()


def test_engine_speaks_at_22050_hz(engine):
    assert engine.rate == 22050
    a = engine.synthesize(tts.Utterance("activate", voice="en-us"))
    speech = sounds.trim(a, frame=220)
    assert 0.4 < len(speech) / 22050 < 1.0  # "activate" at 175 words a minute
    assert 0.1 < np.abs(a).max() <= 1.0


def test_speed_pitch_and_variant_change_the_sound(engine):
    slow = sounds.trim(engine.synthesize(tts.Utterance("activate", speed=110)), frame=220)
    fast = sounds.trim(engine.synthesize(tts.Utterance("activate", speed=300)), frame=220)
    assert len(fast) < 0.7 * len(slow)

    def f0(x):  # autocorrelation peak in 60-300 Hz over the loudest 100 ms
        n = 2205
        start = int(np.argmax(np.convolve(x ** 2, np.ones(n), "valid")))
        seg = x[start:start + n] - x[start:start + n].mean()
        ac = np.correlate(seg, seg, "full")[n - 1:]
        lo, hi = 22050 // 300, 22050 // 60
        return 22050 / (lo + int(np.argmax(ac[lo:hi])))

    low = f0(engine.synthesize(tts.Utterance("a", pitch=30)))  # measured: 79 Hz
    high = f0(engine.synthesize(tts.Utterance("a", pitch=90)))  # 148 Hz
    assert 60 < low < 100 and 130 < high < 170
    m1 = engine.synthesize(tts.Utterance("activate", variant="m1"))
    f3 = engine.synthesize(tts.Utterance("activate", variant="f3"))
    assert m1.shape != f3.shape or not np.allclose(m1, f3)


def test_settings_are_validated_and_keyed():
    with pytest.raises(DataError, match="Utterance.voice"):
        tts.Utterance("x", voice="de")
    with pytest.raises(DataError, match="Utterance.pitch"):
        tts.Utterance("x", pitch=120)
    a, b = tts.Utterance("activate", pitch=40), tts.Utterance("activate", pitch=41)
    assert a.key() == tts.Utterance("activate", pitch=40).key() != b.key()
    assert tts.Utterance("a", variant="f2").voice_name == "en-us+f2"
    drawn = tts.random_utterances(["activate"], 50, seed=3)
    assert drawn == tts.random_utterances(["activate"], 50, seed=3)
    assert len({u.voice for u in drawn}) >= 6 and all(25 <= u.pitch <= 85 for u in drawn)


@pytest.mark.slow
def test_fresh_processes_make_the_cache_independent_of_order(tmp_path):
    """One engine drifts from call to call; a child process per utterance does not."""
    utts = [tts.Utterance("activate", variant="f2", speed=150), tts.Utterance("hello")]
    first = tts.synthesize_cached(utts, tmp_path / "a")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{u.key()}.wav" for u in utts)
    reverse = tts.synthesize_cached(utts[::-1], tmp_path / "b")
    for x, y in zip(first, reverse[::-1]):
        np.testing.assert_array_equal(x, y)

    def no_speaking(utterance):
        raise AssertionError("the cache must answer")

    again = tts.synthesize_cached(utts, tmp_path / "a", speak=no_speaking)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
