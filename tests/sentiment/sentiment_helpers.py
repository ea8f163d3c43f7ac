"""Helpers of the sentiment tests (a module name of its own: `conftest` clashes across folders)."""

import csv

import numpy as np


def write_csv(path, rows, header=("review", "sentiment")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def tiny_sets(runs, small_csv):
    """The `--set` values of the tests' tiny runs: the small CSV, the default's lexicon features
    and extended vocabulary, 2 epochs."""
    return [f"runs_dir={runs}", f"data=csv:{small_csv}", "text_column=review", "label_column=sentiment",
            "labels=rotten,fresh", "epochs=2", "lexicon=inquirer+whissell", "extend_vocabulary=true"]


def rt_snippets():
    """(texts, labels) of the embedded corpus's fresh/rotten rows."""
    from apps.sentiment.data import rotten_tomatoes_rows

    rows = [(c, t) for c, t in rotten_tomatoes_rows() if c in ("fresh", "rotten")]
    return [t for _, t in rows], [c for c, _ in rows]


def write_small_csv(path):
    """300 real snippets (150 per class, a fixed seed) as review,sentiment rows: the path."""
    texts, labels = rt_snippets()
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.permutation(np.flatnonzero(np.array(labels) == c))[:150]
                          for c in ("rotten", "fresh")])
    return write_csv(path, [(texts[i], labels[i]) for i in sorted(idx)])
