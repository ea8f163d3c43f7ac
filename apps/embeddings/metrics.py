"""Similarity queries and the standard evaluations, on unit-normalised vectors (NumPy).

Definitions follow gensim's `KeyedVectors` so numbers compare: `most_similar` ranks by
cosine to the mean of the unit vectors (+1 for positive, -1 for negative words),
excluding the query words; `evaluate_word_analogies` is 3CosAdd over the first
`restrict_vocab` words (vocabulary in descending frequency), case-insensitive, skipping
questions with a word outside them; `evaluate_word_pairs` is the Spearman correlation of
cosine similarity with the human scores over the pairs whose words are known.
"""

from __future__ import annotations

import pathlib

import numpy as np

from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.word2vec.vectors import WordVectors


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Similarity:
    """Queries over one set of word vectors (normalised once)."""

    def __init__(self, wv: WordVectors):
        self.wv = wv
        self.index = {}
        for i, w in enumerate(wv.words):
            self.index.setdefault(w, i)
        self.normed = unit(np.asarray(wv.vectors, np.float32))

    def id(self, word: str) -> int:
        if word not in self.index:
            raise DataError(f"word {word!r} is not in the vocabulary ({len(self.wv)} words)")
        return self.index[word]

    def most_similar(self, positive=(), negative=(), topn=10, restrict_vocab=0):
        """[(word, cosine)] like gensim's `most_similar`."""
        ids = [self.id(w) for w in positive] + [self.id(w) for w in negative]
        if not ids:
            raise DataError("most_similar: give at least one word")
        weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), np.float32)
        query = unit((weights[:, None] * self.normed[ids]).mean(axis=0))
        table = self.normed[:restrict_vocab] if restrict_vocab else self.normed
        scores = table @ query
        scores[[i for i in ids if i < len(scores)]] = -np.inf
        order = np.argsort(-scores)[:topn]
        return [(self.wv.words[i], float(scores[i])) for i in order]


def read_analogies(path):
    """[(section, [a, b, c, d]), ...] from a questions-words file (`: section` headers)."""
    questions, section = [], None
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            words = line.split()
            if not words:
                continue
            if len(words) != 4 or section is None:
                raise DataError(f"{path}:{number}: expected 4 words after a ': section' line")
            questions.append((section, [w.lower() for w in words]))
    return questions


def evaluate_analogies(wv: WordVectors, path, restrict_vocab=300000, batch=1024):
    """3CosAdd accuracy: {"accuracy", "correct", "total", "skipped", "sections": {name: acc}}."""
    sim = Similarity(wv)
    ok_vocab = {}
    for i, w in enumerate(wv.words[:restrict_vocab]):
        ok_vocab.setdefault(w.lower(), i)
    questions = read_analogies(path)
    known = [(s, [ok_vocab[w] for w in q]) for s, q in questions if all(w in ok_vocab for w in q)]
    if not known:
        return {"accuracy": 0.0, "correct": 0, "total": 0, "skipped": len(questions), "sections": {}}
    ids = np.array([q for _, q in known])
    table = sim.normed[:restrict_vocab]
    hits = np.zeros(len(ids), bool)
    for start in range(0, len(ids), batch):
        a, b, c, d = ids[start:start + batch].T
        query = table[b] - table[a] + table[c]  # 3CosAdd on unit vectors
        scores = query @ table.T
        rows = np.arange(len(a))
        for exclude in (a, b, c):
            scores[rows, exclude] = -np.inf
        hits[start:start + batch] = scores.argmax(axis=1) == d
    sections = {}
    for (section, _), hit in zip(known, hits):
        got = sections.setdefault(section, [0, 0])
        got[0] += int(hit)
        got[1] += 1
    return {
        "accuracy": float(hits.mean()), "correct": int(hits.sum()), "total": len(hits),
        "skipped": len(questions) - len(hits),
        "sections": {k: v[0] / v[1] for k, v in sections.items()},
    }


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties getting their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values))
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def spearman(x, y) -> float:
    rx, ry = rank(x), rank(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denominator) if denominator else float("nan")


def evaluate_word_pairs(wv: WordVectors, path, restrict_vocab=300000):
    """{"spearman", "pairs", "skipped"} on a tab-separated `word1 word2 score` file."""
    sim = Similarity(wv)
    ok_vocab = {}
    for i, w in enumerate(wv.words[:restrict_vocab]):
        ok_vocab.setdefault(w.lower(), i)
    ours, human, skipped = [], [], 0
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                raise DataError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score'")
            a, b = fields[0].lower(), fields[1].lower()
            if a not in ok_vocab or b not in ok_vocab:
                skipped += 1
                continue
            ours.append(float(sim.normed[ok_vocab[a]] @ sim.normed[ok_vocab[b]]))
            human.append(float(fields[2]))
    return {"spearman": spearman(ours, human) if len(ours) > 1 else float("nan"),
            "pairs": len(ours), "skipped": skipped}


def benchmark_file(name: str) -> pathlib.Path:
    return fetch_package_file(EMBEDDED[name])


def evaluate(wv: WordVectors, restrict_vocab=300000) -> dict:
    analogies = evaluate_analogies(wv, benchmark_file("gensim-questions-words"), restrict_vocab)
    ws = evaluate_word_pairs(wv, benchmark_file("gensim-wordsim353"), restrict_vocab)
    simlex = evaluate_word_pairs(wv, benchmark_file("gensim-simlex999"), restrict_vocab)
    return {
        "analogy_accuracy": analogies["accuracy"], "analogy_questions": analogies["total"],
        "analogy_skipped": analogies["skipped"], "analogy_sections": analogies["sections"],
        "wordsim353_spearman": ws["spearman"], "wordsim353_pairs": ws["pairs"],
        "simlex999_spearman": simlex["spearman"], "simlex999_pairs": simlex["pairs"],
        "vocabulary": len(wv), "restrict_vocab": restrict_vocab,
    }


def format_evaluation(result) -> str:
    return (f"analogies (3CosAdd): {result['analogy_accuracy']:.2%} of {result['analogy_questions']} "
            f"questions ({result['analogy_skipped']} skipped: words outside the vocabulary)\n"
            f"WordSim-353 Spearman: {result['wordsim353_spearman']:.3f} over "
            f"{result['wordsim353_pairs']} pairs\n"
            f"SimLex-999 Spearman: {result['simlex999_spearman']:.3f} over {result['simlex999_pairs']} pairs")
