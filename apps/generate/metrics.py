"""Bits per character: the language model's held-out score, comparable with the n-gram's."""

from __future__ import annotations

import math

import numpy as np


def nll_bits(logits, targets, weights) -> tuple:
    """(sum of -log2 P(target) over weighted positions, sum of weights).

    logits (batch, time, vocabulary), targets and weights (batch, time); weights are 1 on
    real targets (characters and each item's EOS) and 0 on padding."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=-1, keepdims=True)
    log_z = top[..., 0] + np.log(np.exp(logits - top).sum(axis=-1))
    picked = np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)[..., 0]
    weights = np.asarray(weights, dtype=np.float64)
    return float(((log_z - picked) * weights).sum() / math.log(2)), float(weights.sum())


def bits_per_char(model, dataset) -> float:
    """Mean -log2 P over every character and each item's end, on (inputs, targets, weights)
    batches (apps/generate/data.make_dataset)."""
    total, count = 0.0, 0.0
    for inputs, targets, weights in dataset:
        bits, n = nll_bits(model(inputs, training=False), targets, weights)
        total, count = total + bits, count + n
    return total / count
