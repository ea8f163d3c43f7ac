"""The course's trigger-word model over a spectrogram computed in the graph.

    waveform (batch, samples) at 8 kHz, any length >= one receptive field (1,320 samples)
    -> LogSpectrogram: |STFT| of 25 ms Hann frames every 10 ms, 256 points, log(1e-6 + .)
       (optionally minus each bin's mean over the input: spectral_mean_norm)
                                                               (batch, frames, 129)
    -> (in training, with frequency_masks / time_masks: SpecAugment's masks, masks.py)
    -> Conv1D(conv_filters, 15, stride 4) -> BN -> ReLU -> Dropout  (batch, steps, filters)
    -> [RNN(layers.GRUCell(gru_units)) -> Dropout -> BN] x gru_layers
    -> Dropout -> Dense(1) per step                                 (batch, steps) logits

One output step is 4 frames = 40 ms (config.step_seconds); it sees 15 frames = 165 ms
of audio. Train with binary cross-entropy from logits; a sigmoid belongs to serving.

With frontend="speech-embedding" the spectrogram and the Conv1D block are replaced by the
frozen pretrained front end of embedding.py (2x upsampling, 32 mel bands, SpecAugment's masks
over those in training, Google's speech_embedding): (batch, steps, 96) every 80 ms, then the
same GRUs and per-step Dense; only those are trained.
"""

from __future__ import annotations

import keras

import layers
from apps.common.optimizers import make_optimizer
from apps.wakeword.config import SPEECH_EMBEDDING, Config
from apps.wakeword.embedding import (
    MelFrames,
    SpeechEmbedding,
    Upsample2x,
    load_weights_from_onnx,
)
from apps.wakeword.masks import SpectrogramMasks


@keras.saving.register_keras_serializable(package="classics")
class LogSpectrogram(keras.layers.Layer):
    """log(eps + |STFT|) of a batch of waveforms, no end padding.

    Args:
        frame_length: Samples per frame (a periodic Hann window of that length).
        frame_step: Samples between frame starts.
        fft_length: FFT points; fft_length // 2 + 1 frequency bins.
        epsilon: Added to the magnitude before the log (the floor for silence).
        subtract_mean: Subtract each bin's mean over the frames of the input (cepstral mean
            normalisation), removing a fixed channel's colouring.

    Call: `(batch, samples)` float32 -> `(batch, frames, fft_length // 2 + 1)` with
    frames = 1 + (samples - frame_length) // frame_step.
    """

    def __init__(self, frame_length=200, frame_step=80, fft_length=256, epsilon=1e-6,
                 subtract_mean=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("frame_length", frame_length), ("frame_step", frame_step),
                            ("fft_length", fft_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, received: {value!r}")
        if fft_length < frame_length:
            raise ValueError(f"`fft_length` must be >= frame_length ({frame_length}), "
                             f"received: {fft_length!r}")
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0, received: {epsilon!r}")
        if not isinstance(subtract_mean, bool):
            raise ValueError(f"`subtract_mean` must be a bool, received: {subtract_mean!r}")
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.fft_length = fft_length
        self.epsilon = float(epsilon)
        self.subtract_mean = subtract_mean

    def call(self, waveform):
        import tensorflow as tf

        stft = tf.signal.stft(waveform, self.frame_length, self.frame_step, self.fft_length,
                              window_fn=tf.signal.hann_window, pad_end=False)
        log_magnitude = tf.math.log(self.epsilon + tf.abs(stft))  # (batch, frames, bins)
        if self.subtract_mean:
            log_magnitude -= tf.reduce_mean(log_magnitude, axis=-2, keepdims=True)
        return log_magnitude

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else 1 + (samples - self.frame_length) // self.frame_step
        return (*input_shape[:-1], frames, self.fft_length // 2 + 1)

    def get_config(self):
        config = super().get_config()
        config.update(frame_length=self.frame_length, frame_step=self.frame_step,
                      fft_length=self.fft_length, epsilon=self.epsilon,
                      subtract_mean=self.subtract_mean)
        return config


def _masks(config: Config):
    """SpecAugment's masks over the front end's frames (training only), or None."""
    if not (config.frequency_masks or config.time_masks):
        return None
    return SpectrogramMasks(config.frequency_masks, config.frequency_mask_bins, config.time_masks,
                            config.time_mask_frames, seed=config.seed, name="masks")


def _speech_embedding(waveform, config: Config):
    """8 kHz waveform -> (batch, steps, 96) frozen embeddings every 80 ms (embedding.py)."""
    audio = Upsample2x(name="upsample")(waveform)
    mel_layer, embedding_layer = MelFrames(name="mel"), SpeechEmbedding(name="speech_embedding")
    x = mel_layer(audio)
    masks = _masks(config)
    if masks is not None:
        x = masks(x)
    x = embedding_layer(x)
    load_weights_from_onnx(mel_layer, embedding_layer)
    mel_layer.trainable = embedding_layer.trainable = False
    # The embedding's values reach about +-60: scaled for the GRUs as the Conv1D block's are.
    return keras.layers.BatchNormalization(name="embedding_bn")(x)


def build_model(config: Config, samples: int | None = None) -> keras.Model:
    """(batch, samples) waveforms -> (batch, steps) logits; `samples` None = any length."""
    keras.utils.set_random_seed(config.seed)
    waveform = keras.Input((samples,), name="waveform")
    if config.frontend == SPEECH_EMBEDDING:
        x = _speech_embedding(waveform, config)
    else:
        x = LogSpectrogram(config.frame_length, config.frame_step, config.fft_length,
                           subtract_mean=config.spectral_mean_norm, name="spectrogram")(waveform)
        masks = _masks(config)
        if masks is not None:
            x = masks(x)
        x = keras.layers.Conv1D(config.conv_filters, config.conv_kernel,
                                strides=config.conv_stride, padding="valid", name="conv")(x)
        x = keras.layers.BatchNormalization(name="conv_bn")(x)
        x = keras.layers.Activation("relu", name="conv_relu")(x)
        x = keras.layers.Dropout(config.dropout, name="conv_dropout")(x)
    for index in range(config.gru_layers):
        x = keras.layers.RNN(layers.GRUCell(config.gru_units), return_sequences=True,
                             name=f"gru{index + 1}")(x)
        x = keras.layers.Dropout(config.dropout, name=f"gru{index + 1}_dropout")(x)
        x = keras.layers.BatchNormalization(name=f"gru{index + 1}_bn")(x)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(1, name="logit")(x)  # (batch, steps, 1), per step
    logits = keras.layers.Reshape((-1,), name="logits")(logits)
    return keras.Model(waveform, logits, name="wakeword")


def compile_model(model: keras.Model, config: Config, learning_rate=None) -> keras.Model:
    """Adam with the config's schedule (apps/common/optimizers.py) over an epoch of
    clips_per_epoch // batch_size steps; binary cross-entropy from the per-step logits."""
    steps = max(1, config.clips_per_epoch // config.batch_size)
    model.compile(optimizer=make_optimizer(config, steps, learning_rate),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="frame_accuracy")])
    return model
