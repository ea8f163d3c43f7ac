"""A 2-D PCA picture of chosen words' vectors."""

import pathlib

import numpy as np

from apps.common.errors import DataError
from apps.common.word2vec.vectors import WordVectors
from apps.embeddings.metrics import Similarity

DEFAULT_PLOT_WORDS = (
    "king", "queen", "man", "woman", "boy", "girl", "france", "paris", "germany", "berlin",
    "war", "army", "fire", "water", "police", "government", "one", "two", "three",
)


def pca_plot(wv: WordVectors, words, path, title="PCA of word vectors") -> pathlib.Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sim = Similarity(wv)
    present = [w for w in words if w in sim.index]
    if len(present) < 2:
        raise DataError(f"plot: need at least 2 of the words in the vocabulary, found {present}")
    points = sim.normed[[sim.index[w] for w in present]]
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T  # (words, 2)
    fig = Figure(figsize=(7, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=12)
    for (x, y), word in zip(xy, present):
        ax.annotate(word, (x, y), fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
