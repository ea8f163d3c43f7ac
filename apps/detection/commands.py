"""The detector's own verb: `anchors` (k-means (1 - IoU) anchors and their mean IoU for each k)."""

import dataclasses
import sys

import numpy as np

from apps.common import cli
from apps.common.errors import ConfigError, DataError
from apps.detection import anchors as anchors_lib
from apps.detection.data import anchor_array, load_data


def fit_anchors(splits, config):
    """Config with anchors: the given ones, or k-means (1 - IoU) on the training boxes."""
    if config.anchors:
        anchor_array(config.anchors)
        return config
    wh = np.concatenate([b[:, 2:] - b[:, :2] for b in splits.train.boxes] or [np.zeros((0, 2))])
    centroids, mean_iou = anchors_lib.kmeans(wh, config.num_anchors, seed=config.seed)
    print(f"anchors (k-means, k={config.num_anchors}, mean IoU {mean_iou:.3f}): "
          + " ".join(f"{w:.1f}x{h:.1f}" for w, h in centroids), file=sys.stderr)
    flat = tuple(round(float(v), 2) for v in centroids.reshape(-1))
    return dataclasses.replace(config, anchors=flat)


def anchors_table(config, k):
    """[(k, anchors, mean IoU)] for 1..k on the training boxes of `config.data`."""
    splits = load_data(config)
    wh = np.concatenate([b[:, 2:] - b[:, :2] for b in splits.train.boxes] or [np.zeros((0, 2))])
    if len(wh) == 0:
        raise DataError(f"{config.data}: no boxes in the training split to cluster")
    return anchors_lib.sweep(wh, range(1, k + 1), seed=config.seed)


def _cmd_anchors(task, args):
    if args.k < 1:
        raise ConfigError(f"--k: expected a positive number of anchors, got {args.k}")
    rows = anchors_table(cli.config_from_args(task, args), args.k)
    print(f"{'k':>3} {'mean IoU':>9}  anchors (w x h pixels)")
    for k, centroids, mean_iou in rows:
        print(f"{k:>3} {mean_iou:9.4f}  " + " ".join(f"{w:.1f}x{h:.1f}" for w, h in centroids))
    flat = ",".join(f"{v:.2f}" for v in rows[-1][1].reshape(-1))
    print(f"use: --set anchors={flat}")


def add_commands(task, sub) -> None:
    p = sub.add_parser("anchors", help="k-means (1 - IoU) anchors; mean IoU for each k")
    cli.add_config_arguments(p, task.presets)
    p.add_argument("--k", type=int, default=5, help="the largest number of anchors (default 5)")
    p.set_defaults(func=lambda args: _cmd_anchors(task, args))
