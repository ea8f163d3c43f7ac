"""Is a sampled tune playable? music21's ABC parser reads it; we count its bars and notes."""

from __future__ import annotations

import dataclasses
import warnings


@dataclasses.dataclass(frozen=True)
class AbcCheck:
    valid: bool  # parsed, with a key and at least one note
    bars: int  # measures music21 made (a pickup counts as one)
    notes: int
    error: str = ""


def check_abc(text: str) -> AbcCheck:
    """music21's verdict on one tune (header M/L/K then the body, as the corpus writes it).

    music21 reads much malformed ABC without complaint (a garbled body gives an empty
    score), so a tune is valid only when it parses, declares a key (K:) and has notes.
    """
    from music21 import converter

    if not any(line.startswith("K:") for line in text.splitlines()):
        return AbcCheck(False, 0, 0, "no K: (key) line")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse("X:1\n" + text, format="abc")
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds on bad input
        return AbcCheck(False, 0, 0, f"{type(exc).__name__}: {exc}")
    bars = len(score.recurse().getElementsByClass("Measure"))
    notes = len(score.recurse().notes)
    return AbcCheck(valid=notes > 0, bars=bars, notes=notes, error="" if notes else "no notes")
