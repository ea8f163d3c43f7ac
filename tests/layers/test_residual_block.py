import re

import keras
import numpy as np
import pytest
from helpers import check_layer  # tests/ is on sys.path: pytest inserts conftest.py's folder

from layers import ResidualBlock

RESNET50_PARAMS = 25_636_712


@pytest.fixture(scope="module")
def keras_resnet50():
    """Keras's own ResNet-50 (random weights, with the top): the reference of our blocks."""
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None)


def _weight_counts(layer):
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)
    return trainable, non_trainable


# --- the shared checks (shapes, config, .keras, SavedModel, training step) ---------------


def test_basic_block_with_stride_projects_and_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: ResidualBlock(8, strides=2),
        input_shape=(None, 7, 7, 4),
        # "same" padding, stride 2: ceil(7 / 2) = 4.
        expected_output_shape=(None, 4, 4, 8),
        tmp_path=tmp_path,
    )
    assert built["layer"].use_projection
    # Output of the final ReLU.
    assert min(float(np.min(y)) for y in built["outputs"]) == 0.0


def test_bottleneck_identity_block_passes_layer_checks(tmp_path):
    # 8 channels in = 2 filters * expansion 4 out, stride 1: "auto" picks the identity.
    built = check_layer(
        lambda: ResidualBlock(2, block_type="bottleneck", kernel_regularizer=keras.regularizers.L2(1e-4)),
        input_shape=(None, 5, 5, 8),
        expected_output_shape=(None, 5, 5, 8),
        tmp_path=tmp_path,
    )
    layer = built["layer"]
    assert not layer.use_projection
    # 1x1 (8->2), 3x3 (2->2), 1x1 (2->8) kernels; 4 BN vectors of 2, 2 and 8 channels.
    assert _weight_counts(layer) == (8 * 2 + 9 * 2 * 2 + 2 * 8 + 2 * (2 + 2 + 8), 2 * (2 + 2 + 8))
    # One L2 penalty per conv kernel, and the regularizer survived the config round trip.
    assert len(layer.losses) == 3
    assert layer.get_config()["kernel_regularizer"]["config"] == {"l2": pytest.approx(1e-4)}


def test_bottleneck_block_with_stride_passes_layer_checks(tmp_path):
    built = check_layer(
        lambda: ResidualBlock(2, block_type="bottleneck", strides=2, expansion=2, use_bias=True),
        input_shape=(None, 6, 6, 3),
        expected_output_shape=(None, 3, 3, 4),
        tmp_path=tmp_path,
        require_all_weights_trained=False,
    )
    assert built["layer"].use_projection
    # A bias right before a training-mode BN has zero gradient: the BN subtracts the batch
    # mean, bias included. Everything else must have moved.
    assert sorted(built["unchanged_weights"]) == sorted(
        f"{built['layer'].name}/{conv}/bias" for conv in ("conv_1", "conv_2", "conv_3", "shortcut_conv")
    )


# --- weight counts by hand ---------------------------------------------------------------


def test_basic_block_weight_counts_by_hand():
    # 3 -> 4 channels: "auto" adds the 1x1 projection.
    block = ResidualBlock(4)
    block.build((None, 8, 8, 3))
    conv1 = 3 * 3 * 3 * 4  # 108
    conv2 = 3 * 3 * 4 * 4  # 144
    projection = 1 * 1 * 3 * 4  # 12
    gamma_beta = 3 * (4 + 4)  # 24: three BNs of 4 channels
    moving_stats = 3 * (4 + 4)  # 24
    assert _weight_counts(block) == (conv1 + conv2 + projection + gamma_beta, moving_stats)
    assert block.count_params() == 108 + 144 + 12 + 24 + 24 == 312

    with_bias = ResidualBlock(4, use_bias=True)
    with_bias.build((None, 8, 8, 3))
    assert with_bias.count_params() == 312 + 4 + 4 + 4

    # 4 -> 4 channels, stride 1: identity shortcut, only the two 3x3 convs and their BNs.
    identity = ResidualBlock(4)
    identity.build((None, 8, 8, 4))
    assert not identity.use_projection
    assert _weight_counts(identity) == (144 + 144 + 2 * 8, 2 * 8)


def test_shortcut_modes():
    forced = ResidualBlock(4, shortcut="projection")
    forced.build((None, 8, 8, 4))
    assert forced.use_projection
    assert forced.count_params() == 320 + 16 + 16  # + 1x1 conv 4x4 + its BN

    same_shape = ResidualBlock(4, shortcut="identity")
    same_shape.build((None, 8, 8, 4))
    assert same_shape.count_params() == 320

    with pytest.raises(ValueError, match=r"\(None, 8, 8, 3\).*\(None, 8, 8, 4\)"):
        ResidualBlock(4, shortcut="identity").build((None, 8, 8, 3))
    with pytest.raises(ValueError, match=r"\(None, 8, 8, 4\).*\(None, 4, 4, 4\)"):
        ResidualBlock(4, strides=2, shortcut="identity").build((None, 8, 8, 4))


