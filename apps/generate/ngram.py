"""The baseline: an add-k smoothed character n-gram language model, scored in bits per character.

Each item (a string, or a sequence of tokens such as chorales.py's notes) is read as
`BOS * (n - 1) + item + EOS`; the model predicts every symbol and the end of the item from the
n - 1 before it:

    P(c | h) = (count(h, c) + k) / (count(h) + k |V|)

V is the training characters plus EOS and UNK (a character never seen in training scores as
UNK); BOS is only ever context. Bits per character = -sum log2 P / (characters + one EOS per
item), the figure `apps.generate.metrics` reports for the neural model too.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

BOS, EOS, UNK = "\x02", "\x03", "\x00"  # control characters no corpus item contains

K_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


@dataclasses.dataclass(frozen=True)
class NgramModel:
    n: int
    k: float
    vocabulary: frozenset  # characters predicted: training characters + EOS + UNK
    counts: Counter  # (context tuple, symbol) -> count
    context_counts: Counter  # context tuple -> count

    def log2_prob(self, context, char) -> float:
        """log2 P(char | context), the context a string or tuple of the n - 1 symbols before."""
        context = tuple(context)
        char = char if char in self.vocabulary else UNK
        top = self.counts.get((context, char), 0) + self.k
        bottom = self.context_counts.get(context, 0) + self.k * len(self.vocabulary)
        return math.log2(top / bottom)


def _events(item, n: int):
    """(context tuple, symbol) pairs of one item, EOS last."""
    padded = (BOS,) * (n - 1) + tuple(item) + (EOS,)
    for i in range(n - 1, len(padded)):
        yield padded[i - n + 1:i], padded[i]


def fit_ngram(items, n: int, k: float) -> NgramModel:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 5:
        raise ValueError(f"`n` must be an int in 1..5, received: {n!r}")
    if not k > 0:
        raise ValueError(f"`k` must be > 0, received: {k!r}")
    counts, context_counts, chars = Counter(), Counter(), set()
    for item in items:
        chars.update(item)
        for context, char in _events(item, n):
            counts[context, char] += 1
            context_counts[context] += 1
    return NgramModel(n=n, k=float(k), vocabulary=frozenset(chars | {EOS, UNK}), counts=counts,
                      context_counts=context_counts)


def bits_per_char(model: NgramModel, items) -> float:
    """Mean -log2 P over every character and each item's end."""
    total, events = 0.0, 0
    for item in items:
        for context, char in _events(item, model.n):
            total -= model.log2_prob(context, char)
            events += 1
    return total / events


def choose_k(train, val, n: int, grid=K_GRID) -> tuple:
    """(model with the k of lowest validation bits/char, {k: validation bits/char})."""
    counted = fit_ngram(train, n, grid[0])
    scores = {k: bits_per_char(dataclasses.replace(counted, k=float(k)), val) for k in grid}
    best = min(scores, key=scores.get)
    return dataclasses.replace(counted, k=float(best)), scores
