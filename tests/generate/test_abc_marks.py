"""Tunes reduced to their notes: marks dropped by hand-written examples, the notes music21
reads kept, and the reduction applied to every split alike."""

import dataclasses

from apps.generate.abc_marks import notes_only
from apps.generate.config import Config
from apps.generate.data import load_data
from apps.generate.render import abc_score


def _notes(tune):
    return [(tuple(p.nameWithOctave for p in n.pitches), float(n.quarterLength))
            for n in abc_score(tune).recurse().notesAndRests]


def test_marks_dropped_notes_tuplets_fields_kept():
    tune = ('M:6/8\nL:1/8\nK:D\n(3ABc (de).f ~g2 Ta | "D.C."!fermata!Hd3 [K:G] "Am"[ce]2 {g}f|\n'
            '"Segno"\nM:9/8\n(DE)F .G>A B/c/ z|]')
    assert notes_only(tune) == ("M:6/8\nL:1/8\nK:D\n(3ABc def g2 a | d3 [K:G] [ce]2 {g}f|\n"
                                "M:9/8\nDEF G>A B/c/ z|]")


def test_endings_after_bar_lines_lose_their_bracket_chords_keep_it():
    tune = "M:C\nL:1/8\nK:G\n|:GABc d4|1 e8:|[2 [ce]8|\nGABc|\n[2d8|]"
    assert notes_only(tune) == "M:C\nL:1/8\nK:G\n|:GABc d4|1 e8:|2 [ce]8|\nGABc|2\nd8|]"
    assert _notes(notes_only(tune)) == _notes(tune)
    measures = [len(list(abc_score(t).recurse().getElementsByClass("Measure"))) for t in (tune, notes_only(tune))]
    assert measures[0] == measures[1] == 5


def test_music21_reads_the_same_notes_without_the_marks():
    tune = "M:6/8\nL:1/8\nK:G\n(3(ABc) .d(ef) | ~g2 Ta (b/a/g/f/) z|\n(DE)F [G2B2] {a}g z|]"
    assert _notes(notes_only(tune)) == _notes(tune)
    assert len(_notes(tune)) == 20  # 13 + 7, the grace note too


def test_music21_drops_a_note_after_a_fermata_that_the_reduced_tune_keeps():
    # H (fermata) before a broken rhythm: music21 reads one c of "Hc>c"; ABC has two.
    tune = "M:C\nL:1/8\nK:C\nAG Hc>c d4|]"
    assert [p for (p,), _ in _notes(notes_only(tune))] == ["A4", "G4", "C5", "C5", "D5"]
    assert len(_notes(tune)) == 4


def test_load_data_reduces_every_split_and_counts_tunes_made_equal(tmp_path):
    path = tmp_path / "tunes.txt"
    lines = [f'"G"(AB)c{"d" * i}|' for i in range(9)] + ["ABc|"]  # the last equals the first once reduced
    path.write_text("\n".join(lines))
    config = dataclasses.replace(Config(), data=f"text:{path}", abc_marks="drop", val_fraction=0.2,
                                 test_fraction=0.2)
    data = load_data(config)
    items = data.train + data.val + data.test
    assert len(items) == 9 and not any(set('"()') & set(t) for t in items)
    assert sorted(items) == sorted(f"ABc{'d' * i}|" for i in range(9))
    assert dict(data.dropped) == {"equal to another once marks dropped": 1}
    assert load_data(dataclasses.replace(config, abc_marks="keep")).train[0].startswith('"G"(AB)')
