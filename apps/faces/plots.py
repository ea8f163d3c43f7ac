"""The ROC curve picture (matplotlib's object API via apps.common.report)."""

import pathlib

from apps.common import report
from apps.faces import metrics


def roc_png(distances, genuine, path, title="ROC") -> pathlib.Path:
    _, far, tar = metrics.roc(distances, genuine)
    fig = report._figure(4.5, 4.5)
    ax = fig.add_subplot()
    ax.plot(far, tar, lw=1.5)
    ax.plot([0, 1], [0, 1], "--", color="gray", lw=0.8)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(f"{title}: AUC {metrics.auc(distances, genuine):.3f}")
    ax.grid(alpha=0.3)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
