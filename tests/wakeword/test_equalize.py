"""equalize.py: synthetic words filtered to the recorded prompts' average spectrum."""

import numpy as np

from apps.wakeword import equalize


def _db(power):
    return 10 * np.log10(power / power.max())


def test_average_spectrum_is_level_free_and_finds_a_tone():
    t = np.arange(8000) / 8000
    tone = np.sin(2 * np.pi * 1000 * t)  # 1,000 Hz = bin 32 of 31.25 Hz
    spectrum = equalize.average_spectrum([tone])
    assert spectrum.shape == (129,) and np.argmax(spectrum) == 32
    assert abs(spectrum.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(equalize.average_spectrum([0.01 * tone]), spectrum, rtol=1e-9)
    # only the loud half of the frames counts: silence around the tone changes little (the
    # frames at its edges are loud too)
    padded = np.concatenate([np.zeros(4000), tone, np.zeros(4000)])
    np.testing.assert_allclose(equalize.average_spectrum([padded]), spectrum, atol=0.005)
    assert not equalize.average_spectrum([np.zeros(1000), np.ones(100)]).any()


def test_matching_gain_by_hand():
    source = np.ones(129)
    np.testing.assert_allclose(equalize.matching_gain(source, 3 * source), np.ones(129))
    # target 20 dB down in the upper half: gain 1 below, 0.1 above (away from the smoothed edge)
    target = np.where(np.arange(129) < 64, 1.0, 0.01)
    gain = equalize.matching_gain(source, target)
    np.testing.assert_allclose(gain[:62], 1.0)
    np.testing.assert_allclose(gain[66:], 0.1)
    # 100 dB down is cut at the floor (-60 dB)
    gain = equalize.matching_gain(source, np.where(np.arange(129) < 64, 1.0, 1e-10))
    np.testing.assert_allclose(gain[66:], 1e-3)


def test_white_noise_takes_the_target_shape_length_and_peak():
    rng = np.random.default_rng(0)
    word = rng.standard_normal(16000).astype(np.float32) * 0.3
    # target: white noise through y[t] = x[t] + x[t-1] (power 2 + 2 cos w: 0 at 4 kHz)
    dark = rng.standard_normal(200000)
    target = equalize.average_spectrum([dark[1:] + dark[:-1]])
    out = equalize.equalize(word, target)
    assert out.shape == word.shape and out.dtype == np.float32
    assert np.abs(out).max() == np.float32(np.abs(word).max())
    got, want = _db(equalize.average_spectrum([out])), _db(target)
    band = slice(6, 110)  # 190-3,440 Hz: where the target is within 24 dB of its peak
    assert np.abs(got[band] - want[band]).max() < 1.5
    assert _db(equalize.average_spectrum([word]))[120] > -2 and got[120] < -20  # 3,750 Hz


def test_silent_and_short_words_are_left_as_they_are():
    target = np.ones(129) / 129
    for word in (np.zeros(4000, np.float32), np.full(100, 0.5, np.float32),
                 np.zeros(0, np.float32)):
        out = equalize.equalize(word, target)
        np.testing.assert_array_equal(out, word)