def test_compute_output_shape_with_odd_and_unknown_sizes():
    block = ResidualBlock(3, block_type="bottleneck", strides=(2, 3), expansion=2)
    assert block.compute_output_shape((5, 9, 10, 3)) == (5, 5, 4, 6)
    assert block.compute_output_shape((None, None, 10, 6)) == (None, None, 4, 6)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"filters": 0}, "filters"),
        ({"filters": 2.5}, "filters"),
        ({"filters": True}, "filters"),
        ({"block_type": "wide"}, "block_type"),
        ({"strides": 0}, "strides"),
        ({"strides": (1, 2, 3)}, "strides"),
        ({"shortcut": "none"}, "shortcut"),
        ({"expansion": -4}, "expansion"),
        ({"use_bias": "yes"}, "use_bias"),
        ({"kernel_initializer": "not_an_initializer"}, "kernel_initializer"),
        ({"kernel_regularizer": "not_a_regularizer"}, "kernel_regularizer"),
        ({"bn_momentum": 1.5}, "bn_momentum"),
        ({"bn_epsilon": 0.0}, "bn_epsilon"),
        ({"activation": "not_an_activation"}, "activation"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, argument):
    kwargs = {"filters": 4, **kwargs}
    value = kwargs[argument]
    with pytest.raises(ValueError, match=rf"`{argument}`.*{re.escape(repr(value))}"):
        ResidualBlock(**kwargs)


def test_bad_input_rank():
    with pytest.raises(ValueError, match=r"input_shape=\(None, 8, 3\)"):
        ResidualBlock(4).build((None, 8, 3))


# --- exactly Keras's ResNet50 ----------------------------------------------------------------


def _copy_keras_block(keras_model, prefix, block):
    """Load the weights of Keras's block `prefix` (e.g. "conv2_block1") into ours."""
    for i, (conv, norm) in enumerate(zip(block.convs, block.norms, strict=True), start=1):
        conv.set_weights(keras_model.get_layer(f"{prefix}_{i}_conv").get_weights())
        norm.set_weights(keras_model.get_layer(f"{prefix}_{i}_bn").get_weights())
    if block.use_projection:
        block.shortcut_conv.set_weights(keras_model.get_layer(f"{prefix}_0_conv").get_weights())
        block.shortcut_norm.set_weights(keras_model.get_layer(f"{prefix}_0_bn").get_weights())


@pytest.mark.parametrize(
    "prefix, input_layer, filters, strides, projection",
    [
        ("conv2_block1", "pool1_pool", 64, 1, True),  # 64 -> 256 channels: projection
        ("conv2_block2", "conv2_block1_out", 64, 1, False),  # identity
        ("conv3_block1", "conv2_block3_out", 128, 2, True),  # stride 2 on the first 1x1
    ],
)
def test_bottleneck_computes_exactly_what_keras_resnet50_computes(
    keras_resnet50, prefix, input_layer, filters, strides, projection
):
    model = keras_resnet50
    # Random BN statistics and biases, so that a misplaced BN or bias would show.
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.name.startswith(prefix):
            layer.set_weights(
                [w if w.ndim == 4 else w + rng.uniform(0.1, 0.5, size=w.shape) for w in layer.get_weights()]
            )
    probe = keras.Model(
        model.input, [model.get_layer(input_layer).output, model.get_layer(f"{prefix}_out").output]
    )
    image = rng.uniform(0, 1, size=(1, 224, 224, 3)).astype("float32")
    block_input, expected = (np.asarray(t) for t in probe(image, training=False))

    block = ResidualBlock(filters, block_type="bottleneck", strides=strides, use_bias=True)
    block.build(block_input.shape)
    assert block.use_projection == projection
    _copy_keras_block(model, prefix, block)
    actual = np.asarray(block(block_input, training=False))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def _our_resnet50():
    """ResNet-50 from our blocks, laid out as keras.applications.ResNet50."""
    inputs = keras.Input((224, 224, 3))
    x = keras.layers.ZeroPadding2D(3)(inputs)
    x = keras.layers.Conv2D(64, 7, strides=2, use_bias=True)(x)
    x = keras.layers.BatchNormalization(epsilon=1.001e-5)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.ZeroPadding2D(1)(x)
    x = keras.layers.MaxPooling2D(3, strides=2)(x)  # (56, 56, 64)
    for stage, (blocks, filters) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
        for i in range(blocks):
            # Stage 1 keeps 56x56 (the max-pool has halved it); its first block still
            # projects, 64 -> 256 channels, which "auto" works out by itself.
            strides = 2 if stage > 0 and i == 0 else 1
            x = ResidualBlock(filters, block_type="bottleneck", strides=strides, use_bias=True)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1000, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_resnet50_from_our_blocks_has_keras_resnet50_weights(keras_resnet50):
    ours = _our_resnet50()
    assert ours.output_shape == keras_resnet50.output_shape == (None, 1000)
    assert ours.count_params() == keras_resnet50.count_params() == RESNET50_PARAMS
    # 53,120 = 2 moving statistics x 26,560 BN channels.
    assert _weight_counts(ours) == _weight_counts(keras_resnet50) == (25_583_592, 53_120)

    # Block by block: the same multiset of (shape, trainable) as Keras's layers of that block.
    blocks = [layer for layer in ours.layers if isinstance(layer, ResidualBlock)]
    assert len(blocks) == 16
    names = [
        f"conv{s}_block{b}" for s, n in zip((2, 3, 4, 5), (3, 4, 6, 3), strict=True) for b in range(1, n + 1)
    ]

    def signature(weights, trainable):
        return sorted((tuple(w.shape), trainable) for w in weights)

    for block, prefix in zip(blocks, names, strict=True):
        keras_layers = [layer for layer in keras_resnet50.layers if layer.name.startswith(f"{prefix}_")]
        expected = [
            item
            for layer in keras_layers
            for item in signature(layer.trainable_weights, True)
            + signature(layer.non_trainable_weights, False)
        ]
        actual = signature(block.trainable_weights, True) + signature(block.non_trainable_weights, False)
        assert sorted(actual) == sorted(expected), prefix
