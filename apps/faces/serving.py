"""The exported module: embedding signatures and a verify signature with the threshold inside.

    serving_default   image_bytes (N,) string          -> embeddings (N, D)
    embed_images      images (N, H, W, C) uint8        -> embeddings
    verify            image_bytes_1, image_bytes_2 (N,) -> distance, threshold, same, probability
    verify_images     images_1, images_2 uint8         -> the same
    embed_photos      photo_bytes (N,) string          -> embeddings, faces, error, box (N, 4)
                                                          and landmarks (N, 468, 3) of the face
    verify_photos     photo_bytes_1, photo_bytes_2     -> distance, threshold, same, probability,
                                                          faces_1, faces_2, error

The photo signatures take photos of any size: each is checked (format, size limits), then
BlazeFace finds the faces, FaceMesh their landmarks, and the one face is aligned onto the
frame the encoder reads (the AT&T one, or dlib's chip for the dlib trunk: apps/faces/align.py;
all inside the graph, apps/common/face_graph.py) before it is embedded. A photo
with no face or several gets `error` ("no face found", "3 faces found: ...") and
`faces` says how many; `classics serve` answers it {"error": ...} in its place. The other
signatures take face crops, as before.

`same` is distance <= threshold (the calibrated best-accuracy threshold); `probability` is
the learned similarity (logistic regression on |f(x1) - f(x2)|). Decoding is the shared
in-graph decoder, so `classics faces verify` (which calls `verify_images` on pixels
decoded by `decode_for_model`) and the served `verify` agree.

Speed (issue 16: a photo pair in <= 50 ms): every signature embeds through one frozen graph
(`_embedder`: the encoder's weights as constants, so Grappler folds each BatchNormalization
into its convolution), and BlazeFace and FaceMesh are frozen too. The answers are the Keras
model's up to float32 rounding (~1e-7).
"""

import numpy as np

from apps.common import images as images_lib
from apps.common import validation
from apps.common.face_graph import FacePipeline
from apps.faces.align import FRAMES


def _photo_verdict(faces):
    import tensorflow as tf

    many = tf.strings.join([tf.strings.as_string(faces), " faces found: send a photo of one face"])
    return tf.where(faces == 0, "no face found", tf.where(faces == 1, "", many))


def _embedder(model, height, width, channels):
    """float32 (N, height, width, channels) -> embeddings, as a ConcreteFunction whose weights
    are constants: the export carries it instead of the model's variables."""
    import tensorflow as tf

    # The public freezing API is TF1's (sessions); this is its TF2 counterpart.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # A flip-TTA encoder's two views stay two branches (so do compare's two sides): on two
    # cores TensorFlow's inter-op threads run them side by side (a pair 55 -> 42 ms with one
    # intra-op thread), which one batch of 2N would serialise (it is 5 % faster on one core).
    function = tf.function(lambda pixels: model(pixels, training=False)).get_concrete_function(
        tf.TensorSpec([None, height, width, channels], tf.float32))
    return convert_variables_to_constants_v2(function)


def export_module(model, calibration, limits=None, photos=True, frame=FRAMES["att"]):
    """(module, signatures); `photos`: with the photo signatures, which align each face into
    `frame` (apps/faces/align.py: the one the encoder reads)."""
    import tensorflow as tf

    height, width, channels = model.input_shape[1:]
    limits = limits or validation.ImageLimits()
    logistic = calibration["logistic"]

    class FaceServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.frozen = _embedder(model, height, width, channels)
            self.threshold = tf.Variable(float(calibration["threshold"]), trainable=False,
                                         name="threshold")
            self.w = tf.Variable(np.asarray(logistic["w"], np.float32), trainable=False, name="w")
            self.b = tf.Variable(float(logistic["b"]), trainable=False, name="b")

        def embeddings(self, pixels):
            return self.frozen(pixels)[0]  # a frozen function answers a list

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
    signatures = {"serving_default": serve_bytes, "embed_images": embed_images,
                  "verify": verify, "verify_images": verify_images}
    if photos:
        signatures.update(_photo_signatures(module, limits, channels, height, width, frame))
    return module, signatures


def _photo_signatures(module, limits, channels, height, width, frame):
    """embed_photos and verify_photos on `module` (its BlazeFace and FaceMesh weights attached)."""
    import tensorflow as tf

    # Weights in `photos`, traced once.
    pipeline = FacePipeline(frame.size, frame.canonical, frozen=True, mesh_groups=frame.groups)

    def photo(data):
        """One photo -> ((model-sized aligned face uint8, faces found, box, landmarks), verdict)."""
        image, verdict = validation.decode_checked_photo(data, limits)
        found = pipeline(image)
        face = images_lib.conform_image_tensor(found["crop"], channels, height)
        verdict = tf.where(tf.equal(verdict, ""), _photo_verdict(found["faces"]), verdict)
        return (face, found["faces"], found["box"], found["landmarks"]), verdict

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def photos(photo_bytes):  # traced once, called by both photo signatures
        placeholder = (tf.zeros([height, width, channels], tf.uint8), tf.constant(0, tf.int32),
                       tf.zeros([4]), tf.zeros([468, 3]))
        (faces_pixels, faces, boxes, landmarks), errors = validation.checked_batch(photo_bytes, photo, placeholder)
        return tf.cast(faces_pixels, tf.float32), faces, boxes, landmarks, errors

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="photo_bytes")])
    def embed_photos(photo_bytes):
        pixels, faces, boxes, landmarks, errors = photos(photo_bytes)
        return {"embeddings": module.embeddings(pixels), "faces": faces, "box": boxes,
                "landmarks": landmarks, "error": errors}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="photo_bytes_1"),
                                  tf.TensorSpec([None], tf.string, name="photo_bytes_2")])
    def verify_photos(photo_bytes_1, photo_bytes_2):
        n = tf.shape(photo_bytes_1)[0]
        pixels, faces, _, _, errors = photos(tf.concat([photo_bytes_1, photo_bytes_2], 0))  # one pipeline
        pixels_1, faces_1, errors_1 = pixels[:n], faces[:n], errors[:n]
        pixels_2, faces_2, errors_2 = pixels[n:], faces[n:], errors[n:]
        errors = tf.where(errors_1 != "", tf.strings.join(["photo 1: ", errors_1]),
                          tf.where(errors_2 != "", tf.strings.join(["photo 2: ", errors_2]), ""))
        answer = module.compare(pixels_1, pixels_2)
        answer["same"] = answer["same"] & tf.equal(errors, "")  # never "same" without two faces
        return {**answer, "faces_1": faces_1, "faces_2": faces_2, "error": errors}

    module.embed_photos, module.verify_photos = embed_photos, verify_photos
    return {"embed_photos": embed_photos, "verify_photos": verify_photos}
