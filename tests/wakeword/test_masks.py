"""SpecAugment's masks: spans of the asked widths filled with the example's mean, training only."""

import keras
import numpy as np
import pytest

from apps.wakeword.masks import SpectrogramMasks


def _spans(flags):
    """[(start, length)] of the runs of True in a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(int), [0]])))
    return [(a, b - a) for a, b in zip(edges[::2], edges[1::2])]


@pytest.mark.parametrize("axis", [1, 2])
def test_one_mask_is_one_span_of_at_most_its_width_at_the_mean(axis):
    x = np.random.default_rng(0).standard_normal((256, 40, 129)).astype(np.float32) + 3.0
    layer = SpectrogramMasks(frequency_masks=int(axis == 2), frequency_width=15,
                             time_masks=int(axis == 1), time_width=15, seed=1)
    y = np.asarray(layer(x, training=True))
    mean = x.mean(axis=(1, 2), keepdims=True)
    changed = y != x
    np.testing.assert_allclose(y[changed], np.broadcast_to(mean, x.shape)[changed], rtol=1e-6)
    other = 3 - axis  # a masked frame is masked in every bin, a masked bin in every frame
    lines = changed.all(axis=other)
    np.testing.assert_array_equal(lines, changed.any(axis=other))
    widths = []
    for row in lines:
        spans = _spans(row)
        assert len(spans) <= 1
        widths.append(spans[0][1] if spans else 0)
    assert max(widths) <= 15 and set(widths) >= {0, 15}
    assert np.mean(widths) == pytest.approx(7.5, abs=1.0)  # uniform over 0..15
    starts = [_spans(row)[0][0] for row in lines if row.any()]
    assert min(starts) < 10 and max(starts) > x.shape[axis] - 25  # anywhere along the axis


def test_masks_only_in_training_seeded_and_saved(tmp_path):
    x = np.random.default_rng(1).standard_normal((4, 50, 33)).astype(np.float32)
    layer = SpectrogramMasks(2, 5, 3, 4, seed=7)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    first = np.asarray(layer(x, training=True))
    assert (first != x).any()
    again = np.asarray(SpectrogramMasks(2, 5, 3, 4, seed=7)(x, training=True))
    np.testing.assert_array_equal(first, again)  # the same seed, the same masks
    assert (np.asarray(layer(x, training=True)) != first).any()  # new masks each call
    np.testing.assert_array_equal(SpectrogramMasks(0, 5, 0, 4)(x, training=True), x)
    assert layer.compute_output_shape((None, None, 33)) == (None, None, 33)
    clone = SpectrogramMasks.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    inputs = keras.Input((None, 33))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.models.load_model(tmp_path / "m.keras")(x), x)
    with pytest.raises(ValueError, match="`time_width` must be an int >= 0"):
        SpectrogramMasks(time_width=-1)
