"""Augmentation of a placed word, against the gap between synthetic and recorded speech.

    speed   resampling by a factor in [1 - s, 1 + s]: tempo, pitch and formants move together,
            as from a shorter or longer vocal tract (the speaker changes, not only the pace)
    reverb  a synthetic room: the word convolved with exponentially decaying noise (RT60
            0.15-0.7 s) after a direct path, mixed wet 0.2-0.6, then a 0.1 s tail kept
"""

from __future__ import annotations

import numpy as np


def speed(rng: np.random.Generator, word: np.ndarray, spread: float = 0.12) -> np.ndarray:
    """`word` resampled by a random factor (> 1 longer, lower): (round(len * factor),)."""
    from scipy.signal import resample_poly

    factor = rng.uniform(1.0 - spread, 1.0 + spread)
    up = int(round(factor * 100))
    return resample_poly(word, up, 100).astype(np.float32)


def room_response(rng: np.random.Generator, rate: int) -> np.ndarray:
    """(samples,) impulse response: 1 at t=0, then noise decaying 60 dB over RT60."""
    rt60 = rng.uniform(0.15, 0.7)
    n = int(rt60 * rate)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # 60 dB = e^-6.9
    tail[: int(0.002 * rate)] = 0.0  # the first reflections arrive after the direct path
    wet = rng.uniform(0.2, 0.6)
    response = wet * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    response[0] = 1.0
    return response.astype(np.float32)


def reverb(rng: np.random.Generator, word: np.ndarray, rate: int) -> np.ndarray:
    """`word` in a random room: (len(word) + 0.1 s,), the same peak level."""
    from scipy.signal import fftconvolve

    out = fftconvolve(word, room_response(rng, rate))[: len(word) + int(0.1 * rate)]
    return (out * (np.abs(word).max() / (np.abs(out).max() + 1e-9))).astype(np.float32)
