"""Human-readable dates -> ISO `YYYY-MM-DD`: the course's date translation data, in 5 locales.

Each sample is a random calendar date written by Babel (CLDR data) in one locale with one of
the course's formats, lowercased and without commas as in the course ("tuesday 09 oct
1993", "3 may 1979", "5/3/79", "31.12.17"), and its ISO form ("1993-10-09").

Two traps, both tested:
- CLDR's `Y` is the *week-based* year: `YYYY` writes 2017-12-31 as "31 Dec 2018" in en_US.
  The patterns here use `yyyy` / `yy`, the calendar year.
- Numbers alone can be ambiguous: es_ES's short "3/5/79" is 3 May, en_US's is 5 March. A
  sample whose text some other locale and numeric format writes for a different date is
  dropped (counted in `DateData.ambiguous`). Two-digit years need the date range to span at
  most 100 years; `generate_dates` refuses wider ranges.
"""

import dataclasses
import datetime

import babel.dates
import numpy as np

from apps.common.errors import ConfigError

LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES")

# The course's list (full written 10x, as it weighs them), with the calendar year yyyy/yy
# instead of the course's YYY/YY, plus "tuesday 09 oct 1993".
FORMATS = (
    ("short", "medium", "long")
    + ("full",) * 10
    + (
        "d MMM yyyy",
        "d MMMM yyyy",
        "dd MMM yyyy",
        "d MMM, yyyy",
        "d MMMM, yyyy",
        "dd, MMM yyyy",
        "d MM yy",
        "d MMMM yyyy",
        "MMMM d yyyy",
        "MMMM d, yyyy",
        "dd.MM.yy",
        "EEEE dd MMM yyyy",
    )
)

START, END = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


@dataclasses.dataclass(frozen=True)
class DateSample:
    human: str  # "tuesday 09 oct 1993"
    iso: str  # "1993-10-09"
    locale: str  # "en_GB"
    pattern: str  # "EEEE dd MMM yyyy" or a CLDR length ("full")


@dataclasses.dataclass(frozen=True)
class DateData:
    """Splits of samples; no human string is in two splits. `ambiguous`: samples dropped."""

    train: tuple
    val: tuple
    test: tuple
    ambiguous: int


def write_date(date, pattern, locale):
    """The course's text of `date`: Babel's, lowercased, without commas."""
    return babel.dates.format_date(date, format=pattern, locale=locale).lower().replace(",", "")


def _numeric_formats(locales, formats):
    """(locale, pattern) pairs that write digits and separators only (no month names)."""
    probe = datetime.date(2001, 11, 22)
    return [
        (loc, p)
        for loc in locales
        for p in sorted(set(formats))
        if not any(ch.isalpha() for ch in write_date(probe, p, loc))
    ]


def _is_ambiguous(date, human, numeric_formats):
    """Some numeric format writes `human` for the day/month-swapped date too."""
    if date.day > 12 or date.day == date.month or any(ch.isalpha() for ch in human):
        return False
    swapped = date.replace(month=date.day, day=date.month)
    return any(write_date(swapped, p, loc) == human for loc, p in numeric_formats)


def generate_dates(n, seed, locales=LOCALES, formats=FORMATS, start=START, end=END):
    """`n` random (date, locale, format) samples, uniform over each, minus the ambiguous ones.

    Returns (samples, number dropped as ambiguous). Deterministic for a seed.
    """
    for name, value in (("locales", locales), ("formats", formats)):
        if not value:
            raise ConfigError(f"dates: `{name}` must not be empty")
    for locale in locales:
        try:
            babel.Locale.parse(locale)
        except (ValueError, babel.UnknownLocaleError):
            raise ConfigError(f"dates: unknown locale {locale!r}; e.g. {', '.join(LOCALES)}") from None
    if not start <= end or end.year - start.year >= 100:
        raise ConfigError(
            f"dates: need start <= end within 100 years (two-digit years), got {start} .. {end}"
        )
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (end - start).days + 1, size=n)
    locale_ids = rng.integers(0, len(locales), size=n)
    format_ids = rng.integers(0, len(formats), size=n)
    numeric = _numeric_formats(locales, formats)
    samples, ambiguous = [], 0
    for day, li, fi in zip(days, locale_ids, format_ids):
        date = start + datetime.timedelta(days=int(day))
        human = write_date(date, formats[fi], locales[li])
        if _is_ambiguous(date, human, numeric):
            ambiguous += 1
            continue
        samples.append(DateSample(human, date.isoformat(), locales[li], formats[fi]))
    return samples, ambiguous


def split_by_text(samples, fractions, seed):
    """(train, val, test) with every distinct human string in exactly one split.

    The distinct strings are shuffled (seeded) and cut by `fractions` (val, test) of their
    number; repeated strings follow their first occurrence, so sizes in samples are close to,
    not exactly, the fractions.
    """
    val_fraction, test_fraction = fractions
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"dates: split fractions (val, test) must be in [0, 1) and sum < 1, got {fractions}"
        )
    texts = sorted({s.human for s in samples})
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val, n_test = round(val_fraction * len(texts)), round(test_fraction * len(texts))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[texts[index]] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    splits = ([], [], [])
    for sample in samples:
        splits[split_of[sample.human]].append(sample)
    return tuple(tuple(s) for s in splits)


def load_dates(n, seed, fractions=(0.1, 0.1), **generate_kwargs):
    """`n` samples generated with `seed`, split by text: a `DateData`."""
    samples, ambiguous = generate_dates(n, seed, **generate_kwargs)
    train, val, test = split_by_text(samples, fractions, seed)
    return DateData(train, val, test, ambiguous)
