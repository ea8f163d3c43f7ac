"""Operating points of a detector on a stream, and the threshold chosen on validation.

A detector's events depend on its threshold; each threshold gives one (recall, false accepts
per hour) point. The threshold a run serves with is chosen on the validation stream (training
material only): the highest recall at <= `max_false_accepts` per hour, the higher threshold
on ties. The held-out stream is then scored once at that threshold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.wakeword.config import Config
from apps.wakeword.events import StreamScore, score_stream

THRESHOLDS = tuple(np.round(np.concatenate([np.arange(0.05, 0.951, 0.05),
                                            [0.97, 0.98, 0.99, 0.995, 0.998, 0.999]]), 4))


def operating_points(probabilities: np.ndarray, placed, num_samples: int, config: Config,
                     thresholds=THRESHOLDS) -> list[tuple[float, StreamScore]]:
    """[(threshold, StreamScore)] for each threshold, in increasing order."""
    return [(float(t), score_stream(probabilities, placed, num_samples,
                                    dataclasses.replace(config, threshold=float(t))))
            for t in sorted(thresholds)]


def choose_threshold(points, max_false_accepts: float = 1.0) -> float:
    """The threshold of the highest recall with <= max_false_accepts per hour (ties: the
    highest threshold); the highest threshold when none is that quiet."""
    quiet = [(s.recall, t) for t, s in points if s.false_accepts_per_hour <= max_false_accepts]
    if not quiet:
        return max(t for t, _ in points)
    return max(quiet)[1]


def best_recall(points, max_false_accepts: float) -> tuple[float, float | None]:
    """(recall, threshold) of the best point with <= max_false_accepts per hour ((0, None):
    no such point)."""
    quiet = [(s.recall, t) for t, s in points if s.false_accepts_per_hour <= max_false_accepts]
    return max(quiet) if quiet else (0.0, None)


def summary(score: StreamScore) -> dict:
    return {"recall": score.recall, "false_accepts_per_hour": score.false_accepts_per_hour,
            "detected": score.detected, "triggers": score.triggers,
            "false_accepts": score.false_accepts,
            "hard_negative_accepts": score.hard_negative_accepts, "hours": score.hours,
            "frame_accuracy": score.frame_accuracy,
            "all_zeros_frame_accuracy": score.all_zeros_accuracy}
