"""A small engraver of our own: one melody (a music21 stream) as a score picture, drawn with
PIL, so the tour and `classics generate sample` show tunes without MuseScore or LilyPond.

Drawn: the title; systems of `bars_per_line` bars on a five-line staff, each starting with a
treble clef and the key signature (sharps or flats at their usual places); the first bar's time
signature (not later ones: music21 gives incomplete ABC bars time signatures of their own,
such as 1/8 for a pickup); note heads placed by pitch (ledger lines above and below the staff),
filled for crotchets and shorter, hollow for minims and semibreves; stems (up below the middle
line, down from it); flags (one per beam the note would have: no beams); dots; accidentals
where the pitch differs from what the key and the earlier notes of the bar imply; rests; bar
lines. Not drawn: grace notes, ties, slurs, tuplet brackets, beams. Chords share one stem.

`engrave` computes the marks (`Page.marks`: kind, x, y, value) and `draw` paints them, so the
positions can be tested as numbers.
"""

from __future__ import annotations

import dataclasses
import pathlib

SPACE = 10.0  # pixels between two staff lines
E4 = 4 * 7 + 2  # diatonic index (octave * 7 + step) of the bottom staff line
STEPS = "CDEFGAB"
# Where the key signature's sharps and flats sit (diatonic index on the treble staff).
SHARP_PLACES = (38, 35, 39, 36, 33, 37, 34)  # F5 C5 G5 D5 A4 E5 B4
FLAT_PLACES = (34, 37, 33, 36, 32, 35, 31)  # B4 E5 A4 D5 G4 C5 F4
FLAGS = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4}
HOLLOW = ("half", "whole", "breve")
ACCIDENTALS = {1: "sharp", -1: "flat", 0: "natural", 2: "double-sharp", -2: "double-flat"}
SYSTEM_HEIGHT = 13 * SPACE  # a staff (4 spaces) and room for ledger lines above and below
TOP = 5 * SPACE  # the title's band


@dataclasses.dataclass(frozen=True)
class Mark:
    kind: str  # staff, clef, key, time, head, ledger, stem, flag, dot, accidental, rest, bar, title
    x: float
    y: float
    value: object = None  # head: filled (bool); stem: end y; accidental/key: sign; rest: type; time/title: text


@dataclasses.dataclass(frozen=True)
class Page:
    width: int
    height: int
    marks: tuple

    def of(self, kind: str) -> list:
        return [m for m in self.marks if m.kind == kind]


def diatonic(pitch) -> int:
    """octave * 7 + step (C=0 .. B=6): one staff position per step, E4 = 30 on the bottom line."""
    return pitch.octave * 7 + STEPS.index(pitch.step)


def staff_y(index: int, bottom: float) -> float:
    """The y of a diatonic position on a staff whose bottom line (E4) is at `bottom`."""
    return bottom - (index - E4) * SPACE / 2


def ledger_indices(index: int) -> list:
    """Diatonic positions of the ledger lines a note at `index` needs (C4 and below, A5 and up)."""
    if index <= E4 - 2:
        return list(range(E4 - 2, index - 1, -2))
    if index >= E4 + 10:
        return list(range(E4 + 10, index + 1, 2))
    return []


def _part(score):
    from music21 import stream

    parts = getattr(score, "parts", None)
    part = parts[0] if parts is not None and len(parts) else score
    if not list(part.recurse().getElementsByClass("Measure")):
        part = part.makeMeasures() if isinstance(part, stream.Stream) else part
    return part


def _key_alters(sharps: int) -> dict:
    """step -> alteration a key signature of `sharps` (negative: flats) implies."""
    if sharps >= 0:
        return {"FCGDAEB"[i]: 1 for i in range(sharps)}
    return {"BEADGCF"[i]: -1 for i in range(-sharps)}


def _events(measure) -> list:
    return [e for e in measure.recurse().notesAndRests if not e.duration.isGrace]


