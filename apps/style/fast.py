"""A fast feed-forward stylizer (Johnson, Alahi, Fei-Fei 2016): a transformation network
trained with the same perceptual losses (content + Gram style + TV through the frozen VGG)
on a set of content images; then one forward pass stylises an image.

Network (widths from `config.fast_filters`, narrower than the paper's 32/64/128 so a 512 px
image renders in well under a second on a CPU): 9x9 conv -> two stride-2 3x3 convs ->
residual blocks (conv-IN-ReLU-conv-IN + x) -> two nearest x2 upsamplings with 3x3 convs ->
9x9 conv to RGB, and the output is the input pixels + 127.5 * tanh of it (clipped to 0..255
when rendered). IN is instance normalisation
(`keras.layers.GroupNormalization(groups=-1)`). Input and output: RGB pixels 0..255.
"""

import pathlib

import keras
import numpy as np

from apps.common import images as images_lib
from apps.common.errors import ConfigError, DataError
from apps.style import data as data_lib
from apps.style import losses
from apps.style import vgg as vgg_lib

SIZE_MULTIPLE = 4  # two stride-2 convs then two x2 upsamplings


def build_transform_net(config):
    f0, f1, f2 = (int(f) for f in config.fast_filters)

    def conv(x, filters, size, strides=1, relu=True, name=None):
        x = keras.layers.Conv2D(filters, size, strides=strides, padding="same", name=name)(x)
        x = keras.layers.GroupNormalization(groups=-1, epsilon=1e-3, name=f"{name}_in")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x

    pixels = keras.Input((None, None, 3), name="pixels")  # RGB 0..255
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale_in")(pixels)
    x = conv(x, f0, 9, name="c1")
    x = conv(x, f1, 3, 2, name="c2")
    x = conv(x, f2, 3, 2, name="c3")
    for i in range(int(config.fast_residual_blocks)):
        y = conv(x, f2, 3, name=f"res{i + 1}_a")
        y = conv(y, f2, 3, relu=False, name=f"res{i + 1}_b")
        x = keras.layers.Add(name=f"res{i + 1}_add")([x, y])
    x = keras.layers.UpSampling2D(2, name="up1")(x)
    x = conv(x, f1, 3, name="u1")
    x = keras.layers.UpSampling2D(2, name="up2")(x)
    x = conv(x, f0, 3, name="u2")
    # The network predicts a change to the photo, 127.5 * tanh(.), from a zero-initialised last
    # conv: it starts as the identity, so even a short training run (the tour's) gives the
    # photo plus the style learned so far rather than the noise of a random decoder.
    x = keras.layers.Conv2D(3, 9, padding="same", activation="tanh", kernel_initializer="zeros",
                            name="to_rgb")(x)
    x = keras.layers.Rescaling(127.5, name="scale_out")(x)
    out = keras.layers.Add(name="residual_out")([pixels, x])
    return keras.Model(pixels, out, name="fast_stylizer")


def training_photos(config):
    """uint8 (H, W, 3) arrays: the embedded content photos, or every image in `config.data`."""
    if config.data:
        folder = pathlib.Path(config.data)
        if not folder.is_dir():
            raise DataError(f"data: {folder} is not a directory of content images")
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if not files:
            raise DataError(f"data: {folder} holds no files")
        names = [str(p) for p in files]
    else:
        names = list(data_lib.CONTENT_PHOTOS)
    return [data_lib.resize_longest(data_lib.read_rgb(n), int(config.fast_image_size * 1.5)) for n in names]


