import re

import keras
import numpy as np
import pytest
from helpers import check_layer  # tests/ is on sys.path: pytest inserts conftest.py's folder

from layers import InceptionModule

# GoogLeNet, Table 1: inception (3a) on 28x28x192 and (3b) on its 256-channel output.
INCEPTION_3A = dict(
    filters_1x1=64,
    filters_3x3_reduce=96,
    filters_3x3=128,
    filters_5x5_reduce=16,
    filters_5x5=32,
    filters_pool_proj=32,
)
INCEPTION_3B = dict(
    filters_1x1=128,
    filters_3x3_reduce=128,
    filters_3x3=192,
    filters_5x5_reduce=32,
    filters_5x5=96,
    filters_pool_proj=64,
)
TINY = dict(
    filters_1x1=2,
    filters_3x3_reduce=3,
    filters_3x3=4,
    filters_5x5_reduce=2,
    filters_5x5=3,
    filters_pool_proj=1,
)


def _kernel_params(layer):
    return sum(int(np.prod(w.shape)) for w in layer.weights if w.path.endswith("/kernel"))


def _weight_counts(layer):
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return trainable, non_trainable


def test_inception_3a_passes_layer_checks_and_counts(tmp_path):
    built = check_layer(
        lambda: InceptionModule(**INCEPTION_3A),
        input_shape=(None, 28, 28, 192),
        expected_output_shape=(None, 28, 28, 256),  # 64 + 128 + 32 + 32
        tmp_path=tmp_path,
        batch_size=1,
    )
    layer = built["layer"]
    kernels = (
        192 * 64  # 1x1: 12,288
        + 192 * 96  # 3x3 reduce: 18,432
        + 9 * 96 * 128  # 3x3: 110,592
        + 192 * 16  # 5x5 reduce: 3,072
        + 25 * 16 * 32  # 5x5: 12,800
        + 192 * 32  # pool projection: 6,144
    )
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert kernels == 163_328 and biases == 368
    assert _kernel_params(layer) == 163_328
    assert layer.count_params() == 163_328 + 368 == 163_696
    assert _weight_counts(layer) == (163_696, 0)


def test_inception_3b_counts_and_table_1_depth():
    layer = InceptionModule(**INCEPTION_3B)
    layer.build((None, 28, 28, 256))
    kernels = 256 * 128 + 256 * 128 + 9 * 128 * 192 + 256 * 32 + 25 * 32 * 96 + 256 * 64
    assert _kernel_params(layer) == kernels == 388_096
    # Table 1's output depth of (3b): 128 + 192 + 96 + 64.
    assert layer.compute_output_shape((None, 28, 28, 256)) == (None, 28, 28, 480)


def test_batch_norm_variant_passes_layer_checks_and_counts(tmp_path):
    built = check_layer(
        lambda: InceptionModule(**TINY, use_batch_norm=True),
        input_shape=(None, 6, 6, 3),
        expected_output_shape=(None, 6, 6, 2 + 4 + 3 + 1),
        tmp_path=tmp_path,
    )
    layer = built["layer"]
    kernels = 3 * 2 + 3 * 3 + 9 * 3 * 4 + 3 * 2 + 25 * 2 * 3 + 3 * 1  # 282
    bn_channels = 2 + 3 + 4 + 2 + 3 + 1  # 15, one BN per conv
    # No conv bias: gamma and beta are trainable, the moving mean and variance are not.
    assert _kernel_params(layer) == kernels == 282
    assert not any(w.path.endswith("/bias") for w in layer.weights)
    assert _weight_counts(layer) == (kernels + 2 * bn_channels, 2 * bn_channels)


def test_inception_3a_with_batch_norm_counts():
    layer = InceptionModule(**INCEPTION_3A, use_batch_norm=True)
    layer.build((None, 28, 28, 192))
    # 368 BN channels x (gamma, beta) trainable, x (mean, variance) not.
    assert _weight_counts(layer) == (163_328 + 2 * 368, 2 * 368)


def test_plain_variant_on_tiny_input_passes_layer_checks(tmp_path):
    check_layer(
        lambda: InceptionModule(**TINY, kernel_regularizer=keras.regularizers.L2(1e-3)),
        input_shape=(None, 5, 4, 3),
        expected_output_shape=(None, 5, 4, 10),
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("use_batch_norm", [False, True])
def test_branches_are_concatenated_in_order(use_batch_norm):
    layer = InceptionModule(**TINY, use_batch_norm=use_batch_norm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    out = np.asarray(layer(x, training=False))
    assert out.shape == (2, 5, 5, 10)

    def unit(conv, norm, value):
        y = conv(value)
        if norm is not None:
            y = norm(y, training=False)
        return np.maximum(np.asarray(y), 0.0)

    branch1 = unit(layer.branch1_conv, layer.branch1_norm, x)
    branch2 = unit(
        layer.branch2_conv,
        layer.branch2_norm,
        unit(layer.branch2_reduce, layer.branch2_reduce_norm, x),
    )
    branch3 = unit(
        layer.branch3_conv,
        layer.branch3_norm,
        unit(layer.branch3_reduce, layer.branch3_reduce_norm, x),
    )
    # 3x3 max-pool, stride 1, "same": -inf padding, so border windows are just smaller.
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    pooled = np.max([padded[:, i : i + 5, j : j + 5, :] for i in range(3) for j in range(3)], axis=0)
    branch4 = unit(layer.branch4_proj, layer.branch4_norm, pooled)
    expected = np.concatenate([branch1, branch2, branch3, branch4], axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # ReLU on every branch, the pool branch included (after its projection).
    assert out.min() >= 0.0


def test_compute_output_shape_keeps_unknown_sizes():
    layer = InceptionModule(**TINY)
    assert layer.compute_output_shape((None, None, None, 7)) == (None, None, None, 10)


@pytest.mark.parametrize(
    "argument, value",
    [
        ("filters_1x1", 0),
        ("filters_3x3_reduce", -1),
        ("filters_3x3", 2.0),
        ("filters_5x5_reduce", None),
        ("filters_5x5", True),
        ("filters_pool_proj", "8"),
        ("use_batch_norm", 1),
        ("kernel_initializer", "not_an_initializer"),
        ("kernel_regularizer", "not_a_regularizer"),
        ("activation", "not_an_activation"),
    ],
)
def test_bad_arguments_name_argument_and_value(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}`.*{re.escape(repr(value))}"):
        InceptionModule(**{**TINY, argument: value})


def test_bad_input_rank():
    with pytest.raises(ValueError, match=r"input_shape=\(None, 3\)"):
        InceptionModule(**TINY).build((None, 3))
