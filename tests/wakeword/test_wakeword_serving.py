"""The exported module answers as the NumPy path does, from waveforms and from WAV bytes."""

import dataclasses

import numpy as np
import pytest

from apps.wakeword import events, sounds
from apps.wakeword.config import PRESETS, Config, output_steps, step_seconds
from apps.wakeword.model import build_model
from apps.wakeword.serving import export_module


@pytest.mark.slow
def test_export_round_trip_agrees_with_numpy(tmp_path):
    import tensorflow as tf

    config = Config(**PRESETS["tiny"].values)  # 2 s windows every 1 s
    model = build_model(config)
    rng = np.random.default_rng(0)
    for w in model.weights:  # a model whose outputs vary over time
        if "gamma" not in w.path and "variance" not in w.path:
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
    steps = events.detect_events(want, config.threshold, 5)
    assert len(steps) > 3
    np.testing.assert_array_equal(got["event_steps"].numpy(), steps)
    np.testing.assert_allclose(got["event_times"].numpy(), steps * step_seconds(config))

    sounds.write_wav(tmp_path / "x.wav", x)
    quantised = sounds.read_wav(tmp_path / "x.wav")
    from_wav = loaded.signatures["wav"](wav_bytes=tf.constant((tmp_path / "x.wav").read_bytes()))
    from_wave = loaded.signatures["serving_default"](waveform=tf.constant(quantised))
    np.testing.assert_allclose(from_wav["probabilities"].numpy(),
                               from_wave["probabilities"].numpy(), atol=1e-6)

    for length in (0, 100, 1320, 16000):  # shorter than a window, or than one step
        out = loaded.signatures["serving_default"](waveform=tf.zeros([length]))
        assert out["probabilities"].shape == (output_steps(length, config),)

    assert from_wav["error"].numpy() == b""
    sounds.write_wav(tmp_path / "y.wav", x[:8000], rate=16000)
    refused = loaded.signatures["wav"](wav_bytes=tf.constant((tmp_path / "y.wav").read_bytes()))
    assert refused["error"].numpy() == (b"wav_bytes: a 16000 Hz WAV; the model takes 8000 Hz "
                                        b"(resample it first)")
    assert refused["probabilities"].shape == (0,) and refused["event_steps"].shape == (0,)
    for junk in (b"", b"not audio at all", b"\x89PNG" + bytes(60)):
        refused = loaded.signatures["wav"](wav_bytes=tf.constant(junk))
        assert refused["error"].numpy().startswith(b"wav_bytes: not a RIFF/WAVE file")
        assert refused["probabilities"].shape == (0,)
