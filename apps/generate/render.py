"""Sampled music as files people open: a music21 score from an ABC tune or from note tokens,
written as MIDI (and MusicXML) by music21, a piano-roll PNG drawn with matplotlib, and a score
picture by our own engraver (apps/generate/engrave.py: music21's own score pictures need
MuseScore or LilyPond, which we do not require)."""

from __future__ import annotations

import pathlib
import warnings

from apps.common.files import atomic_write_text
from apps.generate.abc_check import check_abc
from apps.generate.engrave import score_png


def abc_score(tune: str):
    """music21's score of one tune as the corpus writes it (M/L/K then the body)."""
    from music21 import converter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return converter.parse("X:1\n" + tune, format="abc")


def tokens_score(tokens):
    """A one-part score of note tokens ("65:1", "rest:0.5"; apps/generate/chorales.py); a
    pitch-only token ("65") lasts a crotchet. Unreadable tokens are skipped."""
    from music21 import note, stream

    part = stream.Part()
    for token in tokens:
        pitch, _, length = token.partition(":")
        try:
            quarter = float(length) if length else 1.0
            element = note.Rest(quarterLength=quarter) if pitch == "rest" else note.Note(
                int(pitch), quarterLength=quarter)
        except (ValueError, TypeError, Exception):  # noqa: BLE001 - music21 refuses odd lengths
            continue
        part.append(element)
    score = stream.Score()
    score.insert(0, part)
    return score


def plain_score(score):
    """The notes of a score alone in one fresh part (its pitches, onsets and lengths)."""
    from music21 import note, stream

    part = stream.Part()
    for start, length, pitch in roll_notes(score)[0]:
        part.insert(start, note.Note(pitch, quarterLength=length))
    plain = stream.Score()
    plain.insert(0, part)
    return plain


def write_midi(score, path) -> pathlib.Path:
    """MIDI by music21; its MIDI writer fails on some sampled tunes (a time signature met twice
    in its conductor track), which are then written as their notes alone (`plain_score`)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        score.write("midi", fp=str(path))
    except Exception:  # noqa: BLE001 - music21 raises StreamException and others here
        plain_score(score).write("midi", fp=str(path))
    return path


def write_musicxml(score, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    score.write("musicxml", fp=str(path))
    return path


def roll_notes(score) -> tuple:
    """((start, length, midi pitch), ...) in quarter notes, and the bar starts, of a score."""
    notes = []
    for element in score.flatten().notes:
        for pitch in element.pitches:
            notes.append((float(element.offset), float(element.quarterLength), pitch.midi))
    parts = score.parts if hasattr(score, "parts") and len(score.parts) else [score]
    bars = sorted({float(m.offset) for m in parts[0].getElementsByClass("Measure")})
    return tuple(notes), tuple(bars)


def piano_roll_png(score, path, title: str = "") -> pathlib.Path:
    """A piano roll: one bar per note (time in quarter notes across, pitch up), bar lines dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    notes, bars = roll_notes(score)
    end = max((start + length for start, length, _ in notes), default=1.0)
    fig = Figure(figsize=(min(14.0, 3.0 + end / 4), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for start, length, pitch in notes:
        ax.broken_barh([(start, length * 0.95)], (pitch - 0.4, 0.8), color="tab:blue")
    for bar in bars:
        ax.axvline(bar, color="0.6", lw=0.6, ls="--")
    pitches = [p for *_, p in notes] or [60]
    low, high = min(pitches) - 2, max(pitches) + 2
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    ticks = [p for p in range(low, high + 1) if p % 12 in (0, 4, 7)]
    ax.set_yticks(ticks, [f"{names[p % 12]}{p // 12 - 1}" for p in ticks])
    ax.set_ylim(low, high)
    ax.set_xlim(0, end)
    ax.set_xlabel("quarter notes")
    ax.set_title(title)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def sample_files(text: str, kind: str, folder, stem: str) -> tuple:
    """(paths written, why some were not) for one sample. kind "notes" (note tokens joined by
    spaces): MIDI, MusicXML, a piano roll and a score picture. kind "abc": the tune as .abc and,
    when it is a valid tune (apps/generate/abc_check.py), MIDI and a score picture."""
    folder = pathlib.Path(folder)
    title = f"{stem} (sampled)"
    if kind == "notes":
        if not text.split():
            return (), "an empty sample: no files"
        score = tokens_score(text.split())
        return (write_midi(score, folder / f"{stem}.mid"), write_musicxml(score, folder / f"{stem}.musicxml"),
                piano_roll_png(score, folder / f"{stem}-roll.png", title=title),
                score_png(score, folder / f"{stem}.png", title=title)), ""
    path = folder / f"{stem}.abc"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "X:1\n" + text + "\n")
    check = check_abc(text)
    if not check.valid:
        return (path,), f"not a valid tune ({check.error}): no MIDI or score"
    score = abc_score(text)
    return (path, write_midi(score, folder / f"{stem}.mid"), score_png(score, folder / f"{stem}.png", title=title)), ""
