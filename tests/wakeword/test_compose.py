"""Composed clips: labels and positions by hand, non-overlap, determinism; the held-out stream."""

import dataclasses

import numpy as np
import pytest

from apps.wakeword import compose
from apps.wakeword.config import (
    PRESETS,
    SPECTROGRAM,
    Config,
    output_steps,
    samples_per_step,
    spectrogram_frames,
    step_seconds,
)

# The course's front end (40 ms steps), words as given
SPECTRO = Config(**SPECTROGRAM, channel_augment=0.0, speed_augment=0.0, reverb_augment=0.0)


def test_geometry_of_a_10_s_clip():
    assert spectrogram_frames(80000, SPECTRO) == 998  # 1 + (80000 - 200) // 80
    assert output_steps(80000, SPECTRO) == 246  # 1 + (998 - 15) // 4
    assert step_seconds(SPECTRO) == 0.04
    assert samples_per_step(SPECTRO) == 320
    assert output_steps(100, SPECTRO) == 0 and output_steps(1319, SPECTRO) == 0
    assert output_steps(1320, SPECTRO) == 1  # 15 frames of 200 samples every 80


def test_labels_by_hand():
    config = dataclasses.replace(SPECTRO, label_steps=3)
    # ends at samples 639 (step 1), 640 (step 2), and 79000 (step 246: beyond the 246 steps)
    y = compose.labels_for([639], 80000, config)
    assert y.shape == (246,) and np.flatnonzero(y).tolist() == [2, 3, 4]
    y = compose.labels_for([640, 3200], 80000, config)
    assert np.flatnonzero(y).tolist() == [3, 4, 5, 11, 12, 13]
    y = compose.labels_for([78400], 80000, config)  # step 245: 246.. are cut off
    assert y.sum() == 0
    y = compose.labels_for([78080], 80000, config)  # step 244: only step 245 remains
    assert np.flatnonzero(y).tolist() == [245]


def _bank():
    # recognisable constant blocks: positives 0.9 / 0.8 for 4,000 / 6,000 samples
    return compose.Bank(positives=[np.full(4000, 0.9, np.float32), np.full(6000, 0.8, np.float32)],
                        negatives=[np.full(3000, -0.9, np.float32), np.full(90000, 0.5, np.float32)],
                        backgrounds=[np.sin(np.arange(50000) / 7.0).astype(np.float32)])


def test_clip_positions_labels_and_non_overlap():
    config, bank = SPECTRO, _bank()
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(60):
        x, y, placed = compose.compose_clip(rng, bank, config)
        assert x.shape == (80000,) and y.shape == (246,) and np.abs(x).max() <= 1.0
        spans = sorted((p.start, p.end) for p in placed)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlap
        positives = [p for p in placed if p.kind == "positive"]
        negatives = [p for p in placed if p.kind == "negative"]
        assert len(positives) <= 4 and len(negatives) <= config.max_negatives
        assert all(p.end - p.start in (4000, 6000) for p in positives)
        assert all(p.end - p.start in (3000, 40000) for p in negatives)  # long one: half a clip
        np.testing.assert_array_equal(y, compose.labels_for([p.end for p in positives], 80000,
                                                            config))
        expected = np.zeros(246)
        for p in positives:  # the course's rule, written out again
            first = p.end // 320 + 1
            expected[first:first + config.label_steps] = 1
        np.testing.assert_array_equal(y, expected)
        counts.append(len(positives))
    assert set(counts) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("share, synthetic, recorded", [(0.0, 1.0, 0.0), (1.0, 0.0, 1.0),
                                                       (0.5, 0.5, 0.5)])
def test_recorded_negatives_are_drawn_with_their_share(share, synthetic, recorded):
    # synthetic negatives are 300 samples long, recorded ones 500: told apart by length (2 s
    # clips, short words: every word finds a place)
    bank = compose.Bank(positives=[np.full(400, 0.9, np.float32)],
                        negatives=[np.full(300, -0.9, np.float32)], backgrounds=[],
                        recorded=[np.full(500, 0.5, np.float32)])
    config = dataclasses.replace(SPECTRO, recorded_negative_share=share, max_positives=1,
                                 max_negatives=3, clip_seconds=2.0)
    rng = np.random.default_rng(3)
    lengths = [p.end - p.start for _ in range(200)
               for p in compose.compose_clip(rng, bank, config)[2] if p.kind == "negative"]
    assert len(lengths) > 200 and set(lengths) <= {300, 500}
    assert np.mean(np.equal(lengths, 300)) == pytest.approx(synthetic, abs=0.07)
    assert np.mean(np.equal(lengths, 500)) == pytest.approx(recorded, abs=0.07)
    # only recorded negatives: drawn whatever the share
    only = dataclasses.replace(bank, negatives=[])
    lengths = [p.end - p.start for _ in range(20)
               for p in compose.compose_clip(rng, only, config)[2] if p.kind == "negative"]
    assert lengths and set(lengths) == {500}


