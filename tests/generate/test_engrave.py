"""Our engraver against positions worked out by hand (SPACE = 10 px between staff lines)."""

import numpy as np
from PIL import Image

from apps.generate.engrave import SPACE, TOP, diatonic, engrave, ledger_indices, score_png, staff_y
from apps.generate.render import abc_score, tokens_score

# Two bars of 3/4 in D (two sharps), a third with a natural, and a fourth of rests.
TUNE = "M:3/4\nL:1/8\nK:D\nD2 F2 A2|d4 f>e|=c2 c2 ^c2|z2 z4|]"


def test_staff_positions_by_hand():
    from music21 import pitch

    assert diatonic(pitch.Pitch("E4")) == 30 and diatonic(pitch.Pitch("F5")) == 38
    bottom = 200.0
    assert staff_y(30, bottom) == 200.0  # E4 on the bottom line
    assert staff_y(38, bottom) == 160.0  # F5 on the top line: 4 spaces up
    assert staff_y(diatonic(pitch.Pitch("B4")), bottom) == 180.0  # the middle line
    assert ledger_indices(diatonic(pitch.Pitch("C4"))) == [28]  # middle C: one ledger line
    assert ledger_indices(diatonic(pitch.Pitch("B3"))) == [28]
    assert ledger_indices(diatonic(pitch.Pitch("A3"))) == [28, 26]
    assert ledger_indices(diatonic(pitch.Pitch("C6"))) == [40, 42]  # A5, C6
    assert ledger_indices(diatonic(pitch.Pitch("G5"))) == []


def test_tune_marks():
    page = engrave(abc_score(TUNE), title="a tune", bars_per_line=4)
    bottom = TOP + 8 * SPACE  # the first system's E4 line
    assert [m.y for m in page.of("staff")] == [bottom - i * SPACE for i in range(5)]
    assert len(page.of("bar")) == 4 and len(page.of("clef")) == 1
    keys = page.of("key")  # D major: F#5 on the top line, C#5 in the third space
    assert [(k.value, k.y) for k in keys] == [("sharp", bottom - 4 * SPACE), ("sharp", bottom - 2.5 * SPACE)]
    assert [t.value for t in page.of("time")] == ["3/4"]
    heads = page.of("head")
    # D4 F#4 A4 | D5 F#5 E5 | C5 C5 C#5: one space = two steps
    assert [h.y for h in heads] == [bottom + 5, bottom - 5, bottom - 15, bottom - 30, bottom - 40, bottom - 35,
                                    bottom - 25, bottom - 25, bottom - 25]
    assert [h.value for h in heads] == [True, True, True, False, True, True, True, True, True]  # d4: a minim
    assert len(page.of("ledger")) == 0  # D4 hangs below the bottom line, needs none
    # The key makes C sharp: =c shows a natural, the next c none (the bar keeps it), ^c a sharp.
    assert [(a.value, a.y) for a in page.of("accidental")] == [("natural", bottom - 25), ("sharp", bottom - 25)]
    assert len(page.of("dot")) == 1 and page.of("dot")[0].y == bottom - 40 - 5  # f> : dotted, on a line
    assert [r.value for r in page.of("rest")] == ["quarter", "half"]
    stems = page.of("stem")  # below the middle line up, from it down; the minim has one too
    assert [s.value < s.y for s in stems] == [True, True, True, False, False, False, False, False, False]
    assert len(page.of("flag")) == 3  # f> e: a dotted quaver (one flag) and a semiquaver (two)
    bars = [b.x for b in page.of("bar")]
    assert [sum(h.x < x for h in heads) for x in bars] == [3, 6, 9, 9]  # each head before its bar line


def test_wrapping_and_flat_keys():
    tune = "M:2/4\nL:1/8\nK:Bb\n" + "|".join(["B2 e2"] * 9) + "|]"  # 9 bars in B flat
    page = engrave(abc_score(tune), bars_per_line=4)
    assert len(page.of("bar")) == 9
    assert len(page.of("clef")) == 3 and len(page.of("staff")) == 15  # 4 + 4 + 1 bars: three systems
    assert [k.value for k in page.of("key")] == ["flat"] * 6  # two flats at each system's start
    bottom = TOP + 8 * SPACE
    assert [k.y for k in page.of("key")[:2]] == [bottom - 2 * SPACE, bottom - 3.5 * SPACE]  # B4, E5
    assert page.height == int(TOP + 3 * 13 * SPACE + SPACE)


def test_note_lines_get_bars_and_a_png(tmp_path):
    score = tokens_score(["60:2", "62:1", "64:1", "65:4", "rest:1"])  # chorale tokens: no bars of their own
    page = engrave(score, title="line")
    assert len(page.of("bar")) == 3  # made from 4/4: 4 + 4 + 1 quarters
    assert len(page.of("ledger")) == 1  # middle C
    path = score_png(score, tmp_path / "line.png", title="line")
    pixels = np.asarray(Image.open(path))
    assert pixels.shape == (page.height, page.width)
    head = page.of("head")[1]  # a filled crotchet: dark at its centre
    assert pixels[int(head.y), int(head.x)] < 100 and pixels[5, 5] == 255
