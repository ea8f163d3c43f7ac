"""Synthetic speech from espeak-ng: the training positives ("activate") and confusable negatives.

espeak-ng comes from the `espeakng-loader` wheel (an install requirement): it bundles
libespeak-ng 1.52 and its espeak-ng-data (all English voices and the voice variants), so it
works offline and without root on any machine pip reaches. Debian's `espeak-ng` program needs
`apt-get install` as root and was not needed. The library is driven with ctypes in synchronous
mode: samples arrive through a callback as 16-bit mono at 22,050 Hz and are resampled to 8 kHz.

Each utterance is cached as a WAV named by the sha256 of its settings (text, voice, variant,
pitch, speed, library version, rate), so a setting is synthesised once per machine. The
library keeps state from one synthesis to the next (the same settings come out a few samples
longer or shorter the second time, whatever the random seed), so each utterance is spoken in a
fresh child process: the samples depend on the settings alone, not on what was spoken before.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import cache_root
from apps.wakeword.sounds import SAMPLE_RATE, read_wav, resample, trim, write_wav

ENGLISH_VOICES = ("en", "en-us", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
                  "en-gb-x-rp", "en-us-nyc")
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt4", "croak", "whisper")
# Words that share sounds with "activate" (hard negatives) and everyday words.
CONFUSABLES = ("active", "activity", "actively", "captivate", "motivate", "cultivate",
               "deactivate", "activist", "actuate", "act", "vacate", "navigate", "accurate",
               "aggravate", "estimate", "hello", "weather", "music", "computer", "okay",
               "stop", "play", "tomorrow", "seven", "television", "lights")
_ENGINE_VERSION = "espeakng-loader 0.2.4 (libespeak-ng 1.52)"
_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS
_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_PHONEMES_IPA = 0x02  # espeak_TextToPhonemes' phonememode: IPA, no separator
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One synthesis setting. pitch 0-99 (espeak's 50 is the voice's own), speed in words a
    minute (80-450; 175 is espeak's default)."""

    text: str
    voice: str = "en-us"
    variant: str = ""
    pitch: int = 50
    speed: int = 175

    def __post_init__(self):
        if self.voice not in ENGLISH_VOICES:
            raise DataError(f"Utterance.voice: {self.voice!r}; allowed are {ENGLISH_VOICES}")
        if self.variant not in VARIANTS:
            raise DataError(f"Utterance.variant: {self.variant!r}; allowed are {VARIANTS}")
        if not 0 <= self.pitch <= 99:
            raise DataError(f"Utterance.pitch: {self.pitch}; allowed is 0-99")
        if not 80 <= self.speed <= 450:
            raise DataError(f"Utterance.speed: {self.speed}; allowed is 80-450 words a minute")

    @property
    def voice_name(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    def key(self) -> str:
        """sha256 of everything that decides the samples."""
        blob = json.dumps([dataclasses.asdict(self), _ENGINE_VERSION, SAMPLE_RATE],
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def random_utterances(texts, count: int, seed: int) -> list[Utterance]:
    """`count` settings drawn uniformly: text, voice, variant, pitch 25-85, speed 110-230."""
    rng = np.random.default_rng(seed)
    return [Utterance(text=str(rng.choice(texts)), voice=str(rng.choice(ENGLISH_VOICES)),
                      variant=str(rng.choice(VARIANTS)), pitch=int(rng.integers(25, 86)),
                      speed=int(rng.integers(110, 231)))
            for _ in range(count)]


class Espeak:
    """libespeak-ng from the espeakng-loader wheel, synchronous, one process-wide engine."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise DataError("espeak-ng is not installed: `pip install espeakng-loader==0.2.4` "
                            "(it bundles libespeak-ng and its voices)") from None
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self.rate = self._lib.espeak_Initialize(
            _SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
        if self.rate <= 0:
            raise DataError(f"espeak-ng failed to start (espeak_Initialize returned {self.rate})")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept: the library holds only a pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, samples, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # 0 = go on

    def synthesize(self, utterance: Utterance) -> np.ndarray:
        """(samples,) float32 at the engine's own rate (22,050 Hz)."""
        if self._lib.espeak_SetVoiceByName(utterance.voice_name.encode()) != 0:
            raise DataError(f"espeak-ng has no voice {utterance.voice_name!r}")
        self._lib.espeak_SetParameter(_RATE, utterance.speed, 0)
        self._lib.espeak_SetParameter(_PITCH, utterance.pitch, 0)
        # espeak-ng draws random numbers (breath noise): seeded by the settings.
        self._lib.espeak_ng_SetRandSeed(ctypes.c_long(int(utterance.key()[:15], 16)))
        self._chunks = []
        text = utterance.text.encode()
        # espeak_Synth(text, size, position, POS_CHARACTERS, end, espeakCHARS_AUTO, ids, data)
        status = self._lib.espeak_Synth(text, len(text) + 1, 0, 0, 0, 0, None, None)
        self._lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise DataError(f"espeak-ng could not speak {utterance.text!r} (status {status})")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0

    def phonemes(self, text: str, voice: str = "en-us") -> str:
        """`text` as IPA phonemes with stress marks, clauses joined by spaces (the input that
        Piper's voices were trained on: espeak-ng's IPA)."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DataError(f"espeak-ng has no voice {voice!r}")
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        pointer = ctypes.c_char_p(text.encode())
        clauses = []
        while pointer.value:  # the library moves the pointer past each clause it reads
            clauses.append(self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), 0,
                                                           _PHONEMES_IPA).decode())
        return " ".join(c for c in clauses if c)


def speak_fresh(utterance: Utterance) -> tuple[np.ndarray, int]:
    """(samples, rate) of `utterance` from a new engine in a child Python process (a plain
    `python -c`, so the caller's own script is not imported again as multiprocessing's spawn
    would do)."""
    code = "import sys; from apps.wakeword.tts import _speak_to_stdout; _speak_to_stdout()"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        done = subprocess.run([sys.executable, "-c", code],
                              input=json.dumps(dataclasses.asdict(utterance)).encode(),
                              capture_output=True, env=env, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"espeak-ng could not speak {utterance.text!r}: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise DataError(f"espeak-ng could not speak {utterance.text!r}: "
                        f"{lines[-1] if lines else done.returncode}")
    rate = int.from_bytes(done.stdout[:4], "little")
    return np.frombuffer(done.stdout[4:], np.float32).copy(), rate


def _speak_to_stdout() -> None:
    """The child's side: settings as JSON on stdin; 4 bytes of rate, then float32 samples."""
    engine = Espeak()
    samples = engine.synthesize(Utterance(**json.loads(sys.stdin.buffer.read())))
    sys.stdout.buffer.write(int(engine.rate).to_bytes(4, "little") + samples.tobytes())


def synthesize_cached(utterances, cache_dir: str | Path | None = None,
                      speak=None, workers: int = 2) -> list[np.ndarray]:
    """8 kHz waveforms trimmed of leading and trailing silence, one per utterance; each read
    from `<cache>/<sha256 of settings>.wav` when present, else spoken by `speak` (default:
    `speak_fresh`, a new child process per utterance, `workers` at a time) and written there."""
    folder = Path(cache_dir) if cache_dir else cache_root() / "wakeword-tts"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{utterance.key()}.wav" for utterance in utterances]
    missing = {path: utterance for path, utterance in zip(paths, utterances) if not path.is_file()}
    if missing:
        with concurrent.futures.ThreadPoolExecutor(workers if speak is None else 1) as pool:
            _write_all(missing, pool.map(speak or speak_fresh, missing.values()))
    return [read_wav(path) for path in paths]


def _write_all(missing: dict, spoken) -> None:
    for path, (samples, rate) in zip(missing, spoken):
        tmp = path.with_suffix(".tmp")
        write_wav(tmp, trim(resample(samples, rate, SAMPLE_RATE)))
        tmp.replace(path)