def engrave(score, title: str = "", bars_per_line: int = 4, width: int = 1000) -> Page:
    """The marks of `score`'s first part (bars made from its time signature if it has none)."""
    part = _part(score)
    measures = list(part.recurse().getElementsByClass("Measure"))
    keys = list(part.recurse().getElementsByClass("KeySignature"))
    sharps = keys[0].sharps if keys else 0
    lines = [measures[i:i + bars_per_line] for i in range(0, len(measures), bars_per_line)] or [[]]
    marks = [Mark("title", width / 2, TOP / 2, title)] if title else []
    left, right = 2 * SPACE, width - 2 * SPACE
    scale = None
    for row, line in enumerate(lines):
        bottom = TOP + row * SYSTEM_HEIGHT + 8 * SPACE
        marks += [Mark("staff", left, bottom - i * SPACE, right) for i in range(5)]
        marks.append(Mark("clef", left + 1.5 * SPACE, staff_y(E4 + 2, bottom)))  # curls round G4
        x = left + 3.5 * SPACE
        x, key_marks = _key_signature(sharps, x, bottom)
        marks += key_marks
        # Natural widths: an event 2.6 spaces (more with an accidental or dots), a bar 1 space of padding.
        plans = []
        for measure in line:
            plans.append(_plan_measure(measure, sharps, first=measure is measures[0]))
            sharps = plans[-1]["sharps"]
        natural = sum(p["width"] for p in plans)
        fitted = (right - x) / natural if natural else 1.0
        if row < len(lines) - 1 or scale is None:
            scale = fitted
        scale = min(scale, fitted)  # the last system keeps the others' spacing, unless it would not fit
        for plan in plans:
            x = _measure_marks(plan, x, scale, bottom, marks)
        if row == len(lines) - 1 and len(lines) > 1:
            marks = [m if not (m.kind == "staff" and m.y > bottom - 5 * SPACE) else
                     dataclasses.replace(m, value=x) for m in marks]  # the last staff ends at its last bar
    height = int(TOP + len(lines) * SYSTEM_HEIGHT + SPACE)
    return Page(width=width, height=height, marks=tuple(marks))


def _key_signature(sharps: int, x: float, bottom: float) -> tuple:
    places = SHARP_PLACES if sharps > 0 else FLAT_PLACES
    sign = "sharp" if sharps > 0 else "flat"
    marks = [Mark("key", x + i * 1.1 * SPACE, staff_y(places[i], bottom), sign) for i in range(abs(sharps))]
    return x + abs(sharps) * 1.1 * SPACE + SPACE, marks


def _plan_measure(measure, sharps: int, first: bool) -> dict:
    """The events of a bar with the accidentals they show; the key and time it carries."""
    if measure.keySignature is not None and measure.keySignature.sharps != sharps:
        sharps = measure.keySignature.sharps
        changed_key = True
    else:
        changed_key = False
    alters, events = _key_alters(sharps), []
    for event in _events(measure):
        shown = []
        for pitch in getattr(event, "pitches", ()):
            alter = int(round(pitch.alter))
            place = (pitch.step, pitch.octave)
            expected = alters.get(place, alters.get(pitch.step, 0))
            if alter != expected:
                shown.append(ACCIDENTALS.get(alter, "natural"))
                alters[place] = alter
            else:
                shown.append(None)
        events.append((event, shown))
    time = measure.timeSignature if first else None
    widths = [2.6 + (0.9 if any(s) else 0) + 0.5 * e.duration.dots for e, s in events]
    extra = (3.0 if time is not None else 0) + (abs(sharps) * 1.1 + 1 if changed_key else 0)
    return {"events": events, "widths": widths, "time": time, "sharps": sharps, "changed_key": changed_key,
            "width": (sum(widths) + 1.0 + extra) * SPACE}


def _measure_marks(plan, x: float, scale: float, bottom: float, marks: list) -> float:
    """Appends the marks of one planned bar starting at x; returns x after its bar line."""
    if plan["changed_key"]:
        x, key_marks = _key_signature(plan["sharps"], x, bottom)
        marks += key_marks
    if plan["time"] is not None:
        marks.append(Mark("time", x + SPACE, staff_y(E4 + 4, bottom), f"{plan['time'].numerator}/"
                                                                      f"{plan['time'].denominator}"))
        x += 3.0 * SPACE
    x += 0.5 * SPACE * scale
    for (event, shown), width in zip(plan["events"], plan["widths"]):
        head_x = x + (0.9 * SPACE if any(shown) else 0) + SPACE
        _event_marks(event, shown, head_x, bottom, marks)
        x += width * SPACE * scale
    x += 0.5 * SPACE * scale
    marks.append(Mark("bar", x, bottom - 4 * SPACE, bottom))
    return x


