"""The speech-embedding front end: the Keras port against onnxruntime on real audio, the
upsampler, the geometry it implies, bad files, and a tiny model built on it."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.common.errors import ConfigError, DataError
from apps.common.onnx_file import read_onnx
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.wakeword import compose, detect, embedding, sounds
from apps.wakeword.config import PRESETS, Config, output_steps, step_offset, step_times
from apps.wakeword.model import build_model

TINY = Config(**{**PRESETS["tiny"].values, "frontend": "speech-embedding", "label_steps": 3})


def _session(name):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(fetch_package_file(EMBEDDED[name])), options,
                                        providers=["CPUExecutionProvider"])


def _front_end():
    model = build_model(TINY)
    return model.get_layer("mel"), model.get_layer("speech_embedding")


def test_port_matches_onnxruntime_on_recorded_speech():
    prompts = sounds.load_sounds().train_prompts
    speech = np.concatenate([prompts[k] for k in sorted(prompts)[:3]])[:14000]  # 1.75 s
    audio = embedding.Upsample2x()(speech[None].astype(np.float32)).numpy()  # (1, 28000)
    mel_layer, embedding_layer = _front_end()
    mel = mel_layer(audio).numpy()
    mel_session = _session("speech-embedding-mel")
    want = mel_session.run(None, {"input": audio})[0][:, 0] / 10 + 2  # openWakeWord's scaling
    assert mel.shape == want.shape == (1, 1 + (28000 - 512) // 160, 32)
    np.testing.assert_allclose(mel, want, atol=1e-4)
    steps = 1 + (mel.shape[1] - 76) // 8
    windows = np.stack([want[0, 8 * i:8 * i + 76] for i in range(steps)])[..., None]
    net = _session("speech-embedding-model")
    want = net.run(None, {"input_1": windows})[0].reshape(steps, 96)
    got = embedding_layer(mel).numpy()[0]  # the whole sequence at once
    assert got.shape == (steps, 96) and np.abs(want).max() > 10
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


def test_upsampler_interpolates_a_tone_and_keeps_the_input_samples():
    t = np.arange(4000)
    tone = np.sin(2 * np.pi * 1000 * t / 8000).astype(np.float32)[None]
    up = embedding.Upsample2x()(tone).numpy()[0]
    assert up.shape == (8000,)
    np.testing.assert_array_equal(up[::2], tone[0])
    want = np.sin(2 * np.pi * 1000 * np.arange(8000) / 16000)
    np.testing.assert_allclose(up[100:-100], want[100:-100], atol=2e-3)
    assert abs(embedding.upsample_filter().sum() - 1) < 1e-6


def test_geometry_follows_the_front_end():
    assert output_steps(80000, TINY) == 116  # 1 + (80000 - 6256) // 640
    assert output_steps(6255, TINY) == 0 and output_steps(6256, TINY) == 1
    assert step_offset(TINY) == 6256 and abs(step_times(0, TINY) - 0.782) < 1e-9
    assert abs(step_times(10, TINY) - 1.582) < 1e-9
    # step k stands for sample 640 k + 6256: a word ending at sample 7000 ends in step 1
    y = compose.labels_for([7000], 16000, TINY)
    assert y.shape == (16,) and np.flatnonzero(y).tolist() == [2, 3, 4]
    y = compose.labels_for([2000], 16000, TINY)  # ends 6.6 steps before step 0's sample
    assert y.sum() == 0
    y = compose.labels_for([5800], 16000, TINY)  # step 0 (6256) is 0.06 s later: labelled
    assert np.flatnonzero(y).tolist() == [0, 1, 2]
    with pytest.raises(ConfigError, match="sample_rate=16000: frontend=speech-embedding"):
        dataclasses.replace(TINY, sample_rate=16000)


def test_a_tiny_model_trains_its_head_only_and_round_trips(tmp_path):
    model = build_model(TINY)
    frozen = model.get_layer("mel").weights + model.get_layer("speech_embedding").weights
    assert len(frozen) == 2 + 20 + 19 and not model.get_layer("speech_embedding").trainable
    assert not {id(w) for w in frozen} & {id(w) for w in model.trainable_weights}
    for samples in (6256, 16000, 12345):
        assert model(np.zeros((1, samples), np.float32)).shape == (1, output_steps(samples, TINY))
    from apps.wakeword.model import compile_model

    compile_model(model, TINY)
    before = [w.numpy().copy() for w in frozen]
    x = np.random.default_rng(0).standard_normal((4, 16000)).astype(np.float32) * 0.1
    y = np.zeros((4, output_steps(16000, TINY)), np.float32)
    y[:2, 5:8] = 1
    model.train_on_batch(x, y)
    for w, value in zip(frozen, before):
        np.testing.assert_array_equal(w.numpy(), value)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored(x), model(x), atol=1e-5)
    sounds.write_wav(tmp_path / "in.wav", x[0, :12000].repeat(2))  # 3 s
    found = detect.detect_file(restored, tmp_path / "in.wav", TINY, 0.0, tmp_path / "out")
    # every step fires at threshold 0 but for the 1 s refractory period (12 steps of 80 ms)
    assert found["events"] == [round(step_times(k, TINY), 2) for k in (0, 12, 24)] == \
        [0.78, 1.74, 2.7]


def test_missing_or_damaged_files_are_refused(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="cannot read the ONNX model"):
        read_onnx(tmp_path / "nothing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x0a\xff\xff\xff\xff\x0f not a model")
    with pytest.raises(DataError, match="not a readable ONNX model"):
        read_onnx(tmp_path / "junk.onnx")
    good = fetch_package_file(EMBEDDED["speech-embedding-mel"])
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[:500_000])
    with pytest.raises(DataError, match="not a readable ONNX model"):
        read_onnx(cut)
    # a readable ONNX file of another network where the embedding is expected
    monkeypatch.setattr(embedding, "fetch_package_file", lambda spec: good)
    with pytest.raises(DataError, match="not the speech-embedding model"):
        embedding.onnx_weights.__wrapped__()
