"""ResNet and Inception backbones assembled from `layers/` blocks (shared by image apps).

`build_backbone(config, input_shape)`: scaled pixels -> features after global average
pooling, a named sub-model ("backbone") so transfer learning can copy and freeze it as
one piece (`init_backbone_from`). Reads from the config: backbone ("resnet" |
"inception" | "efficientnet_lite0"), stem ("small" | "imagenet"), stem_filters,
stage_filters, stage_blocks, block_type, use_bias, bn_momentum, weight_decay, and init
("random" | "imagenet": EfficientNet-Lite0's offline ImageNet weights, if the config has it).
"""

import keras

import layers
from apps.common import efficientnet_lite
from apps.common.errors import ConfigError


def regularizer(config):
    return keras.regularizers.L2(config.weight_decay) if config.weight_decay > 0 else None


def _stem(x, config):
    reg = regularizer(config)
    if config.stem == "small":
        x = keras.layers.Conv2D(
            config.stem_filters, 3, padding="same", use_bias=config.use_bias,
            kernel_initializer="he_normal", kernel_regularizer=reg, name="stem_conv",
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=config.bn_momentum, epsilon=1.001e-5, name="stem_bn")(x)
        return keras.layers.Activation("relu", name="stem_relu")(x)
    if config.stem == "imagenet":
        # As keras.applications.ResNet50: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool.
        x = keras.layers.ZeroPadding2D(3, name="stem_pad")(x)
        x = keras.layers.Conv2D(
            config.stem_filters, 7, strides=2, use_bias=config.use_bias,
            kernel_initializer="he_normal", kernel_regularizer=reg, name="stem_conv",
        )(x)
        x = keras.layers.BatchNormalization(
            momentum=config.bn_momentum, epsilon=1.001e-5, name="stem_bn")(x)
        x = keras.layers.Activation("relu", name="stem_relu")(x)
        x = keras.layers.ZeroPadding2D(1, name="pool_pad")(x)
        return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    raise ConfigError(f"stem: expected 'small' or 'imagenet', got {config.stem!r}")


def _resnet_stages(x, config):
    for stage, (filters, blocks) in enumerate(zip(config.stage_filters, config.stage_blocks)):
        for block in range(int(blocks)):
            x = layers.ResidualBlock(
                int(filters),
                block_type=config.block_type,
                strides=2 if (block == 0 and stage > 0) else 1,
                use_bias=config.use_bias,
                bn_momentum=config.bn_momentum,
                kernel_regularizer=regularizer(config),
                name=f"stage{stage + 1}_block{block + 1}",
            )(x)
    return x


def inception_filters(out_channels: int) -> dict:
    """Branch widths for an inception module of `out_channels`, in GoogLeNet
    inception(3a)'s proportions (64 : 96->128 : 16->32 : 32 of 256)."""
    unit = out_channels / 256
    return dict(
        filters_1x1=max(1, round(64 * unit)),
        filters_3x3_reduce=max(1, round(96 * unit)),
        filters_3x3=max(1, round(128 * unit)),
        filters_5x5_reduce=max(1, round(16 * unit)),
        filters_5x5=max(1, round(32 * unit)),
        filters_pool_proj=max(1, round(32 * unit)),
    )


def _inception_stages(x, config):
    for stage, (filters, blocks) in enumerate(zip(config.stage_filters, config.stage_blocks)):
        if stage > 0:
            # GoogLeNet halves the grid with a 3x3/2 max-pool between module groups.
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{stage}")(x)
        for block in range(int(blocks)):
            x = layers.InceptionModule(
                **inception_filters(int(filters)),
                use_batch_norm=True,
                bn_momentum=config.bn_momentum,
                kernel_regularizer=regularizer(config),
                name=f"stage{stage + 1}_inception{block + 1}",
            )(x)
    return x


def build_backbone(config, input_shape) -> keras.Model:
    """(H, W, C) scaled pixels -> (features,) after global average pooling."""
    if config.backbone == "efficientnet_lite0":
        return _lite0_backbone(config, input_shape)
    if len(config.stage_filters) != len(config.stage_blocks) or not config.stage_filters:
        raise ConfigError(
            f"stage_filters {tuple(config.stage_filters)} and stage_blocks "
            f"{tuple(config.stage_blocks)} must be non-empty and of equal length"
        )
    inputs = keras.Input(input_shape, name="pixels")
    x = _stem(inputs, config)
    if config.backbone == "resnet":
        x = _resnet_stages(x, config)
    elif config.backbone == "inception":
        x = _inception_stages(x, config)
    else:
        raise ConfigError(f"backbone: expected 'resnet' or 'inception', got {config.backbone!r}")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="backbone")


def _lite0_backbone(config, input_shape):
    """EfficientNet-Lite0 to its pooled 1280 features. It normalises pixels 0-255 itself, so
    the 0-1 pixels the classifier passes are scaled back up first."""
    init = getattr(config, "init", "random")
    if init not in ("random", "imagenet"):
        raise ConfigError(f"init: expected 'random' or 'imagenet', got {init!r}")
    inputs = keras.Input(input_shape, name="pixels")
    x = keras.layers.Rescaling(255.0, name="to_pixels")(inputs)
    trunk = efficientnet_lite.efficientnet_lite0(
        input_shape, include_top=False, pooling="avg",
        weights="imagenet-offline" if init == "imagenet" else None)
    return keras.Model(inputs, trunk(x), name="backbone")


def init_backbone_from(model, source_model) -> None:
    """Copy the `backbone` weights of `source_model` into `model` (same architecture)."""
    try:
        src = source_model.get_layer("backbone")
    except ValueError:
        raise ConfigError("init_from: the source model has no 'backbone' sub-model") from None
    dst = model.get_layer("backbone")
    src_w, dst_w = src.get_weights(), dst.get_weights()
    shapes_src = [w.shape for w in src_w]
    shapes_dst = [w.shape for w in dst_w]
    if shapes_src != shapes_dst:
        mismatch = next(
            ((i, a, b) for i, (a, b) in enumerate(zip(shapes_src, shapes_dst)) if a != b),
            (min(len(shapes_src), len(shapes_dst)), "end", "end"),
        )
        raise ConfigError(
            f"init_from: the source backbone does not fit this config ({len(shapes_src)} vs "
            f"{len(shapes_dst)} weights; weight {mismatch[0]} is {mismatch[1]} vs {mismatch[2]})"
        )
    dst.set_weights(src_w)
