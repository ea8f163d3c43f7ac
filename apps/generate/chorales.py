"""Bach chorale melodies as note tokens, for a note-level language model.

music21's corpus (installed with the music21 wheel, no download) holds Bach's chorales as
`bach/*.mxl`; the four-part ones (exactly four parts: soprano, alto, tenor, bass) give their
soprano line. Tied notes are merged first, so a token is one sounding note or rest:

    "<midi pitch>:<quarter length>"   e.g. "65:1.0" (F4, a crotchet), "rest:0.5"

A chord in the soprano (rare) gives its top pitch. One chorale = one item; splits are by
chorale (apps/generate/corpora.split_items), so no held-out melody is trained on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from apps.common.errors import DataError


@dataclasses.dataclass(frozen=True)
class Chorale:
    name: str  # the file's stem, e.g. "bwv10.7"
    tokens: tuple


def note_token(element) -> str:
    """The token of one music21 note, chord (its top pitch) or rest."""
    length = float(element.quarterLength)
    if element.isRest:
        return f"rest:{length:g}"
    pitch = max(element.pitches, key=lambda p: p.midi) if element.isChord else element.pitch
    return f"{pitch.midi}:{length:g}"


def soprano_tokens(score) -> tuple:
    """Tokens of the first (soprano) part of a four-part score; DataError otherwise."""
    if len(score.parts) != 4:
        raise DataError(f"{score.metadata.title if score.metadata else 'score'}: "
                        f"{len(score.parts)} parts, expected 4")
    line = score.parts[0].stripTies().flatten().notesAndRests
    return tuple(note_token(element) for element in line if float(element.quarterLength) > 0)


def chorale_paths() -> list:
    """music21's Bach chorale files (`bach/*.mxl`), sorted by name."""
    from music21 import corpus

    return sorted((Path(p) for p in corpus.getComposer("bach") if Path(p).suffix == ".mxl"),
                  key=lambda p: p.name)


def load_chorales(paths=None) -> tuple:
    """(chorales, skipped): the four-part chorales' soprano lines; `skipped` counts the
    files that are not four-part or that music21 cannot parse."""
    from music21 import corpus

    chorales, skipped = [], 0
    for path in chorale_paths() if paths is None else paths:
        try:
            tokens = soprano_tokens(corpus.parse(str(path)))
        except DataError:
            skipped += 1
            continue
        except Exception:  # noqa: BLE001 - music21 raises many kinds on a malformed file
            skipped += 1
            continue
        chorales.append(Chorale(name=Path(path).stem, tokens=tokens))
    return tuple(chorales), skipped
