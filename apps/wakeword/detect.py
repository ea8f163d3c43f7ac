"""`classics wakeword detect FILE.wav`: events of one recording, the course's chime-overlaid
WAV and a picture of the probability over the spectrogram."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from apps.wakeword.config import Config, step_seconds, step_times
from apps.wakeword.events import detect_events, windowed_probabilities
from apps.wakeword.sounds import read_wav, write_wav

PICTURE_COLUMNS = 4000  # spectrogram columns at most (the PNG is 900 pixels wide)


@dataclasses.dataclass(frozen=True)
class Detection:
    seconds: float  # the recording's length
    probabilities: np.ndarray  # (steps,) one per output step (40 or 80 ms)
    event_times: list  # seconds of each event


def probability_fn(model, config: Config):
    """windows (b, clip samples) -> (b, steps) probabilities through one traced graph (an eager
    call would run the GRUs' loops step by step in Python)."""
    import tensorflow as tf

    n = int(round(config.clip_seconds * config.sample_rate))
    graph = tf.function(lambda windows: tf.sigmoid(model(windows, training=False)),
                        input_signature=[tf.TensorSpec([None, n], tf.float32)])
    return lambda windows: graph(tf.constant(windows, tf.float32)).numpy()


def stream_probabilities(model, waveform: np.ndarray, config: Config) -> np.ndarray:
    """(output_steps,) probabilities of a waveform of any length (windows of one clip every
    half clip, as the export cuts)."""
    return windowed_probabilities(probability_fn(model, config),
                                  np.asarray(waveform, np.float32), config)


def detect(model, waveform: np.ndarray, config: Config, threshold: float) -> Detection:
    """Events of an 8 kHz waveform of any length."""
    probabilities = stream_probabilities(model, waveform, config)
    refractory = int(round(config.refractory_seconds / step_seconds(config)))
    steps = detect_events(probabilities, threshold, refractory)
    return Detection(len(waveform) / config.sample_rate, probabilities,
                     [round(float(step_times(s, config)), 2) for s in steps])


def chime(rate: int, seconds: float = 0.25) -> np.ndarray:
    """Two short decaying tones (880 Hz then 1,320 Hz) at peak 0.5."""
    t = np.arange(int(seconds * rate)) / rate
    half = len(t) // 2
    tone = np.where(np.arange(len(t)) < half, np.sin(2 * np.pi * 880 * t),
                    np.sin(2 * np.pi * 1320 * t))
    return (0.5 * tone * np.exp(-6.0 * (t % (seconds / 2)) / seconds)).astype(np.float32)


def with_chimes(waveform: np.ndarray, event_times, rate: int) -> np.ndarray:
    """The waveform with a chime added at each event (the course's chime_on_activate)."""
    out = np.asarray(waveform, np.float32).copy()
    bell = chime(rate)
    for time in event_times:
        start = int(time * rate)
        part = out[start:start + len(bell)]
        part += bell[:len(part)]
    return np.clip(out, -1.0, 1.0)


def plot(waveform: np.ndarray, found: Detection, config: Config, threshold: float,
         path: Path, title: str = "") -> Path:
    """PNG: the log spectrogram with the per-step probability, the threshold and the events.
    Audio longer than PICTURE_COLUMNS frame steps (5 min 20 s at 8 kHz) shows as many frames,
    evenly spaced (a 2 h file's full spectrogram would take gigabytes for 900 pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rate = config.sample_rate
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    seconds = len(waveform) / rate
    frame, step = config.frame_length, config.frame_step
    if len(waveform) // step > PICTURE_COLUMNS:  # a long file: evenly spaced frames, side by side
        starts = np.linspace(0, len(waveform) - frame, PICTURE_COLUMNS).astype(np.int64)
        shown, step = waveform[starts[:, None] + np.arange(frame)].reshape(-1), frame
    else:
        shown = waveform
    ax.specgram(shown + 1e-7, NFFT=frame, Fs=rate, noverlap=frame - step, cmap="magma",
                xextent=(0, seconds))
    ax.set_xlabel("seconds")
    ax.set_ylabel("Hz")
    other = ax.twinx()
    times = step_times(np.arange(len(found.probabilities)), config)
    other.plot(times, found.probabilities, color="cyan", lw=1.5, label="P(trigger just ended)")
    other.axhline(threshold, color="white", ls="--", lw=1, label=f"threshold {threshold:g}")
    for time in found.event_times:
        other.axvline(time, color="lime", lw=1.5)
    other.set_ylim(0, 1.02)
    other.set_ylabel("probability")
    other.legend(loc="upper right", fontsize=8)
    ax.set_xlim(0, seconds)
    ax.set_title(title or f"{len(found.event_times)} events")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def detect_file(model, path, config: Config, threshold: float, out_dir) -> dict:
    """Events of a WAV file (any PCM rate: resampled to 8 kHz) and the files written:
    <stem>_chime.wav and <stem>_probability.png in out_dir."""
    path, out_dir = Path(path), Path(out_dir)
    waveform = read_wav(path, config.sample_rate)
    found = detect(model, waveform, config, threshold)
    out_dir.mkdir(parents=True, exist_ok=True)
    chimed = out_dir / f"{path.stem}_chime.wav"
    write_wav(chimed, with_chimes(waveform, found.event_times, config.sample_rate), config.sample_rate)
    picture = plot(waveform, found, config, threshold, out_dir / f"{path.stem}_probability.png",
                   title=f"{path.name}: {len(found.event_times)} events at threshold {threshold:g}")
    return {"file": str(path), "seconds": round(found.seconds, 2), "events": found.event_times,
            "threshold": threshold, "chime_wav": str(chimed), "png": str(picture)}