def _event_marks(event, shown, x: float, bottom: float, marks: list) -> None:
    kind = event.duration.type
    if event.isRest:
        marks.append(Mark("rest", x, staff_y(E4 + 4, bottom), kind))
        return
    indices = [diatonic(p) for p in event.pitches]
    for index, sign in zip(indices, shown):
        y = staff_y(index, bottom)
        marks.append(Mark("head", x, y, kind not in HOLLOW))
        marks += [Mark("ledger", x, staff_y(i, bottom)) for i in ledger_indices(index)]
        if sign:
            marks.append(Mark("accidental", x - 1.6 * SPACE, y, sign))
        on_line = (index - E4) % 2 == 0
        for d in range(event.duration.dots):
            marks.append(Mark("dot", x + (1.4 + 0.6 * d) * SPACE, y - (SPACE / 2 if on_line else 0)))
    if kind in ("whole", "breve"):
        return
    up = sum(indices) / len(indices) < E4 + 4  # below the middle line (B4): stem up
    low, high = staff_y(min(indices), bottom), staff_y(max(indices), bottom)
    stem_x = x + 0.6 * SPACE if up else x - 0.6 * SPACE
    start, end = (low, high - 3.5 * SPACE) if up else (high, low + 3.5 * SPACE)
    marks.append(Mark("stem", stem_x, start, end))
    for i in range(FLAGS.get(kind, 0)):
        marks.append(Mark("flag", stem_x, end + (i * 0.8 * SPACE if up else -i * 0.8 * SPACE), "up" if up else "down"))


