"""Synthetic speech from Flite (CMU): five more English voices for the training words.

Flite comes from Debian's pinned `flite` and `libflite1` packages (amd64), fetched into the
cache like the Asterisk sounds; its program runs with LD_LIBRARY_PATH on the cached libraries,
so neither root nor `apt-get install` is needed. Its voices: kal and kal16 (a male diphone
voice at 8 and 16 kHz) and awb, rms, slt (CLUSTERGEN statistical voices: Scottish male, US
male, US female), closer to recorded speech than espeak-ng's formant synthesis.

Each utterance (text, voice, duration stretch, target f0) is one run of the program, so the
samples depend on the settings alone; they are cached as 8 kHz WAV files by the sha256 of the
settings through `tts.synthesize_cached`.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.wakeword.sounds import SAMPLE_RATE, read_wav

VOICES = ("kal", "kal16", "awb", "rms", "slt")
_ENGINE_VERSION = "flite 2.2-5 (Debian)"
_LIBRARIES = tuple(key for key in EMBEDDED if key.startswith("flite-lib"))


@dataclasses.dataclass(frozen=True)
class FliteUtterance:
    """One setting: `stretch` scales durations (1.0 is the voice's own pace, > 1 slower);
    `f0` is the target mean pitch in Hz (rms keeps its own)."""

    text: str
    voice: str = "slt"
    stretch: float = 1.0
    f0: int = 120

    def __post_init__(self):
        if self.voice not in VOICES:
            raise DataError(f"FliteUtterance.voice: {self.voice!r}; allowed are {VOICES}")
        if not 0.5 <= self.stretch <= 2.0:
            raise DataError(f"FliteUtterance.stretch: {self.stretch}; allowed is 0.5-2.0")
        if not 60 <= self.f0 <= 300:
            raise DataError(f"FliteUtterance.f0: {self.f0}; allowed is 60-300 Hz")

    def key(self) -> str:
        """sha256 of everything that decides the samples."""
        blob = json.dumps([dataclasses.asdict(self), _ENGINE_VERSION, SAMPLE_RATE], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def random_utterances(texts, count: int, seed: int, voices=VOICES) -> list[FliteUtterance]:
    """`count` settings drawn uniformly: text, voice, stretch 0.8-1.4, f0 80-240 Hz."""
    rng = np.random.default_rng(seed)
    return [FliteUtterance(text=str(rng.choice(texts)), voice=str(rng.choice(voices)),
                           stretch=round(float(rng.uniform(0.8, 1.4)), 3),
                           f0=int(rng.integers(80, 241)))
            for _ in range(count)]


@functools.lru_cache(maxsize=1)
def program() -> tuple[Path, Path]:
    """(the flite program, the folder of its libraries), fetched once into the cache (and
    checked once a process: a check hashes 13 MB of libraries)."""
    libraries = [fetch_package_file(EMBEDDED[key]) for key in _LIBRARIES]
    path = fetch_package_file(EMBEDDED["flite-program"])
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path, libraries[0].parent


def speak(utterance: FliteUtterance) -> tuple[np.ndarray, int]:
    """(samples, rate) of one utterance from a run of the program."""
    path, libraries = program()
    env = dict(os.environ, LD_LIBRARY_PATH=str(libraries))
    with tempfile.TemporaryDirectory(prefix="classics-flite-") as tmp:
        out = Path(tmp) / "out.wav"
        command = [str(path), "-voice", utterance.voice, "-t", utterance.text, "-o", str(out),
                   "--setf", f"duration_stretch={utterance.stretch}",
                   "--setf", f"int_f0_target_mean={utterance.f0}"]
        try:
            done = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"flite could not speak {utterance.text!r}: {exc}") from None
        if done.returncode != 0 or not out.is_file():
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise DataError(f"flite could not speak {utterance.text!r}: "
                            f"{lines[-1] if lines else done.returncode}")
        return read_wav(out, SAMPLE_RATE), SAMPLE_RATE
