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


class SharedSubstrings:
    """The longest substring a text shares with any of a set of texts (a suffix automaton of
    them, joined by a character none holds: no match runs across two of them).

        index = SharedSubstrings(training_tunes); index.longest("...a sampled tune...")
    """

    def __init__(self, texts, joiner: str = "\x00"):
        self._next, self._link, self._length = [{}], [-1], [0]
        last = 0
        for char in joiner.join(texts):
            last = self._extend(last, char)

    def _extend(self, last: int, char: str) -> int:
        nxt, link, length = self._next, self._link, self._length
        current = len(length)
        nxt.append({}), link.append(0), length.append(length[last] + 1)
        state = last
        while state != -1 and char not in nxt[state]:
            nxt[state][char] = current
            state = link[state]
        if state != -1:
            other = nxt[state][char]
            if length[state] + 1 == length[other]:
                link[current] = other
            else:  # split `other`: a clone that ends the shorter strings
                clone = len(length)
                nxt.append(dict(nxt[other])), link.append(link[other]), length.append(length[state] + 1)
                while state != -1 and nxt[state].get(char) == other:
                    nxt[state][char] = clone
                    state = link[state]
                link[other] = link[current] = clone
        return current

    def longest(self, text: str) -> int:
        """Length of the longest substring of `text` found in one of the texts."""
        state, run, best = 0, 0, 0
        for char in text:
            while state and char not in self._next[state]:
                state = self._link[state]
                run = self._length[state]
            if char in self._next[state]:
                state, run = self._next[state][char], run + 1
                best = max(best, run)
        return best
