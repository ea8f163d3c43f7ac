"""Real recorded sounds for trigger-word detection: Asterisk's prompts and music on hold.

Everything runs at 8 kHz (`SAMPLE_RATE`). Asterisk's prompts and its music are telephone-band
8 kHz recordings: resampling them to 16 kHz would add no content above 4 kHz and double the
samples, the spectrogram frames and the training time. Anything else (espeak-ng's 22,050 Hz
speech, a user's 16 or 44.1 kHz WAV files) is resampled down to 8 kHz with a polyphase
low-pass filter (`resample`), so a model only ever sees telephone-band audio.

Held out for evaluation only, never composed into a training clip: `activated.wav` (the
positive the evaluation stream repeats), `de-activated.wav` (its hard negative), about a fifth
of the other prompts (chosen by a hash of their names, so the split is stable when the list
changes) and the music track `HELDOUT_MUSIC`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import wave
from pathlib import Path

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file

SAMPLE_RATE = 8000
PROMPT_PREFIX = "asterisk-prompt-"
MUSIC_PREFIX = "asterisk-music-"
POSITIVE_PROMPT = "activated"
HARD_NEGATIVE_PROMPT = "de-activated"
HELDOUT_MUSIC = ("macroform-the_simplicity",)  # 279 s of the 18 min
HELDOUT_BUCKETS = 5  # a prompt is held out when sha256(name) % 5 == 0 (about 20 %)


@dataclasses.dataclass(frozen=True)
class Sounds:
    """Float32 waveforms at 8 kHz in [-1, 1], by name. `train_*` feed the composed clips;
    `heldout_*` and the two named prompts only the evaluation stream."""

    train_prompts: dict
    heldout_prompts: dict
    train_music: dict
    heldout_music: dict
    positive: np.ndarray  # activated.wav
    hard_negative: np.ndarray  # de-activated.wav


def read_wav(source: str | Path | bytes, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(samples,) float32 in [-1, 1] at `rate` from a PCM WAV file (path or bytes): 8-, 16-
    or 32-bit, any channel count (averaged to mono), any sample rate (resampled)."""
    name = "WAV bytes" if isinstance(source, bytes) else str(source)
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as wav:
            channels, width, frames = wav.getnchannels(), wav.getsampwidth(), wav.getnframes()
            source_rate, raw = wav.getframerate(), wav.readframes(frames)
    except (wave.Error, EOFError, OSError) as exc:
        raise _not_wav(name, exc) from None
    return resample(pcm_samples(raw, width, channels, name), source_rate, rate)


def _not_wav(name: str, exc: Exception) -> DataError:
    return DataError(f"{name}: not a readable PCM WAV file ({exc or type(exc).__name__})")


