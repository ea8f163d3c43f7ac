"""The ROC curve and the photo pictures (matplotlib's object API via apps.common.report)."""

import pathlib

import numpy as np

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


def photos_png(photos, answers, path) -> pathlib.Path:
    """What the export's `embed_photos` answered: each photo (name, RGB array) with the found
    face's box and mesh drawn and its verdict as the title. `answers`: dicts with faces,
    error, box (4,) and landmarks (468, 3) of one photo each."""
    fig = report._figure(3.2 * len(photos), 3.6)
    for k, ((name, image), answer) in enumerate(zip(photos, answers)):
        ax = fig.add_subplot(1, len(photos), k + 1)
        ax.imshow(image)
        if not answer["error"]:
            x0, y0, x1, y1 = answer["box"]
            ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="lime", lw=1)
            points = np.asarray(answer["landmarks"])
            ax.scatter(points[:, 0], points[:, 1], s=0.3, color="yellow")
        ax.set_title(f"{name}\n{answer['error'] or '1 face: aligned and embedded'}", fontsize=8)
        ax.axis("off")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def landmarks_png(image, box, landmarks, crop, path) -> pathlib.Path:
    """A photo with the face's box and mesh drawn, beside its aligned crop."""
    fig = report._figure(8, 4)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(image)
    x0, y0, x1, y1 = box
    ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="lime", lw=1)
    ax.scatter(landmarks[:, 0], landmarks[:, 1], s=0.5, color="yellow")
    ax.axis("off")
    ax = fig.add_subplot(1, 2, 2)
    ax.imshow(crop)
    ax.set_title("aligned", fontsize=9)
    ax.axis("off")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
