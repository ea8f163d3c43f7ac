"""Synthetic speech given the recorded prompts' average spectrum (long-term average spectrum).

Measured on the training prompts against 300 cached synthetic words (loud frames, dB below
each set's peak bin):

    Hz          50    100   1000   2000   3000   3700   3900   4000
    recorded   -46   -37    -18    -26    -29    -35    -55    -85
    synthetic  -19   -12    -14    -17    -20    -25    -29    -30

The recordings are high-passed below ~120 Hz, low-passed above ~3.8 kHz and tilted ~10 dB
darker; espeak-ng's and Flite's words are not. A per-clip mean over the log spectrum cannot
remove a difference that belongs to some words of a clip only, so the bins at the band's edges
told "synthetic" (every positive) from "recorded" (a share of the negatives). Each synthetic
word is therefore filtered once, before composition, so that its own average spectrum follows
the recordings': a linear-phase FIR whose gain is the smoothed ratio of the two.
"""

from __future__ import annotations

import numpy as np

FFT = 256  # 31.25 Hz bins at 8 kHz
HOP = 80


def average_spectrum(waveforms, loud_quantile: float = 0.5) -> np.ndarray:
    """(FFT // 2 + 1,) mean power over the frames of `waveforms` louder than their own
    `loud_quantile` (the speech, not the pauses), each waveform weighted alike; zeros if none
    has a frame."""
    spectra = []
    window = np.hanning(FFT)
    for w in waveforms:
        w = np.asarray(w, np.float64)
        if len(w) < FFT:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(w, FFT)[::HOP] * window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        energy = power.sum(axis=1)
        if not energy.max() > 0:
            continue
        loud = power[energy >= np.quantile(energy, loud_quantile)]
        spectra.append(loud.mean(axis=0) / loud.mean(axis=0).sum())  # level-free shape
    return np.mean(spectra, axis=0) if spectra else np.zeros(FFT // 2 + 1)


def matching_gain(source: np.ndarray, target: np.ndarray, smooth_bins: int = 3,
                  floor_db: float = -60.0) -> np.ndarray:
    """(129,) amplitude gains taking the shape of power spectrum `source` to `target` (both
    (129,)): the ratio's square root, smoothed over `smooth_bins` bins in dB, scaled to 0 dB
    at its largest and cut at `floor_db` (the level is left to the caller)."""
    ratio_db = 10 * np.log10((target + 1e-12) / (source + 1e-12))
    kernel = np.ones(smooth_bins) / smooth_bins
    ratio_db = np.convolve(np.pad(ratio_db, smooth_bins // 2, mode="edge"), kernel, "valid")
    return 10 ** (np.maximum(ratio_db - ratio_db.max(), floor_db) / 20)


def equalize(word: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`word` (n,) filtered so that its average spectrum follows `target`: (n,) float32, the
    same length and the same peak. The gain is applied to one FFT of the whole word (zero
    phase; padded by a frame so that the wrap-around is silence). Silent or short words are
    returned as they are."""
    source = average_spectrum([word])
    peak = np.abs(word).max() if len(word) else 0.0
    if not source.any() or not target.any() or not peak > 0:
        return np.asarray(word, np.float32)
    size = len(word) + FFT
    spectrum = np.fft.rfft(word, size)
    gain = np.interp(np.linspace(0.0, 1.0, len(spectrum)), np.linspace(0.0, 1.0, FFT // 2 + 1),
                     matching_gain(source, target))
    out = np.fft.irfft(spectrum * gain, size)[: len(word)]
    return (out * (peak / (np.abs(out).max() + 1e-12))).astype(np.float32)