def pcm_samples(raw: bytes, width: int, channels: int, name: str) -> np.ndarray:
    """(frames,) float32 mono in [-1, 1] of little-endian PCM bytes (whole frames only)."""
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        dtype = "<i2" if width == 2 else "<i4"
        samples = np.frombuffer(raw[: len(raw) // width * width], dtype).astype(np.float32) \
            / float(2 ** (8 * width - 1))
    else:
        raise DataError(f"{name}: {8 * width}-bit samples; allowed are 8-, 16- and 32-bit PCM")
    return samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)


def read_chunks(stream, name: str, rate: int = SAMPLE_RATE, seconds: float = 0.1,
                raw_format: tuple | None = None):
    """Yields (frames,) float32 mono chunks of about `seconds` from a binary file object (a
    file or a pipe: nothing is seeked), a PCM WAV stream, or headerless PCM when `raw_format`
    = (sample rate, bytes a sample, channels) (`arecord -t raw`: 16-bit little-endian).
    The same formats as `read_wav`; the rate must be `rate` (a stream is not resampled)."""
    if raw_format is None:
        try:
            wav = wave.open(stream)
            source_rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        except (wave.Error, EOFError, OSError) as exc:
            raise _not_wav(name, exc) from None
        read = wav.readframes  # stops at the data chunk's end (sox and arecord state a huge one)
    else:
        source_rate, width, channels = raw_format
        read = lambda frames: stream.read(frames * width * channels)  # noqa: E731
    if source_rate != rate:
        raise DataError(f"{name}: {source_rate} Hz audio; the model takes {rate} Hz and a stream "
                        f"is not resampled: resample it first (e.g. sox IN -r {rate} -t wav -), "
                        "or use `detect` on a file")
    frames = max(1, int(seconds * rate))
    pcm_samples(b"", width, channels, name)  # refuses other sample widths before any audio
    while True:
        try:
            raw = read(frames)
        except (wave.Error, EOFError) as exc:  # a truncated stream ends it
            raise _not_wav(name, exc) from None
        if not raw:
            return
        yield pcm_samples(raw, width, channels, name)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """16-bit mono PCM WAV of float samples in [-1, 1] (clipped); `read_wav`'s inverse."""
    pcm = np.clip(np.round(np.asarray(samples) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling (scipy's Kaiser-windowed low-pass) by the reduced ratio."""
    if rate_in == rate_out:
        return np.asarray(samples, np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // g, rate_in // g).astype(np.float32)


def trim(samples: np.ndarray, frame: int = 80, below_peak_db: float = 30.0) -> np.ndarray:
    """`samples` from the first to the last 10 ms frame whose RMS is within `below_peak_db`
    of the loudest frame's: the word's own extent, so a label can start where it ends."""
    n = len(samples) // frame
    if n == 0:
        return samples
    rms = np.sqrt(np.mean(np.square(samples[: n * frame].reshape(n, frame)), axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-below_peak_db / 20) + 1e-6)
    if loud.size == 0:  # digital silence: nothing to keep apart
        return samples
    return samples[loud[0] * frame: (loud[-1] + 1) * frame]


def is_heldout(prompt: str) -> bool:
    """The fixed held-out share of prompts (the two named prompts are always held out)."""
    if prompt in (POSITIVE_PROMPT, HARD_NEGATIVE_PROMPT):
        return True
    return int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % HELDOUT_BUCKETS == 0


def _names(prefix: str) -> list[str]:
    return sorted(key.removeprefix(prefix) for key in EMBEDDED if key.startswith(prefix))


def prompt_names() -> list[str]:
    return _names(PROMPT_PREFIX)


def music_names() -> list[str]:
    return _names(MUSIC_PREFIX)


def load_sounds() -> Sounds:
    """Fetches (once, then from the cache) and reads every prompt and music track."""
    prompts = {name: read_wav(fetch_package_file(EMBEDDED[PROMPT_PREFIX + name]))
               for name in prompt_names()}
    music = {name: read_wav(fetch_package_file(EMBEDDED[MUSIC_PREFIX + name]))
             for name in music_names()}
    named = (POSITIVE_PROMPT, HARD_NEGATIVE_PROMPT)
    return Sounds(
        train_prompts={k: v for k, v in prompts.items() if not is_heldout(k)},
        heldout_prompts={k: v for k, v in prompts.items() if is_heldout(k) and k not in named},
        train_music={k: v for k, v in music.items() if k not in HELDOUT_MUSIC},
        heldout_music={k: v for k, v in music.items() if k in HELDOUT_MUSIC},
        positive=prompts[POSITIVE_PROMPT],
        hard_negative=prompts[HARD_NEGATIVE_PROMPT],
    )


def load_folder(root: str | Path) -> dict[str, list[np.ndarray]]:
    """A user's `folder:<dir>` source: {"positive", "negative", "background"} -> waveforms at
    8 kHz from `<dir>/<kind>/*.wav` (sorted by name). positive/ must not be empty."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder:{root}: no such folder; it must hold positive/, and may hold "
                        "negative/ and background/, folders of WAV files")
    out = {}
    for kind in ("positive", "negative", "background"):
        files = sorted((root / kind).glob("*.wav")) + sorted((root / kind).glob("*.WAV"))
        out[kind] = [read_wav(path) for path in files]
    if not out["positive"]:
        raise DataError(f"folder:{root}: no WAV files in {root / 'positive'}; put recordings of "
                        "the trigger word there")
    return out
