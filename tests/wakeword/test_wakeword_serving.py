"""The exported module answers as the NumPy path does, from waveforms and from WAV bytes."""

import dataclasses

import numpy as np
import pytest

from apps.wakeword import events, sounds
from apps.wakeword.config import PRESETS, Config, output_steps, step_seconds, step_times
from apps.wakeword.model import build_model
from apps.wakeword.serving import export_module


@pytest.mark.slow
@pytest.mark.parametrize("frontend", ["spectrogram", "speech-embedding"])
def test_export_round_trip_agrees_with_numpy(tmp_path, frontend):
    import tensorflow as tf

    config = Config(**{**PRESETS["tiny"].values, "frontend": frontend})  # 2 s windows every 1 s
    model = build_model(config)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights + model.non_trainable_weights:  # outputs vary over time
        if not any(k in w.path for k in ("gamma", "variance", "mel/", "speech_embedding/")):
            w.assign(rng.uniform(-0.6, 0.6, w.shape).astype(np.float32))
    x = (rng.standard_normal(42400) * np.linspace(0.01, 0.5, 42400)).astype(np.float32)

    def predict(windows):
        return 1 / (1 + np.exp(-np.asarray(model(windows, training=False))))

    want = events.windowed_probabilities(predict, x, config)
    config = dataclasses.replace(config, threshold=float(np.quantile(want, 0.8)),
                                 refractory_seconds=0.2)
    module, signatures = export_module(model, config)
    tf.saved_model.save(module, str(tmp_path / "export"), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    got = loaded.signatures["serving_default"](waveform=tf.constant(x))
    np.testing.assert_allclose(got["probabilities"].numpy(), want, atol=1e-5)
    steps = events.detect_events(want, config.threshold, round(0.2 / step_seconds(config)))
    assert len(steps) > 3
    np.testing.assert_array_equal(got["event_steps"].numpy(), steps)
    np.testing.assert_allclose(got["event_times"].numpy(), step_times(steps, config), rtol=1e-6)

    sounds.write_wav(tmp_path / "x.wav", x)
    short = x[:12000]  # a second file, shorter: padded with -1 in the batch
    sounds.write_wav(tmp_path / "s.wav", short)
    files = [(tmp_path / "x.wav").read_bytes(), (tmp_path / "s.wav").read_bytes()]
    from_wav = loaded.signatures["wav"](wav_bytes=tf.constant(files))
    for row, name in enumerate(("x.wav", "s.wav")):
        wave = sounds.read_wav(tmp_path / name)
        want = loaded.signatures["serving_default"](waveform=tf.constant(wave))
        steps = int(from_wav["steps"].numpy()[row])
        assert steps == output_steps(len(wave), config)
        np.testing.assert_allclose(from_wav["probabilities"].numpy()[row, :steps],
                                   want["probabilities"].numpy(), atol=1e-6)
        assert np.all(from_wav["probabilities"].numpy()[row, steps:] == -1.0)
        fired = want["event_steps"].numpy()
        np.testing.assert_array_equal(from_wav["event_steps"].numpy()[row, :len(fired)], fired)
    assert list(from_wav["error"].numpy()) == [b"", b""]

    for length in (0, 100, 1320, 16000):  # shorter than a window, or than one step
        out = loaded.signatures["serving_default"](waveform=tf.zeros([length]))
        assert out["probabilities"].shape == (output_steps(length, config),)

    sounds.write_wav(tmp_path / "y.wav", x[:8000], rate=16000)
    junk = [b"", b"not audio at all", b"\x89PNG" + bytes(60)]
    refused = loaded.signatures["wav"](wav_bytes=tf.constant(
        [(tmp_path / "y.wav").read_bytes(), *junk]))
    errors = refused["error"].numpy()
    assert errors[0] == b"wav_bytes: a 16000 Hz WAV; the model takes 8000 Hz (resample it first)"
    assert all(e == b"wav_bytes: not a RIFF/WAVE file (16-bit PCM WAV expected)" for e in errors[1:])
    assert list(refused["steps"].numpy()) == [0] * 4 and refused["probabilities"].shape == (4, 0)
