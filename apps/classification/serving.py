"""The classifier's serving signatures: decoding, the model and softmax in one graph."""

from apps.common import images as images_lib


def export_module(model, labels, outputs_probabilities):
    """A tf.Module with the serving signatures: encoded image bytes or uint8 pixels in;
    probabilities, top class id, label and score out (decoding and softmax in-graph)."""
    import tensorflow as tf

    height, width, channels = model.input_shape[1:]

    class ClassifierServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

        def outputs(self, pixels):
            y = self.model(pixels, training=False)
            probs = y if outputs_probabilities else tf.nn.softmax(y)
            ids = tf.argmax(probs, axis=-1)
            return {
                "probabilities": probs,
                "class_ids": ids,
                "classes": tf.gather(self.labels, ids),
                "scores": tf.reduce_max(probs, axis=-1),
            }

    module = ClassifierServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        return module.outputs(images_lib.decode_batch(image_bytes, channels, height))

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")])
    def serve_images(images):
        return module.outputs(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "predict_images": serve_images}
