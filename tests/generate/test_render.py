"""Sampled music as files: MIDI that music21 reads back note for note, and a piano roll."""

import music21
import numpy as np
from PIL import Image

from apps.generate.render import abc_score, piano_roll_png, roll_notes, tokens_score, write_midi, write_musicxml

TUNE = "M:3/4\nL:1/8\nK:G\nG2 AB c2|d4 B2|c6|]"  # three bars: G A B C | D B | C (G major)


def test_abc_tune_roll_notes_and_bars():
    notes, bars = roll_notes(abc_score(TUNE))
    assert [p for *_, p in notes] == [67, 69, 71, 72, 74, 71, 72]
    assert [(s, d) for s, d, _ in notes] == [(0.0, 1.0), (1.0, 0.5), (1.5, 0.5), (2.0, 1.0), (3.0, 2.0),
                                             (5.0, 1.0), (6.0, 3.0)]
    assert bars == (0.0, 3.0, 6.0)


def test_midi_and_musicxml_read_back(tmp_path):
    score = tokens_score(["74:2", "rest:0.5", "77:1.5", "bad:x", "72"])
    midi = music21.converter.parse(str(write_midi(score, tmp_path / "a.mid")))
    assert [(n.pitch.midi, float(n.quarterLength)) for n in midi.flatten().notes] == [
        (74, 2.0), (77, 1.5), (72, 1.0)]
    assert float(midi.flatten().notes[1].offset) == 2.5  # after the rest
    xml = music21.converter.parse(str(write_musicxml(abc_score(TUNE), tmp_path / "t.musicxml")))
    assert [n.pitch.midi for n in xml.flatten().notes] == [67, 69, 71, 72, 74, 71, 72]


def test_piano_roll_png_draws_the_notes(tmp_path):
    path = piano_roll_png(abc_score(TUNE), tmp_path / "roll.png", title="a tune")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    blue = (np.abs(pixels - [31, 119, 180]).sum(-1) < 30)  # matplotlib's tab:blue
    assert pixels.shape[0] == 320 and blue.sum() > 500


def test_midi_falls_back_to_the_notes_when_music21_cannot_write_the_score(tmp_path, monkeypatch):
    score = abc_score(TUNE)

    def broken(*args, **kwargs):
        raise music21.exceptions21.StreamException("the object is already found in this Stream")

    monkeypatch.setattr(score, "write", broken)
    midi = music21.converter.parse(str(write_midi(score, tmp_path / "b.mid")))
    assert [(float(n.offset), n.pitch.midi) for n in midi.stripTies().flatten().notes] == [
        (s, p) for s, _, p in roll_notes(abc_score(TUNE))[0]]
