"""Is a sampled tune playable? music21's ABC parser reads it; we count its bars and notes."""

from __future__ import annotations

import dataclasses
import re
import warnings

# An ABC key (K:) music21 reads as written: tonic and mode, highland pipes, or none. music21
# itself reads anything else (K:.GEiB) silently as C major, so the check is ours.
_MODES = "m|min|minor|maj|major|ion|ionian|mix|mixolydian|dor|dorian|phr|phrygian|lyd|lydian|" \
         "loc|locrian|aeo|aeolian"
_KEY_RE = re.compile(rf"^(?:[A-G][#b]?\s*(?:{_MODES})?|HP|Hp|none)$", re.IGNORECASE)
_METER_RE = re.compile(r"^(?:C\|?|\d+/\d+|none)$")


@dataclasses.dataclass(frozen=True)
class AbcCheck:
    valid: bool  # header fields well formed, parsed, at least one bar and one note
    bars: int  # measures music21 made (a pickup counts as one)
    notes: int
    error: str = ""
    full_bars: float = 0.0  # share of the inner bars (not the first, not the last) as long as the meter says


def _header_error(text: str) -> str:
    fields = {line[0]: line[2:].strip() for line in text.splitlines()
              if len(line) > 1 and line[1] == ":" and line[0] in "MLK"}
    if "K" not in fields:
        return "no K: (key) line"
    if not _KEY_RE.match(fields["K"]):
        return f"K:{fields['K']} is not a key"
    if "M" in fields and not _METER_RE.match(fields["M"]):
        return f"M:{fields['M']} is not a meter"
    if "L" in fields and not re.match(r"^1/\d+$", fields["L"]):
        return f"L:{fields['L']} is not a unit note length"
    return ""


def check_abc(text: str) -> AbcCheck:
    """Our header check and music21's parse of one tune (M/L/K then the body, as the corpus
    writes it). music21 reads much malformed ABC without complaint (a garbled body gives an
    empty score, an unclosed quote swallows the bars), so a tune is valid only when its
    header fields are well formed and music21 makes at least one bar and one note of it.
    """
    from music21 import converter

    error = _header_error(text)
    if error:
        return AbcCheck(False, 0, 0, error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse("X:1\n" + text, format="abc")
    except Exception as exc:  # noqa: BLE001 - the parser raises many kinds on bad input
        return AbcCheck(False, 0, 0, f"{type(exc).__name__}: {exc}")
    measures = list(score.recurse().getElementsByClass("Measure"))
    notes = len(score.recurse().notes)
    error = "" if notes and measures else "no notes" if not notes else "no bars"
    return AbcCheck(valid=not error, bars=len(measures), notes=notes, error=error,
                    full_bars=_full_bars(score, measures))


def _full_bars(score, measures) -> float:
    """Share of the inner bars whose notes fill the header's meter exactly (music21 reads a bar
    of any length; a sampled tune that keeps the meter fills its bars)."""
    meters = score.recurse().getElementsByClass("TimeSignature")
    inner = measures[1:-1]
    if not meters or not inner:
        return 0.0
    length = float(meters[0].barDuration.quarterLength)
    return sum(float(m.duration.quarterLength) == length for m in inner) / len(inner)


def check_rate(texts) -> tuple:
    """(fraction valid, mean bars of the valid ones) over sampled tunes."""
    checks = [check_abc(t) for t in texts]
    valid = [c for c in checks if c.valid]
    return len(valid) / max(1, len(checks)), sum(c.bars for c in valid) / max(1, len(valid))
