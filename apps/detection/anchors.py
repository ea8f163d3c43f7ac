"""Anchor boxes by k-means with the 1 - IoU distance (YOLOv2, section "Dimension Clusters").

Boxes are compared by (w, h) only, aligned at a corner, so a large box is not "far" from
a small one merely for its size, as it would be with Euclidean distance.
"""

import numpy as np

from apps.common.errors import DataError
from apps.detection.boxes import wh_iou


def kmeans(wh, k: int, *, seed: int = 0, iterations: int = 100, restarts: int = 3):
    """(N, 2) box sizes -> (anchors (k, 2) sorted by area, mean best IoU).

    Empty clusters cannot survive: a centroid left without boxes is moved to the box worst
    covered by the others (lowest best IoU), which then belongs to it. Best of `restarts`
    seeded k-means++-style initialisations.
    """
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh > 0).all(axis=1)]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"anchors: k must be a positive integer, got {k!r}")
    if len(np.unique(wh, axis=0)) < k:
        raise DataError(f"anchors: k={k} clusters need at least {k} distinct box sizes, "
                        f"got {len(np.unique(wh, axis=0))}")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        centroids = _init(wh, k, rng)
        for _ in range(iterations):
            assign = np.argmax(wh_iou(wh, centroids), axis=1)
            new = centroids.copy()
            for c in range(k):
                members = wh[assign == c]
                if len(members) == 0:
                    # Empty-cluster guard: take the worst-covered box.
                    worst = int(np.argmin(wh_iou(wh, np.delete(new, c, axis=0)).max(axis=1)))
                    new[c] = wh[worst]
                else:
                    new[c] = members.mean(axis=0)
            if np.allclose(new, centroids):
                break
            centroids = new
        score = float(wh_iou(wh, centroids).max(axis=1).mean())
        if best is None or score > best[1]:
            best = (centroids, score)
    centroids, score = best
    return centroids[np.argsort(centroids.prod(axis=1))], score


def _init(wh, k, rng):
    """k-means++ with 1 - IoU: each next centre drawn in proportion to its distance."""
    centres = [wh[rng.integers(len(wh))]]
    for _ in range(1, k):
        d = 1.0 - wh_iou(wh, np.array(centres)).max(axis=1)
        total = d.sum()
        if total <= 0:
            centres.append(wh[rng.integers(len(wh))])
        else:
            centres.append(wh[rng.choice(len(wh), p=d / total)])
    return np.array(centres)


def sweep(wh, ks, seed: int = 0):
    """[(k, anchors, mean IoU)] for each k: the table YOLOv2's Figure 2 plots."""
    return [(k, *kmeans(wh, k, seed=seed)) for k in ks]