def _random_crops(photos, size, batch, rng):
    out = np.empty((batch, size, size, 3), np.float32)
    for b in range(batch):
        p = photos[rng.integers(len(photos))]
        if min(p.shape[:2]) < size:
            p = data_lib.resize_longest(p, int(size * max(p.shape[:2]) / min(p.shape[:2])) + 1)
        y = rng.integers(p.shape[0] - size + 1)
        x = rng.integers(p.shape[1] - size + 1)
        crop = p[y:y + size, x:x + size]
        out[b] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def fast_epochs(config) -> int:
    return -(-int(config.fast_steps) // int(config.fast_steps_per_epoch))


def crops_dataset(photos, config):
    """tf.data of random (flipped) crops, batches of fast_batch_size, fast_steps_per_epoch per
    epoch; epoch e draws from the stream seeded (seed, e), so a resumed run sees the batches it
    would have seen."""
    import tensorflow as tf

    size, batch = int(config.fast_image_size), int(config.fast_batch_size)

    def epoch_batches(epoch):
        rng = np.random.default_rng([config.seed, int(epoch)])
        for _ in range(config.fast_steps_per_epoch):
            yield _random_crops(photos, size, batch, rng)

    spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
    return tf.data.Dataset.range(fast_epochs(config)).interleave(
        lambda e: tf.data.Dataset.from_generator(epoch_batches, output_signature=spec, args=(e,)),
        cycle_length=1).prefetch(2)


class _Perceptual:
    """The frozen VGG and the style's Gram targets: a plain object, so the trainer neither saves
    nor checkpoints VGG's weights (only the transformation network's)."""

    def __init__(self, config, vgg):
        import tensorflow as tf

        size = int(config.fast_image_size)
        style_size = max(data_lib.MIN_SIDE, round(size * config.style_scale))
        styles = [data_lib.resize_longest(data_lib.read_rgb(s), style_size) for s in config.styles]
        self.n_style = len(config.style_layers)
        self.extractor = vgg_lib.build_extractor(vgg, [*config.style_layers, config.content_layer])
        grams = [[losses.normalized_gram(a) for a in self.extractor(vgg_lib.preprocess(s)[None])[:self.n_style]]
                 for s in styles]
        self.targets = [tf.constant(g) for g in losses.blend_grams(grams, data_lib.blend_weights(config))]
        self.layer_weights = [float(w) for w in config.style_layer_weights]
        self.weights = (config.content_weight, config.style_weight, config.tv_weight)
        self.mean = tf.constant(vgg_lib.BGR_MEAN)

    def terms(self, batch, out):
        """(total, content, style, tv) averaged over the batch."""
        acts_c = self.extractor(batch[..., ::-1] - self.mean)[-1]
        acts_g = self.extractor(out[..., ::-1] - self.mean)
        content = style = tv = 0.0
        n = int(batch.shape[0])
        for b in range(n):
            content += losses.content_cost(acts_c[b], acts_g[-1][b])
            style += losses.style_cost(self.targets, [a[b] for a in acts_g[:self.n_style]], self.layer_weights)
            tv += losses.total_variation(out[b])
        content, style, tv = content / n, style / n, tv / n
        return losses.total_cost(content, style, tv, *self.weights), content, style, tv


@keras.saving.register_keras_serializable(package="classics")
class FastStylizer(keras.Model):
    """The transformation network with the perceptual-loss training step (Johnson et al.): `fit`
    trains `net` on batches of content crops; calling it stylises (RGB 0..255 in and out)."""

    def __init__(self, net, perceptual=None, **kwargs):
        super().__init__(**kwargs)
        self.net = net
        self.perceptual = perceptual

    def call(self, pixels, training=False):
        return self.net(pixels, training=training)

    def train_step(self, batch):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = self.net(batch, training=True)
            total, content, style, tv = self.perceptual.terms(batch, out)
        grads = tape.gradient(total, self.net.trainable_variables)
        self.optimizer.apply(grads, self.net.trainable_variables)
        return {"loss": total, "content": content, "style": style, "tv": tv}

    def get_config(self):
        return {**super().get_config(), "net": keras.saving.serialize_keras_object(self.net)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("net")), **config)


def build_trainer(config, vgg):
    """The FastStylizer to fit (compiled: Adam at fast_learning_rate)."""
    data_lib.check_config(config)
    size = int(config.fast_image_size)
    if size % SIZE_MULTIPLE:
        raise ConfigError(f"fast_image_size: expected a multiple of {SIZE_MULTIPLE}, got {size}")
    trainer = FastStylizer(build_transform_net(config), _Perceptual(config, vgg), name="fast_stylizer_trainer")
    trainer.compile(optimizer=keras.optimizers.Adam(config.fast_learning_rate))
    trainer(np.zeros((1, size, size, 3), np.float32))  # builds the variables before a restore
    return trainer


def stylize_pixels(model, pixels):
    """float32 (N, H, W, 3) RGB 0..255 -> uint8 stylised images (the model's pass, rounded)."""
    import tensorflow as tf

    out = model(pixels, training=False)
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def check_size(image_size):
    if image_size < data_lib.MIN_SIDE or image_size % SIZE_MULTIPLE:
        raise ConfigError(f"image_size: expected a multiple of {SIZE_MULTIPLE} >= {data_lib.MIN_SIDE}, "
                          f"got {image_size}")


def export_module(model, image_size):
    """A tf.Module with signatures: encoded image bytes -> stylised uint8 images and PNG bytes
    (decoding, resizing to image_size x image_size and the network in one graph)."""
    import tensorflow as tf

    check_size(image_size)

    class FastStylizer(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

    module = FastStylizer()

    def outputs(pixels):
        images = stylize_pixels(module.model, pixels)
        png = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.TensorSpec([], tf.string))
        return {"images": images, "png": png}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        return outputs(images_lib.decode_batch(image_bytes, 3, image_size))

    @tf.function(input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.uint8, name="images")])
    def serve_images(images):
        return outputs(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "stylize_images": serve_images}
