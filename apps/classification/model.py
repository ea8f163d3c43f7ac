"""ResNet and Inception classifiers assembled from `layers/` blocks.

The classifier is `Input (raw pixels 0-255) -> Rescaling -> backbone -> dropout -> Dense`
and returns logits. The backbone is a named sub-model ("backbone") so transfer
learning can copy and freeze it as one piece.
"""

import keras

# The backbone builder is shared with the faces app (apps/common/backbones.py).
from apps.common.backbones import (  # noqa: F401 - re-exported
    build_backbone,
    inception_filters,
    init_backbone_from,
    regularizer,
)


def build_model(config, num_classes: int, input_shape) -> keras.Model:
    """Raw pixel values (0-255, any float/int dtype) -> class logits."""
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = build_backbone(config, input_shape)(x)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    logits = keras.layers.Dense(
        num_classes, kernel_regularizer=regularizer(config), name="logits"
    )(x)
    return keras.Model(inputs, logits, name=f"{config.backbone}_classifier")


class Averaged(keras.Model):
    """Mean class probabilities over test-time views and/or ensemble members.

    `members` return logits; `shifts` are (dy, dx) pixel translations of the input
    (the multi-crop of TTA, zero-filled), `flip` adds the mirrored view of each.
    Outputs probabilities, not logits.
    """

    def __init__(self, members, shifts=((0, 0),), flip=False, **kwargs):
        super().__init__(**kwargs)
        self.members = list(members)
        self.shifts = [tuple(int(v) for v in s) for s in shifts]
        self.flip = bool(flip)

    def _views(self, images):
        import tensorflow as tf

        views = []
        for dy, dx in self.shifts:
            view = images
            if dy or dx:
                view = tf.roll(images, shift=(dy, dx), axis=(1, 2))
                # Zero what rolled around the border, as a padded crop would.
                h, w = images.shape[1], images.shape[2]
                rows = tf.range(h)[:, None]
                cols = tf.range(w)[None, :]
                keep = (rows >= dy) & (rows < h + dy) & (cols >= dx) & (cols < w + dx)
                view = view * tf.cast(keep[None, :, :, None], view.dtype)
            views.append(view)
            if self.flip:
                views.append(tf.reverse(view, axis=[2]))
        return views

    def call(self, images, training=False):
        import tensorflow as tf

        images = tf.cast(images, "float32")
        views = tf.stack(self._views(images))  # (V, N, H, W, C)
        # One graph of each member, looped over the views (not V copies of it: tracing and
        # saving 2 members x 5 crops inline took ~5x as long); one view in memory at a time.
        probs = [
            tf.reduce_sum(tf.map_fn(lambda view, m=member: tf.nn.softmax(m(view, training=False)), views,
                                    fn_output_signature=tf.float32), axis=0)
            for member in self.members
        ]
        return tf.add_n(probs) / float(len(self.members) * views.shape[0])


def tta_shifts(padding: int):
    """Centre plus the four corner crops of a `padding`-pixel padded image."""
    p = int(padding)
    if p <= 0:
        return ((0, 0),)
    return ((0, 0), (-p, -p), (-p, p), (p, -p), (p, p))


def averaged_model(members, config, tta: bool) -> keras.Model:
    """One model averaging the members' probabilities, over TTA views when `tta`."""
    shifts = tta_shifts(config.crop_padding) if tta else ((0, 0),)
    flip = tta and "flip" in config.augment
    inputs = keras.Input(members[0].input_shape[1:], name="image")
    averaged = Averaged(members, shifts=shifts, flip=flip, name="averaged")
    return keras.Model(inputs, averaged(inputs), name="combined")


def with_features(model) -> keras.Model:
    """The classifier as (penultimate features (batch, D), logits): the input of its "logits"
    Dense beside its output, the same weights (for the "unsure" Mahalanobis score)."""
    return keras.Model(model.inputs, [model.get_layer("logits").input, model.output], name="with_features")
