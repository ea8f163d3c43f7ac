"""SpecAugment's masks (Park et al. 2019) over the model's log spectrogram, in training only.

A model that can be denied any band of ~0.5 kHz or any 0.1 s of the input cannot lean on one
cue (a band edge, a formant that one synthesiser always puts in the same place) to tell the
trigger: it has to find the word in what is left. Masked cells take the example's mean value
(0 after spectral mean normalisation), not a hard 0 that a log spectrum never holds.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="classics")
class SpectrogramMasks(keras.layers.Layer):
    """Random frequency and time masks of a `(batch, frames, bins)` spectrogram in training.

    Args:
        frequency_masks: Masks per example along the bins.
        frequency_width: Largest mask width in bins (each mask is 0..width wide, uniformly).
        time_masks: Masks per example along the frames.
        time_width: Largest mask width in frames.
        seed: Seed of the masks' random draws.

    Call: `(batch, frames, bins)` -> the same shape; the input unchanged unless training.
    """

    def __init__(self, frequency_masks=2, frequency_width=15, time_masks=10, time_width=10,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("frequency_masks", frequency_masks),
                            ("frequency_width", frequency_width), ("time_masks", time_masks),
                            ("time_width", time_width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be an int >= 0, received: {value!r}")
        self.frequency_masks = frequency_masks
        self.frequency_width = frequency_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masked(self, shape, axis: int, count: int, width: int):
        """(batch, frames, bins) bool: cells inside one of `count` spans along `axis`."""
        from keras import ops

        size = shape[axis]
        index = ops.arange(size)
        index = ops.reshape(index, (1, -1, 1) if axis == 1 else (1, 1, -1))
        out = ops.zeros((shape[0], 1, 1), "bool")
        for _ in range(count):
            draws = keras.random.uniform((2, shape[0], 1, 1), seed=self.seed_generator)
            span = ops.cast(ops.floor(draws[0] * (width + 1)), "int32")  # 0..width
            start = ops.cast(ops.floor(draws[1] * ops.cast(ops.maximum(size - span + 1, 1),
                                                            "float32")), "int32")
            out = ops.logical_or(out, ops.logical_and(index >= start, index < start + span))
        return out

    def call(self, spectrogram, training=None):
        from keras import ops

        if not training or not (self.frequency_masks or self.time_masks):
            return spectrogram
        shape = ops.shape(spectrogram)
        masked = ops.logical_or(
            self._masked(shape, 2, self.frequency_masks, self.frequency_width),
            self._masked(shape, 1, self.time_masks, self.time_width))
        fill = ops.mean(spectrogram, axis=(1, 2), keepdims=True)
        return ops.where(masked, fill, spectrogram)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(frequency_masks=self.frequency_masks, frequency_width=self.frequency_width,
                      time_masks=self.time_masks, time_width=self.time_width, seed=self.seed)
        return config
