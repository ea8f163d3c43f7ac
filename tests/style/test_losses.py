"""Gram, content, style and TV losses against values computed by hand on tiny tensors."""

import numpy as np
import pytest

from apps.style import losses

# (H=2, W=2, C=2) activations, small integers so every sum is done by hand below.
A = np.array([[[1.0, 2.0], [0.0, 1.0]],
              [[3.0, 0.0], [1.0, 1.0]]], dtype=np.float32)
B = np.array([[[0.0, 1.0], [1.0, 1.0]],
              [[2.0, 2.0], [0.0, 0.0]]], dtype=np.float32)


def test_gram_matrix_by_hand():
    # Rows of A flattened to (4, 2): (1,2) (0,1) (3,0) (1,1).
    # G00 = 1+0+9+1 = 11, G01 = 2+0+0+1 = 3, G11 = 4+1+0+1 = 6.
    np.testing.assert_allclose(losses.gram_matrix(A).numpy(), [[11.0, 3.0], [3.0, 6.0]])
    # A batch of one is accepted and gives the same matrix.
    np.testing.assert_allclose(losses.gram_matrix(A[None]).numpy(), [[11.0, 3.0], [3.0, 6.0]])


def test_content_cost_by_hand():
    # A - B = (1,1) (-1,0) (1,-2) (1,1): squares sum 2+1+5+2 = 10; half of it is 5.
    assert losses.content_cost(A, B).numpy() == pytest.approx(5.0)
    assert losses.content_cost(A, A).numpy() == 0.0


def test_layer_style_cost_by_hand():
    # Gram of B: rows (0,1) (1,1) (2,2) (0,0): G00 = 0+1+4+0 = 5, G01 = 0+1+4+0 = 5, G11 = 1+1+4 = 6.
    np.testing.assert_allclose(losses.gram_matrix(B).numpy(), [[5.0, 5.0], [5.0, 6.0]])
    # G(A) - G(B) = [[6, -2], [-2, 0]]: squares 36+4+4+0 = 44.
    # nH = nW = nC = 2: 1/(2*2*2*2)^2 = 1/256 -> 44/256.
    assert losses.layer_style_cost(A, B).numpy() == pytest.approx(44.0 / 256.0)


def test_style_cost_weights_layers_by_lambda():
    # Second layer: (1, 1, 1) activations 2 vs 3: Grams 4 vs 9, (4-9)^2 = 25, 1/(2*1*1*1)^2 = 1/4.
    a2, b2 = np.full((1, 1, 1), 2.0, np.float32), np.full((1, 1, 1), 3.0, np.float32)
    grams = [losses.normalized_gram(A), losses.normalized_gram(a2)]
    got = losses.style_cost(grams, [B, b2], [0.5, 2.0]).numpy()
    assert got == pytest.approx(0.5 * 44.0 / 256.0 + 2.0 * 25.0 / 4.0)


def test_style_cost_other_size_normalises_each_gram_by_its_own_positions():
    # The style image twice as wide with the same statistics has the same style cost.
    wide = np.concatenate([A, A], axis=1)  # (2, 4, 2): Gram doubles, positions double
    assert losses.layer_style_cost(wide, B).numpy() == pytest.approx(44.0 / 256.0)


def test_blend_grams_is_weighted_sum():
    g1 = [np.eye(2, dtype=np.float32)]
    g2 = [np.full((2, 2), 4.0, np.float32)]
    out = losses.blend_grams([g1, g2], [0.25, 0.75])
    np.testing.assert_allclose(out[0].numpy(), [[3.25, 3.0], [3.0, 3.25]])


def test_total_variation_by_hand():
    # One channel, 2x3: [[1, 2, 4], [0, 2, 1]].
    # Vertical diffs: -1, 0, -3 -> 1+0+9 = 10; horizontal: 1, 2, 2, -1 -> 1+4+4+1 = 10.
    x = np.array([[1.0, 2.0, 4.0], [0.0, 2.0, 1.0]], np.float32)[..., None]
    assert losses.total_variation(x).numpy() == pytest.approx(20.0)


def test_total_cost_combines_terms():
    assert losses.total_cost(2.0, 3.0, 5.0, alpha=10.0, beta=40.0, tv_weight=0.1) == pytest.approx(
        20.0 + 120.0 + 0.5)


def test_style_cost_rejects_mismatched_counts():
    with pytest.raises(ValueError, match="expected equal counts"):
        losses.style_cost([losses.normalized_gram(A)], [B, B], [1.0])
