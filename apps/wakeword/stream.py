"""`classics wakeword stream [SOURCE]`: events printed as they happen, from audio arriving in
chunks (a WAV file, a WAV stream or raw PCM on stdin), in constant memory.

The model is not stateful across windows: every `hop` it scores the last clip of audio (a
window of config.clip_seconds, `events.WindowScorer`) and takes that window's last hop of
steps. With the hop `detect` uses (half a clip: 5 s for the default 10 s clips) the windows,
the scores and the events are `detect`'s exactly. A hop is rounded down to whole output steps,
as detect's half clip is (62 steps of 80 ms = 4.96 s for the speech embedding's 10 s clips).
A shorter hop answers sooner but costs more and scores differently: an event is printed up to
one hop (plus the window's compute) after its step; each hop runs the model over a whole clip,
so the compute per audio second is clip / hop times that of one pass (10x at 1 s, 2x at 5 s);
and its steps have clip - hop of context before them (more than detect's half clip), so
probabilities near the threshold, and then events, can differ from `detect`'s. The first
events come once one clip has arrived (or at the end of a shorter input), as `detect`'s first
window needs a whole clip too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.common.errors import DataError
from apps.wakeword.config import Config, step_seconds, step_times
from apps.wakeword.events import WindowScorer, detect_events
from apps.wakeword.sounds import read_chunks

DEFAULT_HOP_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Event:
    step: int
    seconds: float  # the time in the stream (config.step_times)
    probability: float


def hop_steps(hop_seconds: float | None, config: Config) -> int | None:
    """Output steps of a hop in seconds, rounded down to whole steps as detect's half clip is
    (None: detect's hop); refuses a hop shorter than one step or longer than one clip."""
    if hop_seconds is None:
        return None
    step = step_seconds(config)
    if not (step <= hop_seconds + 1e-9 and hop_seconds <= config.clip_seconds + 1e-9):
        raise DataError(f"--hop {hop_seconds:g}: a hop is from one step of the model "
                        f"({step:g} s) to one clip ({config.clip_seconds:g} s)")
    return int(hop_seconds / step + 1e-9)


class StreamDetector:
    """Chunks of samples in, events out, once each, as soon as their step is scored; holds
    fewer than one clip of samples however long the stream (`WindowScorer`)."""

    def __init__(self, predict, config: Config, threshold: float, hop: int | None = None):
        self.scorer = WindowScorer(predict, config, hop, batch=1)
        self.config, self.threshold = config, threshold
        self.refractory = int(round(config.refractory_seconds / step_seconds(config)))
        self.last = None  # the last event's step

    def _events(self, probabilities: np.ndarray) -> list[Event]:
        first = self.scorer.steps - len(probabilities)
        steps = detect_events(probabilities, self.threshold, self.refractory, first, self.last)
        if len(steps):
            self.last = int(steps[-1])
        return [Event(int(s), round(float(step_times(s, self.config)), 2),
                      float(probabilities[s - first])) for s in steps]

    def feed(self, chunk: np.ndarray) -> list[Event]:
        return self._events(self.scorer.feed(chunk))

    def finish(self) -> list[Event]:
        return self._events(self.scorer.finish())


def stream_events(predict, chunks, config: Config, threshold: float, hop: int | None = None):
    """Yields each Event of an iterable of sample chunks as soon as it is found; Ctrl-C ends
    the input as its end does (the steps already heard are flushed)."""
    detector = StreamDetector(predict, config, threshold, hop)
    try:
        for chunk in chunks:
            yield from detector.feed(chunk)
    except KeyboardInterrupt:
        pass
    yield from detector.finish()


def open_chunks(source: str, config: Config, raw: bool, rate: int | None, channels: int):
    """(chunks, name, file to close or None) of a SOURCE: a WAV path, or '-' for stdin."""
    import sys

    raw_format = (rate or config.sample_rate, 2, channels) if raw else None
    if source == "-":
        return read_chunks(sys.stdin.buffer, "stdin", config.sample_rate,
                           raw_format=raw_format), None
    try:
        handle = open(source, "rb")  # noqa: SIM115 - closed by the caller after the stream
    except OSError as exc:
        raise DataError(f"{source}: cannot open ({exc.strerror})") from None
    return read_chunks(handle, source, config.sample_rate, raw_format=raw_format), handle