def test_a_placed_word_is_in_the_waveform_at_its_position():
    bank = compose.Bank(positives=[np.full(4000, 1.0, np.float32)], negatives=[], backgrounds=[])
    config = dataclasses.replace(SPECTRO, max_positives=1)
    rng = np.random.default_rng(5)
    for _ in range(20):
        x, y, placed = compose.compose_clip(rng, bank, config)
        for p in placed:  # background (noise or near-silence) + the word at peak 0.25-1
            assert x[p.start:p.end].mean() > 0.2
            outside = np.concatenate([x[:p.start], x[p.end:]])
            assert abs(outside.mean()) < 0.01 and np.abs(outside).max() < 0.5


def test_epochs_are_fresh_and_repeatable():
    config, bank = dataclasses.replace(SPECTRO, seed=3), _bank()
    a = list(compose.clips(bank, config, 3, epoch=0, count=3))
    b = list(compose.clips(bank, config, 3, epoch=0, count=3))
    c = list(compose.clips(bank, config, 3, epoch=1, count=3))
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(a[0][0], c[0][0])


@pytest.mark.slow
def test_dataset_yields_epoch_after_epoch():
    config = Config(**PRESETS["tiny"].values)
    bank = _bank()
    batches = list(compose.clip_dataset(bank, config, first_epoch=0, epochs=2).as_numpy_iterator())
    n, steps = 16000, output_steps(16000, config)
    assert len(batches) == 2 * config.clips_per_epoch // config.batch_size
    assert batches[0][0].shape == (4, n) and batches[0][1].shape == (4, steps)
    epoch1 = list(compose.clips(bank, config, config.seed, 1, config.clips_per_epoch))
    np.testing.assert_array_equal(batches[2][0], np.stack([e[0] for e in epoch1[:4]]))
    np.testing.assert_array_equal(batches[3][1], np.stack([e[1] for e in epoch1[4:8]]))
    resumed = next(compose.clip_dataset(bank, config, first_epoch=1, epochs=1).as_numpy_iterator())
    np.testing.assert_array_equal(resumed[0], batches[2][0])


def test_evaluation_stream_counts_times_and_length():
    config = dataclasses.replace(SPECTRO, eval_hours=0.05, eval_positives=12,
                                 eval_hard_negatives=10)
    pos, neg = np.full(8000, 0.7, np.float32), np.full(12000, -0.7, np.float32)
    prompts = [np.full(n, 0.3, np.float32) for n in (5000, 9000, 20000)]
    music = [np.sin(np.arange(30000) / 5.0).astype(np.float32)]
    x, placed = compose.evaluation_stream([pos], [neg], prompts, music, config, seed=1)
    assert len(x) >= 0.05 * 3600 * 8000
    kinds = [p.kind for p in placed]
    assert kinds.count("positive") == 12 and kinds.count("hard_negative") == 10
    assert kinds.count("prompt") > 20
    spans = [(p.start, p.end) for p in placed]
    assert spans == sorted(spans)
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:])]
    assert min(gaps) >= 4000 and max(gaps) <= 24000  # 0.5-3 s apart
    for p in placed:
        assert p.end - p.start == {"positive": 8000, "hard_negative": 12000}.get(
            p.kind, p.end - p.start)
        if p.kind == "positive":
            assert x[p.start:p.end].mean() > 0.15
    again, placed_again = compose.evaluation_stream([pos], [neg], prompts, music, config, seed=1)
    np.testing.assert_array_equal(x, again)
    assert placed == placed_again


def test_missing_positives_are_a_data_error():
    from apps.common.errors import DataError

    with pytest.raises(DataError, match="no held-out positive"):
        compose.evaluation_stream([], [], [], [], SPECTRO)
    with pytest.raises(DataError, match="no positive recordings"):
        next(compose.clips(compose.Bank([], [], []), SPECTRO, 0, 0, 1))


def test_telephone_channel_cuts_low_rumble_and_keeps_the_voice_band():
    t = np.arange(16000) / 8000.0
    rng = np.random.default_rng(0)
    for _ in range(5):
        low = compose._telephone_channel(rng, np.sin(2 * np.pi * 60 * t).astype(np.float32), 8000)
        mid = compose._telephone_channel(rng, np.sin(2 * np.pi * 1000 * t).astype(np.float32),
                                         8000)
        rms = lambda v: np.sqrt(np.mean(v[4000:] ** 2))  # noqa: E731  (past the transient)
        assert rms(low) < 0.15 * 0.707 and 0.3 < rms(mid) / 0.707 < 1.7


def test_channel_augmented_clips_keep_their_labels_and_repeat():
    config, bank = dataclasses.replace(SPECTRO, channel_augment=1.0), _bank()
    a = compose.compose_clip(np.random.default_rng(4), bank, config)
    b = compose.compose_clip(np.random.default_rng(4), bank, config)
    np.testing.assert_array_equal(a[0], b[0])
    plain = compose.compose_clip(np.random.default_rng(4), bank, SPECTRO)
    assert not np.allclose(a[0], plain[0])
    for _, y, placed in (a, plain):
        ends = [p.end for p in placed if p.kind == "positive"]
        np.testing.assert_array_equal(y, compose.labels_for(ends, 80000, config))
