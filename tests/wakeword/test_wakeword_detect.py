"""Operating points and the validation threshold; detect's chime WAV and probability PNG."""

import dataclasses

import numpy as np

from apps.wakeword import detect, evaluation
from apps.wakeword.compose import Placed
from apps.wakeword.config import PRESETS, Config
from apps.wakeword.events import StreamScore
from apps.wakeword.sounds import read_wav, write_wav

TINY = Config(**PRESETS["tiny"].values)


def _score(recall, fa):
    return StreamScore(triggers=10, detected=int(recall * 10), false_accepts=fa,
                       hard_negative_accepts=0, hours=1.0, frame_accuracy=0.9,
                       all_zeros_accuracy=0.9)


def test_threshold_is_the_best_recall_within_the_false_accept_budget():
    points = [(0.1, _score(1.0, 9)), (0.5, _score(0.8, 1)), (0.7, _score(0.8, 0)),
              (0.9, _score(0.3, 0))]
    assert evaluation.choose_threshold(points, 1.0) == 0.7  # ties: the higher threshold
    assert evaluation.choose_threshold(points, 10.0) == 0.1
    assert evaluation.best_recall(points, 0.5) == (0.8, 0.7)
    loud = [(0.2, _score(1.0, 5)), (0.4, _score(0.5, 3))]
    assert evaluation.choose_threshold(loud, 1.0) == 0.4 and evaluation.best_recall(loud, 1) == (0.0, None)


def test_operating_points_score_events_by_hand():
    config = dataclasses.replace(TINY, refractory_seconds=0.4)
    rate = config.sample_rate
    probs = np.zeros(100, np.float32)
    probs[25] = 0.9  # 1.0 s: inside the trigger's window [0.8 s, 1.0 + 1 s]
    probs[75] = 0.6  # 3.0 s: nothing there, a false accept above 0.5 only
    placed = [Placed("positive", int(0.8 * rate), int(1.0 * rate))]
    (low, a), (high, b) = evaluation.operating_points(probs, placed, 4 * rate, config, [0.5, 0.8])
    assert (low, a.detected, a.false_accepts) == (0.5, 1, 1)
    assert (high, b.detected, b.false_accepts) == (0.8, 1, 0)
    assert evaluation.summary(b)["false_accepts_per_hour"] == 0.0


def test_chimes_land_at_the_events():
    rate = 8000
    out = detect.with_chimes(np.zeros(3 * rate, np.float32), [1.0, 2.9], rate)
    bell = detect.chime(rate)
    np.testing.assert_allclose(out[rate:rate + len(bell)], bell)
    np.testing.assert_allclose(out[int(2.9 * rate):], bell[:int(0.1 * rate)])  # cut at the end
    assert not out[:rate].any()
    spectrum = np.abs(np.fft.rfft(bell[:len(bell) // 2]))
    assert abs(np.argmax(spectrum) * rate / (len(bell) // 2) - 880) < 10


def test_detect_file_writes_the_chime_wav_and_the_picture(tmp_path):
    config = TINY

    class Model:  # logits: +10 at step 3 of every window, -10 elsewhere (traced like Keras)
        def __call__(self, windows, training=False):
            import tensorflow as tf

            from apps.wakeword.config import output_steps

            row = np.full(output_steps(windows.shape[1], config), -10.0, np.float32)
            row[3] = 10.0
            return tf.tile(tf.constant(row)[None], [tf.shape(windows)[0], 1])

    wav = tmp_path / "in.wav"
    write_wav(wav, np.zeros(16000, np.float32), rate=16000)  # 1 s at 16 kHz: resampled to 8 kHz
    found = detect.detect_file(Model(), wav, config, 0.5, tmp_path / "out")
    assert found["events"] == [0.12] and found["seconds"] == 1.0  # step 3 x 40 ms
    chimed = read_wav(found["chime_wav"])
    assert len(chimed) == 8000 and np.abs(chimed[960:1200]).max() > 0.3 and not chimed[:960].any()
    assert open(found["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