# ------------------------------------------------------------------ painting
def draw(page: Page, path) -> pathlib.Path:
    """Paints a page's marks as a black-on-white PNG."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", (page.width, page.height), 255)
    pen = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=int(1.6 * SPACE)), ImageFont.load_default(size=int(2.2 * SPACE))
    for m in page.marks:
        painter = _PAINTERS.get(m.kind)
        if painter:
            painter(pen, m)
        elif m.kind == "title":
            pen.text((m.x, m.y), m.value, fill=0, anchor="mm", font=small)
        elif m.kind == "time":
            top, bottom = m.value.split("/")
            pen.text((m.x, m.y - SPACE), top, fill=0, anchor="mm", font=big)
            pen.text((m.x, m.y + SPACE), bottom, fill=0, anchor="mm", font=big)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _staff(pen, m):
    pen.line([(m.x, m.y), (m.value, m.y)], fill=0, width=1)


def _clef(pen, m):
    # A treble clef from strokes: a spine from below the staff to above it, a loop round the G line.
    s, x, y = SPACE, m.x, m.y
    pen.line([(x + 0.2 * s, y + 2.6 * s), (x - 0.2 * s, y - 4.8 * s)], fill=0, width=2)
    pen.arc([x - 0.9 * s, y - 1.0 * s, x + 0.9 * s, y + 1.0 * s], 0, 360, fill=0, width=2)
    pen.arc([x - 1.3 * s, y - 2.4 * s, x + 1.0 * s, y + 1.2 * s], 90, 300, fill=0, width=2)
    pen.arc([x - 0.8 * s, y - 5.4 * s, x + 0.6 * s, y - 3.0 * s], 180, 40, fill=0, width=2)
    pen.ellipse([x - 0.3 * s, y + 2.4 * s, x + 0.3 * s, y + 3.0 * s], fill=0)


def _head(pen, m):
    box = [m.x - 0.65 * SPACE, m.y - 0.45 * SPACE, m.x + 0.65 * SPACE, m.y + 0.45 * SPACE]
    pen.ellipse(box, fill=0 if m.value else None, outline=0, width=2)


def _ledger(pen, m):
    pen.line([(m.x - 1.1 * SPACE, m.y), (m.x + 1.1 * SPACE, m.y)], fill=0, width=1)


def _stem(pen, m):
    pen.line([(m.x, m.y), (m.x, m.value)], fill=0, width=1)


def _flag(pen, m):
    direction = 1 if m.value == "up" else -1
    pen.line([(m.x, m.y), (m.x + 0.9 * SPACE, m.y + direction * 1.4 * SPACE)], fill=0, width=2)


def _dot(pen, m):
    pen.ellipse([m.x - 2, m.y - 2, m.x + 2, m.y + 2], fill=0)


def _sign(pen, m):
    s, x, y = SPACE, m.x, m.y
    if m.value in ("sharp", "double-sharp"):
        for dx in (-0.25 * s, 0.25 * s):
            pen.line([(x + dx, y - 1.3 * s), (x + dx, y + 1.3 * s)], fill=0, width=1)
        for dy in (-0.4 * s, 0.4 * s):
            pen.line([(x - 0.55 * s, y + dy + 0.15 * s), (x + 0.55 * s, y + dy - 0.15 * s)], fill=0, width=2)
    elif m.value in ("flat", "double-flat"):
        pen.line([(x - 0.35 * s, y - 1.8 * s), (x - 0.35 * s, y + 0.5 * s)], fill=0, width=1)
        pen.arc([x - 0.7 * s, y - 0.5 * s, x + 0.4 * s, y + 0.5 * s], 270, 120, fill=0, width=2)
    else:  # natural
        pen.line([(x - 0.3 * s, y - 1.3 * s), (x - 0.3 * s, y + 0.5 * s)], fill=0, width=1)
        pen.line([(x + 0.3 * s, y - 0.5 * s), (x + 0.3 * s, y + 1.3 * s)], fill=0, width=1)
        for dy in (-0.4 * s, 0.4 * s):
            pen.line([(x - 0.3 * s, y + dy + 0.1 * s), (x + 0.3 * s, y + dy - 0.1 * s)], fill=0, width=2)


def _rest(pen, m):
    s, x, y = SPACE, m.x, m.y  # y: the middle line
    if m.value in ("whole", "breve"):  # hangs from the line above the middle
        pen.rectangle([x - 0.6 * s, y - s, x + 0.6 * s, y - 0.5 * s], fill=0)
    elif m.value == "half":  # sits on the middle line
        pen.rectangle([x - 0.6 * s, y - 0.5 * s, x + 0.6 * s, y], fill=0)
    elif m.value == "quarter":
        pen.line([(x - 0.3 * s, y - 1.5 * s), (x + 0.3 * s, y - 0.6 * s), (x - 0.3 * s, y + 0.2 * s),
                  (x + 0.3 * s, y + 0.9 * s), (x - 0.2 * s, y + 1.2 * s)], fill=0, width=2)
    else:  # eighth and shorter: a slanted stroke with one hook per flag
        pen.line([(x + 0.5 * s, y - 1.0 * s), (x - 0.2 * s, y + 1.5 * s)], fill=0, width=1)
        for i in range(max(1, FLAGS.get(m.value, 1))):
            hook_y = y - 1.0 * s + i * 0.8 * s
            pen.ellipse([x - 0.6 * s, hook_y - 0.3 * s, x - 0.1 * s, hook_y + 0.2 * s], fill=0)
            pen.line([(x - 0.3 * s, hook_y), (x + 0.5 * s - i * 0.2 * s, hook_y - 0.1 * s)], fill=0, width=1)


def _bar(pen, m):
    pen.line([(m.x, m.y), (m.x, m.value)], fill=0, width=1)


_PAINTERS = {"staff": _staff, "clef": _clef, "head": _head, "ledger": _ledger, "stem": _stem, "flag": _flag,
             "dot": _dot, "key": _sign, "accidental": _sign, "rest": _rest, "bar": _bar}


def score_png(score, path, title: str = "", bars_per_line: int = 4, width: int = 1000) -> pathlib.Path:
    """`score` engraved and painted as a PNG at `path`."""
    return draw(engrave(score, title, bars_per_line, width), path)
