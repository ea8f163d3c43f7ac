"""IBM Model 1 (Brown et al., 1993) as a word-by-word translation baseline, EM in NumPy.

Training: lexical probabilities t(f | e) of a target word f given a source word e (or the
NULL word), from sentence pairs alone. The E step spreads each target word's count over the
source words of its sentence (and NULL) in proportion to t(f | e); the M step renormalises the
counts per source word. Only co-occurring (e, f) pairs are stored: all sentence pairs' word
pairs are one flat array, so an iteration is a few `np.bincount`s.

Translating: every source word becomes its most probable target word, in the source's order
(words never seen in training are copied as written), spelt in their most frequent case in the training
targets ("dios" -> "Dios"), then detokenised (no space before , . ; : ! ? »
and closing brackets, none after opening ones and ¿ ¡ «) with the first letter capitalised:
a plain string, scored like the neural model's output.
"""

import collections
import dataclasses
import re

import numpy as np

NULL = "<null>"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?»)\]'])")
_NO_SPACE_AFTER = re.compile(r"([¿¡«(\[]) ")


def tokenize(text):
    """Lowercased words and punctuation marks: "Let there be light." -> [let, there, be, light, .]"""
    return _TOKEN.findall(text.lower())


def detokenize(tokens):
    text = _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", " ".join(tokens)))
    return text[:1].upper() + text[1:]


@dataclasses.dataclass(frozen=True, eq=False)
class Model1:
    """t(f | e) for the co-occurring pairs: t[k] of (source_words[pair_e[k]], target_words[pair_f[k]]).

    best[e] = argmax_f t(f | e) of each source word (NULL excluded)."""

    source_words: tuple  # [0] is NULL
    target_words: tuple
    pair_e: np.ndarray
    pair_f: np.ndarray
    t: np.ndarray
    best: dict
    log_likelihoods: tuple  # per iteration, of the parameters it starts from: sum of log sum_e t(f | e)

    def probability(self, e, f):
        """t(f | e); 0 for a pair never seen together."""
        if e not in self._source or f not in self._target:
            return 0.0
        key = self._source[e] * len(self.target_words) + self._target[f]
        k = np.searchsorted(self.pair_e * len(self.target_words) + self.pair_f, key)
        hit = k < len(self.t) and self.pair_e[k] == self._source[e] and self.pair_f[k] == self._target[f]
        return float(self.t[k]) if hit else 0.0

    @property
    def _source(self):
        return {w: i for i, w in enumerate(self.source_words)}

    @property
    def _target(self):
        return {w: i for i, w in enumerate(self.target_words)}


def _index(sentences, vocabulary):
    return [np.array([vocabulary.setdefault(w, len(vocabulary)) for w in s], dtype=np.int64) for s in sentences]


def train(pairs, iterations=5):
    """`pairs` of (source tokens, target tokens) -> Model1 after `iterations` of EM from uniform
    t(f | e). Source sentences get the NULL word at id 0."""
    if iterations < 1:
        raise ValueError(f"iterations={iterations}: expected >= 1")
    source_ids, target_ids = {NULL: 0}, {}
    sources = [np.concatenate([[0], s]) for s in _index([p[0] for p in pairs], source_ids)]
    targets = _index([p[1] for p in pairs], target_ids)
    # One row per (sentence, target position, source position): e, f and the target word's
    # occurrence number (the E step normalises over the source words of one occurrence).
    e_all, f_all, occurrence = [], [], []
    seen = 0
    for s, t in zip(sources, targets):
        e_all.append(np.tile(s, len(t)))
        f_all.append(np.repeat(t, len(s)))
        occurrence.append(np.repeat(np.arange(seen, seen + len(t)), len(s)))
        seen += len(t)
    e_all, f_all, occurrence = (np.concatenate(x) for x in (e_all, f_all, occurrence))
    keys, pair_of = np.unique(e_all * len(target_ids) + f_all, return_inverse=True)
    pair_e, pair_f = keys // len(target_ids), keys % len(target_ids)
    # Uniform start: t(f | e) = 1 / (number of f seen with e); any constant gives the same first E step.
    t = 1.0 / np.bincount(pair_e, minlength=len(source_ids))[pair_e]
    log_likelihoods = []
    for _ in range(iterations):
        weights = t[pair_of]
        total = np.bincount(occurrence, weights=weights, minlength=seen)  # sum_e t(f | e) per occurrence
        log_likelihoods.append(float(np.sum(np.log(total))))
        counts = np.bincount(pair_of, weights=weights / total[occurrence], minlength=len(keys))
        t = counts / np.bincount(pair_e, weights=counts, minlength=len(source_ids))[pair_e]
    # The best f per e: sort pairs by (e, -t) and take each e's first.
    order = np.lexsort((-t, pair_e))
    first = order[np.r_[True, pair_e[order][1:] != pair_e[order][:-1]]]
    source_words, target_words = list(source_ids), list(target_ids)
    best = {source_words[pair_e[k]]: target_words[pair_f[k]] for k in first if pair_e[k] != 0}
    return Model1(tuple(source_words), tuple(target_words), pair_e, pair_f, t, best, tuple(log_likelihoods))


def surface_forms(texts):
    """{lowercased word: its most frequent spelling} in `texts`, not counting a text's first
    word (capitalised by position): the case the translations are written in."""
    counts = collections.defaultdict(collections.Counter)
    for text in texts:
        for word in _TOKEN.findall(text)[1:]:
            counts[word.lower()][word] += 1
    return {word: spellings.most_common(1)[0][0] for word, spellings in counts.items()}


def translate(model, text, surface=None):
    """Word by word: each source token -> its most probable target word (unknown: copied as written),
    spelt as `surface` (from `surface_forms`) says, else lowercase."""
    surface = surface or {}
    words = []
    for word in _TOKEN.findall(text):
        found = model.best.get(word.lower())
        words.append(word if found is None else surface.get(found, found))
    return detokenize(words)
