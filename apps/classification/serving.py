"""The classifier's serving signatures: checks, decoding, the model, softmax and "unsure" in one graph."""

import numpy as np

from apps.classification import model as model_lib
from apps.common import images as images_lib
from apps.common import ood as ood_lib
from apps.common import validation
from apps.common.errors import DataError


def export_module(model, labels, outputs_probabilities, limits=None, calibration=None):
    """A tf.Module with the serving signatures: encoded image bytes or uint8 pixels in;
    probabilities, top class id, label and score out (decoding and softmax in-graph).

    `serving_default` (bytes) checks each image (apps/common/validation.py with `limits`)
    and returns `error` per instance ("" when fine; a refused image is answered on a black
    placeholder, which the server drops). With `calibration` (apps/common/ood.py) both
    signatures return `unsure`, `ood_score` and `ood_threshold` per instance. An empty batch
    answers empty outputs."""
    import tensorflow as tf

    height, width, channels = model.input_shape[1:]
    limits = limits or validation.ImageLimits()
    mahalanobis = calibration is not None and calibration.score == "mahalanobis"

    class ClassifierServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            # Mahalanobis reads the penultimate features: the same weights, two outputs.
            self.net = model_lib.with_features(model) if mahalanobis else None
            self.labels = tf.constant(list(labels))

        def outputs(self, pixels):
            n = tf.shape(pixels)[0]
            # Some layers fail on a 0-row batch: run one black image and keep none of it.
            padded = tf.cond(n > 0, lambda: pixels, lambda: tf.zeros([1, height, width, channels]))
            if mahalanobis:
                features, y = self.net(padded, training=False)
                features, y = features[:n], y[:n]
            else:
                features, y = None, self.model(padded, training=False)[:n]
            probs = y if outputs_probabilities else tf.nn.softmax(y)
            ids = tf.argmax(probs, axis=-1)
            out = {
                "probabilities": probs,
                "class_ids": ids,
                "classes": tf.gather(self.labels, ids),
                "scores": tf.reduce_max(probs, axis=-1),
            }
            if calibration is not None:
                logits = tf.math.log(tf.maximum(probs, 1e-30)) if outputs_probabilities else y
                score = ood_lib.score_tensor(logits, calibration.score, features, calibration.gaussian)
                out.update(unsure=score > calibration.threshold, ood_score=score,
                           ood_threshold=tf.fill([n], tf.constant(calibration.threshold, tf.float32)))
            return out

    module = ClassifierServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        pixels, errors = validation.decode_checked_batch(image_bytes, channels, height, limits)
        return {**module.outputs(pixels), "error": errors}

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")])
    def serve_images(images):
        return module.outputs(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "predict_images": serve_images}


def decode_files(paths, channels: int, image_size: int, limits):
    """uint8 (N, size, size, channels) of image files, checked and decoded as `serve_bytes`
    does, then checked by PIL for truncation (which TensorFlow's decoders may let through);
    DataError naming the first refused file."""
    import tensorflow as tf

    blobs = [images_lib.read_bytes(path) for path in paths]
    pixels, errors = validation.decode_checked_batch(tf.constant(blobs, tf.string), channels, image_size, limits)
    for path, blob, error in zip(paths, blobs, errors.numpy()):
        if error:
            raise DataError(f"{path}: {error.decode('utf-8')}")
        images_lib.validate_image_bytes(blob, str(path), channels)
    return np.asarray(pixels.numpy(), np.uint8)
