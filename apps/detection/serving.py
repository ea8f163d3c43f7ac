"""The detector as one graph: model + decoding + per-class NMS, for evaluate, predict and export."""

from apps.common import images as images_lib
from apps.detection import metrics as metrics_lib
from apps.detection import postprocess
from apps.detection.data import anchor_array


def detector_module(model, anchors, labels, config):
    """tf.Module whose `detect(pixels)` is model + decoding + per-class NMS in one graph.

    evaluate, predict and the export all call this, so their outputs agree exactly.
    Signatures: `serving_default` (encoded image bytes; boxes in each image's own
    pixels) and `predict_images` (uint8 (N, size, size, 3); boxes in those pixels).
    """
    import tensorflow as tf

    size = int(config.image_size)
    options = postprocess.nms_options(config)
    anchors = anchor_array(anchors)

    class DetectorServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.labels = tf.constant(list(labels))

        @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32)])
        def detect(self, pixels):
            out = postprocess.postprocess(self.model(pixels, training=False), anchors, size, **options)
            out["labels"] = tf.gather(self.labels, out["classes"])
            return out

    module = DetectorServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        pixels = images_lib.decode_batch(image_bytes, 3, size)
        out = module.detect(pixels)
        # Boxes back into each image's own pixels: (width, height) / size per image.
        hw = tf.map_fn(
            lambda b: tf.shape(tf.io.decode_image(b, expand_animations=False))[:2],
            image_bytes, fn_output_signature=tf.TensorSpec([2], tf.int32))
        scale = tf.cast(tf.reverse(hw, [1]), tf.float32) / float(size)  # (N, 2) x, y
        out["boxes"] = out["boxes"] * tf.tile(scale, [1, 2])[:, None, :]
        return out

    @tf.function(input_signature=[tf.TensorSpec([None, size, size, 3], tf.uint8, name="images")])
    def serve_images(images):
        return module.detect(tf.cast(images, tf.float32))

    module.serve_bytes = serve_bytes
    module.serve_images = serve_images
    return module, {"serving_default": serve_bytes, "predict_images": serve_images}


def detect_arrays(module, images, batch_size=64):
    """uint8 (N, size, size, 3) -> list of ImageBoxes (model-input pixels)."""
    import tensorflow as tf

    out = []
    for start in range(0, len(images), batch_size):
        result = module.detect(tf.constant(images[start:start + batch_size], tf.float32))
        for i in range(int(result["boxes"].shape[0])):
            k = int(result["num_detections"][i])
            out.append(metrics_lib.ImageBoxes.make(result["boxes"][i, :k].numpy(),
                                                   result["classes"][i, :k].numpy(),
                                                   result["scores"][i, :k].numpy()))
    return out
