import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import InceptionModule, ResidualBlock, gradient_check
from layers.gradcheck import relative_difference

TOLERANCE = 1e-6  # float64, epsilon 1e-6: a correct gradient gives ~1e-10


def _randomize_bn_statistics(layer, rng):
    """Moving statistics away from (0, 1), so inference-mode BN is not the near-identity."""
    for variable in layer.non_trainable_variables:
        if variable.path.endswith("moving_mean"):
            variable.assign(rng.normal(0.0, 0.5, size=variable.shape))
        elif variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, size=variable.shape))


def _check(layer, input_shape, training=False, **kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(input_shape)
    layer(x, training=False)  # build
    _randomize_bn_statistics(layer, rng)
    result = gradient_check(layer, x, training=training, **kwargs)
    print(f"{layer.name} training={training}: relative difference {result.relative_difference:.3e}")
    return result


def _total_size(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


@pytest.mark.parametrize(
    "kwargs, input_shape",
    [
        # 4x4x3 -> 2x2x4: strided basic block, 1x1 projection.
        (dict(filters=4, strides=2), (2, 4, 4, 3)),
        # 4x4x3 -> 4x4x8 bottleneck, forced projection, biases on.
        (dict(filters=2, block_type="bottleneck", shortcut="projection", use_bias=True), (2, 4, 4, 3)),
        # Strided bottleneck, stride on the first 1x1.
        (dict(filters=2, block_type="bottleneck", strides=2, expansion=2), (2, 5, 5, 3)),
    ],
)
def test_residual_block_gradients(kwargs, input_shape):
    block = ResidualBlock(**kwargs, dtype="float64")
    start = time.perf_counter()
    result = _check(block, input_shape)
    elapsed = time.perf_counter() - start
    assert block.use_projection
    assert result.relative_difference < TOLERANCE, result
    assert max(result.per_variable.values()) < TOLERANCE, result.worst()
    # Every coordinate of every trainable weight and of the input was perturbed.
    assert sum(result.num_checked.values()) == _total_size(block.trainable_variables) + np.prod(input_shape)
    assert "inputs[0]" in result.per_variable
    assert elapsed < 30.0, f"gradient check took {elapsed:.1f} s"


def test_residual_block_gradients_in_training_mode():
    # Training-mode BN differentiates through the batch mean and variance.
    block = ResidualBlock(3, strides=2, dtype="float64")
    result = _check(block, (3, 4, 4, 2), training=True)
    assert result.relative_difference < TOLERANCE, result


@pytest.mark.parametrize("use_batch_norm", [False, True])
def test_inception_module_gradients(use_batch_norm):
    layer = InceptionModule(2, 2, 3, 2, 2, 1, use_batch_norm=use_batch_norm, dtype="float64")
    result = _check(layer, (2, 4, 4, 3))
    assert result.relative_difference < TOLERANCE, result
    assert max(result.per_variable.values()) < TOLERANCE, result.worst()
    assert len(result.per_variable) == len(layer.trainable_variables) + 1  # + the input


class WrongGradientDense(keras.layers.Layer):
    """x @ W whose custom gradient is twice the true one, for both x and W."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_normal")

    def call(self, inputs):
        @tf.custom_gradient
        def matmul(x, w):
            def grad(dy):
                return 2.0 * tf.matmul(dy, w, transpose_b=True), 2.0 * tf.matmul(x, dy, transpose_a=True)

            return tf.matmul(x, w), grad

        return matmul(inputs, tf.convert_to_tensor(self.kernel))


def test_wrong_custom_gradient_is_detected():
    layer = WrongGradientDense(3, dtype="float64")
    result = gradient_check(layer, np.random.default_rng(0).standard_normal((4, 5)))
    # |2g - g| / (|2g| + |g|) = 1/3 exactly, for the kernel and the input alike.
    assert result.relative_difference > 1e-2
    assert result.relative_difference == pytest.approx(1 / 3, abs=1e-6)
    assert result.per_variable[layer.kernel.path] == pytest.approx(1 / 3, abs=1e-6)
    assert result.per_variable["inputs[0]"] == pytest.approx(1 / 3, abs=1e-6)


def test_max_checks_per_variable_samples_a_seeded_subset():
    block = ResidualBlock(4, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    first = gradient_check(block, x, max_checks_per_variable=5, seed=3)
    again = gradient_check(block, x, max_checks_per_variable=5, seed=3)
    sizes = {v.path: int(np.prod(v.shape)) for v in block.trainable_variables}
    sizes["inputs[0]"] = x.size
    assert first.num_checked == {name: min(size, 5) for name, size in sizes.items()}
    assert first == again
    assert first.relative_difference < TOLERANCE


def test_check_leaves_every_variable_as_it_was():
    block = ResidualBlock(3, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    block(x)
    before = [v.numpy().copy() for v in block.variables]
    # Training mode: BN would update its moving statistics on every call.
    gradient_check(block, x, training=True, check_inputs=False, max_checks_per_variable=3)
    for b, v in zip(before, block.variables, strict=True):
        np.testing.assert_array_equal(b, v.numpy(), err_msg=v.path)


def test_inputs_only_checks_for_a_plain_function():
    x = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    y = np.linspace(0.5, 1.5, 4)
    result = gradient_check(lambda xs: tf.sin(xs[0]) * xs[1] ** 2, [x, y])
    assert set(result.per_variable) == {"inputs[0]", "inputs[1]"}
    assert result.relative_difference < 1e-8

    @tf.custom_gradient
    def bad_square(t):
        return t * t, lambda dy: dy * t  # true gradient: 2 * t * dy

    wrong = gradient_check(bad_square, x)
    assert wrong.relative_difference == pytest.approx(1 / 3, abs=1e-6)


def test_float32_layer_is_refused():
    with pytest.raises(ValueError, match=r"float64.*float32"):
        gradient_check(ResidualBlock(2), np.zeros((1, 3, 3, 2)))


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"epsilon": 0.0}, "epsilon"), ({"max_checks_per_variable": 0}, "max_checks_per_variable")],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*{kwargs[argument]!r}"):
        gradient_check(lambda x: x, np.ones(2), **kwargs)


def test_relative_difference():
    assert relative_difference([3.0, 4.0], [3.0, 4.0]) == 0.0
    assert relative_difference([2.0], [1.0]) == pytest.approx(1 / 3)
    assert relative_difference([1.0, 0.0], [-1.0, 0.0]) == 1.0
    assert relative_difference([0.0], [0.0]) == 0.0
