"""The grid detector: a ResidualBlock backbone and a convolutional YOLO head.

    image (H, W, 3) raw pixels 0-255 -> Rescaling -> 3x3/2 conv stem -> one stride-2
    stage of `layers.ResidualBlock`s per `stage_filters` entry -> [3x3 conv] -> 1x1 conv
    -> (S, S, B, 5 + C) logits, S = H / 2^(1 + stages)

Per anchor the last axis is (tx, ty, tw, th, objectness, class logits...); see
`postprocess.decode`. The model returns logits; sigmoid/softmax/NMS are serving's.
"""

import keras
import numpy as np

import layers
from apps.common.errors import ConfigError

# Objectness starts at sigmoid(-4) ~ 2 %: most anchors hold nothing, and a 50 % start
# floods the first steps with no-object gradient (the prior of RetinaNet's focal loss paper).
OBJECTNESS_PRIOR_BIAS = -4.0


def grid_size(config) -> int:
    stride = 2 ** (1 + len(config.stage_filters))
    if config.image_size % stride:
        raise ConfigError(f"image_size: must be a multiple of {stride} for "
                          f"{len(config.stage_filters)} stages, got {config.image_size}")
    return config.image_size // stride


def build_model(config, num_classes: int, num_anchors: int) -> keras.Model:
    if len(config.stage_filters) != len(config.stage_blocks) or not config.stage_filters:
        raise ConfigError(f"stage_filters {tuple(config.stage_filters)} and stage_blocks "
                          f"{tuple(config.stage_blocks)} must be non-empty and of equal length")
    size = config.image_size
    grid = grid_size(config)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(config.stem_filters, 3, strides=2, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name="stem_conv")(x)
    x = keras.layers.BatchNormalization(momentum=config.bn_momentum, name="stem_bn")(x)
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    for stage, (filters, blocks) in enumerate(zip(config.stage_filters, config.stage_blocks)):
        for block in range(int(blocks)):
            x = layers.ResidualBlock(int(filters), strides=2 if block == 0 else 1,
                                     bn_momentum=config.bn_momentum,
                                     name=f"stage{stage + 1}_block{block + 1}")(x)
    if config.head_filters:
        x = keras.layers.Conv2D(config.head_filters, 3, padding="same", use_bias=False,
                                kernel_initializer="he_normal", name="head_conv")(x)
        x = keras.layers.BatchNormalization(momentum=config.bn_momentum, name="head_bn")(x)
        x = keras.layers.Activation("relu", name="head_relu")(x)
    depth = 5 + num_classes
    x = keras.layers.Conv2D(num_anchors * depth, 1, name="head")(x)
    # (batch, grid, grid, anchors, 5 + classes)
    outputs = keras.layers.Reshape((grid, grid, num_anchors, depth), name="grid")(x)
    model = keras.Model(inputs, outputs, name="grid_detector")
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    bias = bias.reshape(num_anchors, depth)
    bias[:, 4] = OBJECTNESS_PRIOR_BIAS
    head.set_weights([kernel, bias.reshape(-1).astype(np.float32)])
    return model
