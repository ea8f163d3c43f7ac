"""The exported module: audio in, per-step probabilities and trigger events out, all in the graph.

    serving_default   waveform (samples,) float32 at 8 kHz, any length
                      -> probabilities (steps,), event_steps (events,) int64,
                         event_times (events,) float32 seconds
    wav               wav_bytes (files,) string: 16-bit PCM WAVs at 8 kHz (channels averaged)
                      -> the same per file, padded with -1 to the longest (files, ...),
                         steps (files,) int64, and error (files,) string ("" or why the bytes
                         were refused: not a WAV, another sample rate)

Audio longer than a training clip is cut into clip-long windows every half clip, as
`events.windowed_probabilities` does (the export and the NumPy path agree); events follow
`events.detect_events` with the config's threshold and refractory period.
"""

from __future__ import annotations

from apps.wakeword.config import (
    Config,
    output_steps,
    receptive_field,
    samples_per_step,
    step_seconds,
    step_times,
)
from apps.wakeword.events import detect_events_tf

WINDOW_BATCH = 16  # windows a model call in the graph (as events.windowed_probabilities)


def export_module(model, config: Config):
    """(tf.Module, {"serving_default": fn, "wav": fn}) around a trained wakeword model."""
    import tensorflow as tf

    n = int(round(config.clip_seconds * config.sample_rate))
    per_step = samples_per_step(config)
    hop_steps = (n // 2) // per_step
    hop = hop_steps * per_step
    window_steps = output_steps(n, config)
    keep_from = window_steps - hop_steps
    refractory = int(round(config.refractory_seconds / step_seconds(config)))
    field = receptive_field(config)

    class WakewordServing(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.threshold = tf.Variable(float(config.threshold), trainable=False,
                                         name="threshold")
            self.refractory = tf.Variable(refractory, dtype=tf.int32, trainable=False,
                                          name="refractory_steps")

        def detect(self, waveform):
            length = tf.shape(waveform)[0]
            # output_steps(length): 0 when shorter than one receptive field
            total = tf.where(length < field, 0, 1 + (length - field) // per_step)
            count = 1 + tf.maximum(0, (total - window_steps + hop_steps - 1) // hop_steps)
            size = (count - 1) * hop + n
            padded = tf.pad(waveform[:size], [[0, size - tf.minimum(length, size)]])
            windows = tf.signal.frame(padded, n, hop)  # (count, n)
            # The model runs on WINDOW_BATCH windows at a time (its activations for a 2 h file
            # at once would take gigabytes): the last batch padded with silent windows.
            batches = (count + WINDOW_BATCH - 1) // WINDOW_BATCH
            windows = tf.pad(windows, [[0, batches * WINDOW_BATCH - count], [0, 0]])
            probs = tf.map_fn(
                lambda batch: tf.sigmoid(self.model(batch, training=False)),
                tf.reshape(windows, [batches, WINDOW_BATCH, n]), parallel_iterations=1,
                fn_output_signature=tf.TensorSpec([WINDOW_BATCH, window_steps], tf.float32))
            probs = tf.reshape(probs, [-1, window_steps])[:count]  # (count, window_steps)
            joined = tf.concat([probs[0], tf.reshape(probs[1:, keep_from:], [-1])], axis=0)
            probabilities = joined[:total]
            steps = detect_events_tf(probabilities, self.threshold, self.refractory)
            return {"probabilities": probabilities, "event_steps": steps,
                    "event_times": step_times(tf.cast(steps, tf.float32), config)}

    module = WakewordServing()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="waveform")])
    def serve_waveform(waveform):
        return module.detect(waveform)

    def one_wav(wav_bytes):
        # Bytes that are not a RIFF/WAVE file, or a WAV at another rate, answer with `error`
        # and no steps (a server keeps serving): nothing is decoded or resampled in the graph.
        head = tf.strings.join([wav_bytes, " " * 12])  # substr refuses positions past the end
        is_wav = tf.logical_and(tf.strings.length(wav_bytes) >= 44, tf.logical_and(
            tf.equal(tf.strings.substr(head, 0, 4), "RIFF"),
            tf.equal(tf.strings.substr(head, 8, 4), "WAVE")))

        def decoded():
            audio, rate = tf.audio.decode_wav(wav_bytes)  # (samples, channels) in [-1, 1)
            return tf.reduce_mean(audio, axis=-1), rate

        audio, rate = tf.cond(is_wav, decoded, lambda: (tf.zeros([0]), tf.constant(0)))
        right_rate = tf.equal(rate, config.sample_rate)
        out = module.detect(tf.cond(right_rate, lambda: audio, lambda: tf.zeros([0])))
        out["error"] = tf.where(
            is_wav,
            tf.where(right_rate, tf.constant(""), tf.strings.join([
                "wav_bytes: a ", tf.strings.as_string(rate), f" Hz WAV; the model takes "
                f"{config.sample_rate} Hz (resample it first)"])),
            tf.constant("wav_bytes: not a RIFF/WAVE file (16-bit PCM WAV expected)"))
        return out

    ragged = {"probabilities": tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
              "event_steps": tf.RaggedTensorSpec([None], tf.int64, ragged_rank=0),
              "event_times": tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
              "error": tf.TensorSpec([], tf.string)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="wav_bytes")])
    def serve_wav(wav_bytes):
        # A batch of files (a server's instances): each file's rows padded with -1 after its
        # own steps and events (`steps` says how many are real).
        out = tf.map_fn(one_wav, wav_bytes, fn_output_signature=ragged)
        return {"probabilities": out["probabilities"].to_tensor(-1.0),
                "event_steps": out["event_steps"].to_tensor(-1),
                "event_times": out["event_times"].to_tensor(-1.0),
                "steps": out["probabilities"].row_lengths(), "error": out["error"]}

    module.serve_waveform, module.serve_wav = serve_waveform, serve_wav
    return module, {"serving_default": serve_waveform, "wav": serve_wav}
