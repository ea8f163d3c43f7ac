"""The in-graph spectrogram and the model, against NumPy at the model's weights."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.wakeword.config import PRESETS, Config, output_steps
from apps.wakeword.model import LogSpectrogram, build_model, compile_model

TINY = Config(**PRESETS["tiny"].values)


def _np_spectrogram(x, frame_length=200, frame_step=80, fft_length=256):
    frames = 1 + (x.shape[-1] - frame_length) // frame_step
    idx = np.arange(frames)[:, None] * frame_step + np.arange(frame_length)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)  # periodic
    spectrum = np.fft.rfft(x[..., idx] * window, n=fft_length)
    return np.log(1e-6 + np.abs(spectrum))


def test_log_spectrogram_matches_numpy():
    x = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32) * 0.3
    got = LogSpectrogram()(x)
    assert got.shape == (2, 11, 129)
    np.testing.assert_allclose(got, _np_spectrogram(x.astype(np.float64)), atol=2e-3)
    tone = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000).astype(np.float32)[None]
    assert int(np.argmax(LogSpectrogram()(tone)[0, 5])) == 32  # 1 kHz = bin 1000 / (8000 / 256)


def test_log_spectrogram_layer_contract(tmp_path):
    """check_layer wants trainable weights (it checks a training step); the spectrogram has
    none, so its shape, config and .keras round trips are checked here."""
    layer = LogSpectrogram(frame_length=64, frame_step=32, fft_length=64, epsilon=1e-4)
    assert layer.compute_output_shape((None, 320)) == (None, 9, 33)
    clone = LogSpectrogram.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inputs = keras.Input((None,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).standard_normal((2, 320)).astype(np.float32)
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")(x), model(x),
                               atol=1e-6)
    with pytest.raises(ValueError, match="`fft_length` must be >= frame_length"):
        LogSpectrogram(frame_length=300, fft_length=256)
    with pytest.raises(ValueError, match="`frame_step` must be a positive int"):
        LogSpectrogram(frame_step=0)


@pytest.mark.parametrize("samples", [1320, 16000, 80000, 12345])
def test_output_steps_of_any_length(samples):
    model = build_model(TINY)
    x = np.zeros((1, samples), np.float32)
    assert model(x).shape == (1, output_steps(samples, TINY))


def _gru_np(x, kernel, recurrent, bias):
    units = recurrent.shape[0]
    c = np.zeros((x.shape[0], units))
    out = []
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(x.shape[1]):
        xz = x[:, t] @ kernel + bias
        gates = sig(xz[:, :2 * units] + c @ recurrent[:, :2 * units])
        z, r = gates[:, :units], gates[:, units:]
        cand = np.tanh(xz[:, 2 * units:] + (r * c) @ recurrent[:, 2 * units:])
        c = z * c + (1 - z) * cand
        out.append(c)
    return np.stack(out, 1)


def _bn_np(x, layer):
    gamma, beta, mean, var = (w.astype(np.float64) for w in layer.get_weights())
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def test_model_matches_a_numpy_forward_pass_and_returns_logits():
    config = dataclasses.replace(TINY, gru_layers=2)
    model = build_model(config)
    rng = np.random.default_rng(1)
    for w in model.weights:  # moved off their initial values (BN statistics too)
        value = rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.uniform(
            -0.5, 0.5, w.shape)
        w.assign(value.astype(np.float32))
    x = rng.standard_normal((2, 4000)).astype(np.float32) * 0.2
    got = np.asarray(model(x, training=False))

    h = _np_spectrogram(x.astype(np.float64))  # (2, 48, 129)
    assert config.spectral_mean_norm  # the default: each bin minus its mean over the frames
    h = h - h.mean(axis=1, keepdims=True)
    kernel, bias = model.get_layer("conv").get_weights()
    steps = output_steps(4000, config)
    h = np.stack([np.einsum("bkf,kfo->bo", h[:, 4 * s:4 * s + 15], kernel) for s in range(steps)],
                 1) + bias
    h = np.maximum(_bn_np(h, model.get_layer("conv_bn")), 0)
    for i in (1, 2):
        h = _gru_np(h, *model.get_layer(f"gru{i}").get_weights())
        h = _bn_np(h, model.get_layer(f"gru{i}_bn"))
    w, b = model.get_layer("logit").get_weights()
    expected = (h @ w + b)[..., 0]
    assert got.shape == (2, steps)
    np.testing.assert_allclose(got, expected, atol=2e-3, rtol=1e-3)
    assert model.get_layer("logit").activation is keras.activations.linear  # logits out


@pytest.mark.slow
def test_a_few_steps_lower_the_loss_on_one_batch():
    config = dataclasses.replace(TINY, learning_rate=1e-2, lr_schedule="constant")
    model = compile_model(build_model(config), config)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16000)).astype(np.float32) * 0.05
    y = np.zeros((4, output_steps(16000, config)), np.float32)
    x[:2, 6000:9000] += np.sin(np.arange(3000) * 0.3).astype(np.float32)  # a "word" in two clips
    y[:2, 29:34] = 1.0
    first = model.train_on_batch(x, y, return_dict=True)["loss"]
    for _ in range(15):
        last = model.train_on_batch(x, y, return_dict=True)["loss"]
    assert last < 0.7 * first
    restored = keras.models.clone_model(model)
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored(x), model(x), atol=1e-5)


def test_spectral_mean_norm_removes_a_fixed_gain_and_matches_numpy():
    x = np.random.default_rng(2).standard_normal((1, 4000)).astype(np.float32) * 0.1
    layer = LogSpectrogram(subtract_mean=True)
    ref = _np_spectrogram(x.astype(np.float64))
    np.testing.assert_allclose(layer(x), ref - ref.mean(axis=1, keepdims=True), atol=2e-3)
    np.testing.assert_allclose(layer(3.0 * x), layer(x), atol=1e-3)  # log 3 per bin, removed
    assert not np.allclose(LogSpectrogram()(3.0 * x), LogSpectrogram()(x), atol=1e-3)
    with pytest.raises(ValueError, match="`subtract_mean` must be a bool"):
        LogSpectrogram(subtract_mean=1)
    config = dataclasses.replace(TINY, spectral_mean_norm=True)
    assert build_model(config).get_layer("spectrogram").subtract_mean is True


def test_spectrogram_masks_change_training_only():
    masked = build_model(dataclasses.replace(TINY, frequency_masks=2, time_masks=3))
    plain = build_model(dataclasses.replace(TINY, frequency_masks=0, time_masks=0))
    assert masked.get_layer("masks").time_masks == 3
    assert "masks" not in [layer.name for layer in plain.layers]
    plain.set_weights(masked.get_weights())  # the masks hold no weights
    x = np.random.default_rng(3).standard_normal((2, 4000)).astype(np.float32) * 0.1
    np.testing.assert_allclose(masked(x), plain(x), atol=1e-6)
    front = keras.Model(masked.input, [masked.get_layer("spectrogram").output,
                                       masked.get_layer("masks").output])
    spectrogram, after = front(x, training=True)
    assert 0 < np.mean(np.asarray(spectrogram) != np.asarray(after)) < 0.5
