"""ABC tunes reduced to their notes: performance marks dropped, every note, rest, bar line,
repeat, tuplet, tie, chord and grace note kept (`abc_marks="drop"` in the config).

Repeat endings after a bar line are written "|2", not "|[2" (the books use both). Dropped,
outside inline fields and header lines: slurs `(` `)` (a `(` before a digit opens a
tuplet and stays), the decorations `.` (staccato), `~` (roll), `T` (trill), `H` (fermata),
`!...!` decorations and `"..."` strings (chord names and annotations such as "D.C." or ">").
On O'Neill's tunes these are 7 % of the characters, and the marks sampled tunes most often
leave open (an unclosed quote swallows the bars that follow). music21 reads every note of the
original from the reduced tune (chord names such as "G" it reads as chords; they go), and in
34 of every 5th tune (368) notes it drops from the original: after an H (fermata) or a ">"
annotation; in 11 more a broken rhythm ("A>).G") it reads unbroken when a mark stands between
the two notes (tests/generate/test_abc_marks.py).
"""

import re

# A quoted string, a !decoration!, a slur bracket (not a tuplet's "(3"), a one-symbol decoration.
_MARK_RE = re.compile(r'"[^"\n]*"|![^!\n]*!|\((?!\d)|\)|[.~TH]')
_FIELD_LINE_RE = re.compile(r"^[A-Za-z+]:")
_INLINE_FIELD_RE = re.compile(r"(\[[A-Za-z]:[^\]\n]*\])")
# An ending's number after a bar line, written "[2" (":|[2", or "|" ending a line and "[2" the
# next): written "|2" as the books mostly do (2,612 times against 69), so "[" opens chords alone.
_ENDING_RE = re.compile(r"([|:])(\n?)\[(\d)")


def _drop_marks(line: str) -> str:
    # Inline fields ([K:D], [M:3/4]) stay as written: split them out, clean the rest.
    parts = _INLINE_FIELD_RE.split(line)
    return "".join(part if i % 2 else _MARK_RE.sub("", part) for i, part in enumerate(parts))


def notes_only(tune: str) -> str:
    """`tune` (M/L/K lines, then the body) with its performance marks dropped; field lines as
    they are. Lines left empty go; trailing spaces go."""
    lines = []
    for line in _ENDING_RE.sub(r"\1\3\2", tune).split("\n"):
        if _FIELD_LINE_RE.match(line):
            lines.append(line)
            continue
        cleaned = _drop_marks(line).rstrip()
        if cleaned.strip() and cleaned.strip() != "\\":
            lines.append(cleaned)
    return "\n".join(lines)
