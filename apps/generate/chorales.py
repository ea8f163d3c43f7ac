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
import hashlib
import json
from pathlib import Path

from apps.common.errors import DataError
from apps.common.files import write_json
from apps.common.packages import cache_root


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
    files that are not four-part or that music21 cannot parse. Parsing all 408 files takes
    1-2 minutes, so the result for music21's own list is kept in the package cache
    (`cache_root()/generate/`, one JSON file per music21 version and file list)."""
    import music21

    paths = chorale_paths() if paths is None else list(paths)
    key = hashlib.sha256("\n".join(Path(p).name for p in paths).encode()).hexdigest()[:16]
    cache = cache_root() / "generate" / f"bach-sopranos-music21-{music21.__version__}-{key}.json"
    if cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        return tuple(Chorale(name, tuple(tokens)) for name, tokens in stored["chorales"]), stored["skipped"]
    chorales, skipped = [], 0
    for path in paths:
        try:
            tokens = soprano_tokens(music21.corpus.parse(str(path)))
        except Exception:  # noqa: BLE001 - not four-part (DataError), or music21 cannot parse it
            skipped += 1
            continue
        chorales.append(Chorale(name=Path(path).stem, tokens=tokens))
    write_json(cache, {"chorales": [[c.name, list(c.tokens)] for c in chorales], "skipped": skipped})
    return tuple(chorales), skipped


def pitches(tokens) -> tuple:
    """The pitch part of note tokens ("65:1.0" -> "65", "rest:0.5" -> "rest")."""
    return tuple(token.split(":", 1)[0] for token in tokens)
