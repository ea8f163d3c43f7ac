"""The exported module: embedding signatures and a verify signature with the threshold inside.

    serving_default   image_bytes (N,) string          -> embeddings (N, D)
    embed_images      images (N, H, W, C) uint8        -> embeddings
    verify            image_bytes_1, image_bytes_2 (N,) -> distance, threshold, same, probability
    verify_images     images_1, images_2 uint8         -> the same

`same` is distance <= threshold (the calibrated best-accuracy threshold); `probability` is
the learned similarity (logistic regression on |f(x1) - f(x2)|). Decoding is the shared
in-graph decoder, so `classics faces verify` (which calls `verify_images` on pixels
decoded by `decode_for_model`) and the served `verify` agree.
"""

import numpy as np

from apps.common import images as images_lib


def export_module(model, calibration):
    import tensorflow as tf


    height, width, channels = model.input_shape[1:]
    logistic = calibration["logistic"]

    class FaceServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.threshold = tf.Variable(float(calibration["threshold"]), trainable=False,
                                         name="threshold")
            self.w = tf.Variable(np.asarray(logistic["w"], np.float32), trainable=False, name="w")
            self.b = tf.Variable(float(logistic["b"]), trainable=False, name="b")

        def embeddings(self, pixels):
            return self.model(pixels, training=False)

        def compare(self, pixels_1, pixels_2):
            e1, e2 = self.embeddings(pixels_1), self.embeddings(pixels_2)
            distance = tf.reduce_sum(tf.square(e1 - e2), axis=-1)
            probability = tf.sigmoid(tf.linalg.matvec(tf.abs(e1 - e2), self.w) + self.b)
            return {
                "distance": distance,
                "threshold": tf.fill(tf.shape(distance), self.threshold),
                "same": distance <= self.threshold,
                "probability": probability,
            }

    module = FaceServing()
    pixels_spec = tf.TensorSpec([None, height, width, channels], tf.uint8)

    def decode(b):
        return images_lib.decode_batch(b, channels, height)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        return {"embeddings": module.embeddings(decode(image_bytes))}

    @tf.function(input_signature=[tf.TensorSpec.from_spec(pixels_spec, name="images")])
    def embed_images(images):
        return {"embeddings": module.embeddings(tf.cast(images, tf.float32))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes_1"),
                                  tf.TensorSpec([None], tf.string, name="image_bytes_2")])
    def verify(image_bytes_1, image_bytes_2):
        return module.compare(decode(image_bytes_1), decode(image_bytes_2))

    @tf.function(input_signature=[tf.TensorSpec.from_spec(pixels_spec, name="images_1"),
                                  tf.TensorSpec.from_spec(pixels_spec, name="images_2")])
    def verify_images(images_1, images_2):
        return module.compare(tf.cast(images_1, tf.float32), tf.cast(images_2, tf.float32))

    module.serve_bytes, module.embed_images = serve_bytes, embed_images
    module.verify, module.verify_images = verify, verify_images
    return module, {"serving_default": serve_bytes, "embed_images": embed_images,
                    "verify": verify, "verify_images": verify_images}
