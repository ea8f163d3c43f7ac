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

import os
import pathlib
import sys
import time

import numpy as np

from apps.common.errors import ConfigError, DataError
from apps.style import data as data_lib
from apps.style import vgg as vgg_lib

MODEL_FILE = "fast.keras"
SIZE_MULTIPLE = 4  # two stride-2 convs then two x2 upsamplings


def build_transform_net(config):
    import keras

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


def _training_photos(config):
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


def train_fast(config, run_dir=None, log=None, vgg=None):
    """Train the transformation network; returns the run directory (holds fast.keras).
    `vgg`: an already built backbone to reuse."""
    import keras
    import tensorflow as tf

    from apps.common import train as train_lib
    from apps.style import losses

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    data_lib.check_config(config)
    size = int(config.fast_image_size)
    if size % SIZE_MULTIPLE:
        raise ConfigError(f"fast_image_size: expected a multiple of {SIZE_MULTIPLE}, got {size}")
    blend = data_lib.blend_weights(config)
    train_lib.seed_everything(config.seed)
    run_dir, _ = train_lib.prepare_run("style", config, run_dir, fresh=True)  # writes config.json
    photos = _training_photos(config)
    style_size = max(data_lib.MIN_SIDE, round(size * config.style_scale))
    styles = [data_lib.resize_longest(data_lib.read_rgb(s), style_size) for s in config.styles]
    vgg = vgg or vgg_lib.build_vgg(config.backbone, config.weights)
    n_style = len(config.style_layers)
    extractor = vgg_lib.build_extractor(vgg, [*config.style_layers, config.content_layer])
    grams = [[losses.normalized_gram(a) for a in extractor(vgg_lib.preprocess(s)[None])[:n_style]]
             for s in styles]
    targets = [tf.constant(g) for g in losses.blend_grams(grams, blend)]
    layer_weights = [float(w) for w in config.style_layer_weights]
    net = build_transform_net(config)
    optimizer = keras.optimizers.Adam(config.fast_learning_rate)
    mean = tf.constant(vgg_lib.BGR_MEAN)

    def caffe(rgb):
        return rgb[..., ::-1] - mean

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            out = net(batch, training=True)
            acts_c = extractor(caffe(batch))[-1]
            acts_g = extractor(caffe(out))
            content = style = tv = 0.0
            for b in range(config.fast_batch_size):
                content += losses.content_cost(acts_c[b], acts_g[-1][b])
                style += losses.style_cost(targets, [a[b] for a in acts_g[:n_style]], layer_weights)
                tv += losses.total_variation(out[b])
            n = float(config.fast_batch_size)
            total = losses.total_cost(content / n, style / n, tv / n, config.content_weight,
                                      config.style_weight, config.tv_weight)
        grads = tape.gradient(total, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return total, content / n, style / n, tv / n

    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    with open(run_dir / "log.csv", "w") as log_file:
        log_file.write("step,seconds,total,content,style,tv\n")
        for i in range(1, config.fast_steps + 1):
            batch = _random_crops(photos, size, config.fast_batch_size, rng)
            terms = [float(t) for t in step(tf.constant(batch))]
            elapsed = time.perf_counter() - started
            log_file.write(f"{i},{elapsed:.2f}," + ",".join(f"{t:.6g}" for t in terms) + "\n")
            if config.print_every and (i % config.print_every == 0 or i == 1):
                log(f"  step {i:5d}  {elapsed:7.1f} s  J {terms[0]:.4g}  content {terms[1]:.4g}  "
                    f"style {terms[2]:.4g}  tv {terms[3]:.4g}")
    net.save(run_dir / MODEL_FILE)
    (run_dir / train_lib.DONE_MARKER).write_text(time.strftime("%Y%m%d-%H%M%S") + "\n")
    return run_dir


def load_fast_model(run_dir):
    import keras

    path = pathlib.Path(run_dir) / MODEL_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir}: no {MODEL_FILE} (train one with `classics style train-fast`)")
    return keras.models.load_model(path, compile=False)


def latest_fast_run(runs_dir="runs"):
    root = pathlib.Path(runs_dir) / "style"
    runs = sorted(p for p in root.iterdir() if (p / MODEL_FILE).exists()) if root.is_dir() else []
    if not runs:
        raise ConfigError(f"{root}: no trained fast stylizer (run `classics style train-fast` first)")
    return runs[-1]


def stylize_pixels(model, pixels):
    """float32 (N, H, W, 3) RGB 0..255 -> uint8 stylised images (the model's pass, rounded)."""
    import tensorflow as tf

    out = model(pixels, training=False)
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def apply(paths, run_dir, image_size, out_dir):
    """Stylise image files; decoding exactly as the export's signature does. Returns paths."""
    from PIL import Image

    from apps.common import images as images_lib

    check_size(image_size)
    model = load_fast_model(run_dir)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in paths:
        pixels = images_lib.decode_for_model(path, channels=3, image_size=image_size, allow_gray_to_rgb=True)
        out = stylize_pixels(model, pixels[None].astype(np.float32)).numpy()[0]
        target = pathlib.Path(out_dir) / (pathlib.Path(path).stem + "-styled.png")
        Image.fromarray(out).save(target)
        written.append(target)
    return written


def check_size(image_size):
    if image_size < data_lib.MIN_SIDE or image_size % SIZE_MULTIPLE:
        raise ConfigError(f"image_size: expected a multiple of {SIZE_MULTIPLE} >= {data_lib.MIN_SIDE}, "
                          f"got {image_size}")


def export_module(model, image_size):
    """A tf.Module with signatures: encoded image bytes -> stylised uint8 images and PNG bytes
    (decoding, resizing to image_size x image_size and the network in one graph)."""
    import tensorflow as tf

    from apps.common import images as images_lib

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


def export(run_dir, image_size, root="saved_models"):
    from apps.common import export as export_lib
    from apps.common.config import load_config
    from apps.style.config import Config

    model = load_fast_model(run_dir)
    config = load_config(Config, pathlib.Path(run_dir) / "config.json")
    module, signatures = export_module(model, image_size)
    return export_lib.write_saved_model("style", module, signatures, root=root, config=config,
                                        extra_assets={"run.txt": str(run_dir) + "\n",
                                                      "image_size.txt": f"{image_size}\n"})
