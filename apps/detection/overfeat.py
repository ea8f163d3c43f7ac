"""OverFeat's observation: a classifier's dense head is a convolution in disguise.

A Dense layer on the flattened (h, w, c) feature map of a window is a Conv2D with an
(h, w) kernel and "valid" padding; a Dense on a vector is a 1x1 Conv2D. With the same
weights (reshaped) the convolutional head gives the classifier's output on a window of
the training size, and on a larger image a dense map of outputs: one per window
position, every `stride` pixels, sharing all the convolution work between windows.
"""

import keras
import numpy as np

from apps.common import sources


def small_classifier(window=28, channels=1, num_classes=10, seed=0):
    """conv 3x3 -> max-pool 2 -> conv 3x3 -> flatten -> Dense -> Dense (logits)."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((window, window, channels), name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init, name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", kernel_initializer=init, name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(32, activation="relu", kernel_initializer=init, name="fc1")(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer=init, name="logits")(x)
    return keras.Model(inputs, outputs, name="classifier")


def to_convolutional(classifier):
    """The same network with its Dense layers as convolutions; accepts any image size
    >= the window and returns (H', W', classes) logits, one per window position."""
    flatten = classifier.get_layer("flatten")
    h, w, c = flatten.input.shape[1:]
    channels = classifier.input.shape[-1]
    inputs = keras.Input((None, None, channels), name="image")
    x = inputs
    for layer in classifier.layers[1:]:
        if isinstance(layer, keras.layers.Flatten):
            continue
        if isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            first = kernel.shape[0] == h * w * c
            size = (h, w) if first else (1, 1)
            conv = keras.layers.Conv2D(kernel.shape[1], size, activation=layer.activation,
                                       name=layer.name + "_as_conv")
            x = conv(x)
            # Flatten's row-major (h, w, c) order is exactly a (h, w, c, units) kernel.
            conv.set_weights([kernel.reshape(*size, -1, kernel.shape[1]), bias])
            h, w, c = 1, 1, kernel.shape[1]
        else:
            x = layer.__class__.from_config(layer.get_config())(x)
            if layer.get_weights():
                x._keras_history.operation.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name="convolutional_classifier")


def window_stride(classifier) -> int:
    """Pixels between neighbouring windows of the dense map (product of pool strides)."""
    stride = 1
    for layer in classifier.layers:
        if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            stride *= layer.strides[0]
        elif isinstance(layer, keras.layers.Conv2D):
            stride *= layer.strides[0]
    return stride


def demo(seed=0):
    """Train the small classifier briefly on MNIST-5k, convert it, and return the class
    map of a 56 x 84 canvas holding three digits (prints a text picture of the argmax)."""

    keras.utils.set_random_seed(seed)
    digits = sources.load_image_source("mnist5k")
    classifier = small_classifier()
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
    # mnist5k is sorted by class: a stratified split, not a slice.
    train, held = sources.split_holdout(len(digits), 1000, seed, labels=digits.labels)
    classifier.fit(digits.images[train].astype("float32"), digits.labels[train], epochs=2,
                   batch_size=64, verbose=0)
    dense = to_convolutional(classifier)
    canvas = np.zeros((1, 56, 84, 1), "float32")
    picks = [int(held[np.flatnonzero(digits.labels[held] == d)[0]]) for d in (3, 7, 1)]
    for i, idx in enumerate(picks):
        canvas[0, 14:42, i * 28:(i + 1) * 28] = digits.images[idx]
    logits = dense(canvas).numpy()[0]  # (15, 29, 10): one window every 2 px
    window = classifier(canvas[:, 14:42, 28:56]).numpy()[0]
    print(f"dense map {logits.shape[:2]} from a {canvas.shape[1:3]} image, stride "
          f"{window_stride(classifier)} px; centre-window logits equal the classifier's: "
          f"{np.allclose(logits[7, 14], window, atol=1e-4)}")
    for row in logits.argmax(-1)[::2]:
        print("".join(str(v) for v in row))
    return logits
