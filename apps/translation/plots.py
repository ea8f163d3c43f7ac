"""Attention heat-maps: for each translated text, which source character each output
character attended to (rows: outputs, columns: the source characters read)."""

import pathlib

import numpy as np


def _shown(labels):
    """The labels up to the last non-empty one (padding dropped), spaces made visible."""
    labels = [str(t) for t in labels]
    while labels and labels[-1] == "":
        labels.pop()
    return ["\u2423" if t == " " else t for t in labels]


def attention_png(examples, path, title="attention") -> pathlib.Path:
    """`examples`: (source characters (Tx,), output characters (Ty,), weights (Ty, Tx), caption)
    each, characters "" past their end; one heat-map per example, side by side in rows of 2."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not examples:
        raise ValueError("attention_png: no examples to draw")
    columns = min(2, len(examples))
    rows = -(-len(examples) // columns)
    fig = Figure(figsize=(6.5 * columns, 3.2 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for i, (source, outputs, weights, caption) in enumerate(examples):
        source, outputs = _shown(source), _shown(outputs)
        ax = fig.add_subplot(rows, columns, i + 1)
        shown = np.asarray(weights)[: max(1, len(outputs)), : max(1, len(source))]
        ax.imshow(shown, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)), source, fontsize=7 if len(source) <= 40 else 3)
        ax.set_yticks(range(len(outputs)), outputs, fontsize=7 if len(outputs) <= 40 else 3)
        ax.set_xlabel("source character read", fontsize=8)
        ax.set_ylabel("output", fontsize=8)
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
