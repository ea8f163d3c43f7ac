import datetime
import re

import babel.dates
import numpy as np
import pytest

from apps.common.errors import ConfigError
from apps.translation.dates import FORMATS, LOCALES, generate_dates, load_dates, write_date
from apps.translation.vocabulary import PAD_ID, UNKNOWN_ID, CharVocabulary, report_unknown


@pytest.fixture(scope="module")
def data():
    return load_dates(3000, seed=7)


def test_course_examples_in_five_locales():
    may3 = datetime.date(1979, 5, 3)
    assert write_date(may3, "d MMMM yyyy", "en_US") == "3 may 1979"
    assert write_date(may3, "short", "en_US") == "5/3/79"
    assert write_date(may3, "full", "en_US") == "thursday may 3 1979"
    assert write_date(datetime.date(1993, 10, 9), "EEEE dd MMM yyyy", "en_GB") == "saturday 09 oct 1993"
    assert write_date(may3, "long", "fr_FR") == "3 mai 1979"
    assert write_date(may3, "full", "de_DE") == "donnerstag 3. mai 1979"
    assert write_date(may3, "long", "es_ES") == "3 de mayo de 1979"
    assert write_date(may3, "dd.MM.yy", "de_DE") == "03.05.79"


def test_week_based_year_trap_is_avoided():
    new_year_eve = datetime.date(2017, 12, 31)
    # CLDR's Y is the week-based year: the course's pattern would label this sample 2018.
    assert babel.dates.format_date(new_year_eve, "d MMM YYYY", locale="en_US") == "31 Dec 2018"
    assert write_date(new_year_eve, "d MMM yyyy", "en_US") == "31 dec 2017"
    # Every locale and format around several new years writes the calendar year.
    for year in (1950, 1979, 2000, 2017, 2020, 2049):
        for date in [datetime.date(year, 12, d) for d in (28, 29, 30, 31)] + [
            datetime.date(year, 1, d) for d in (1, 2, 3, 4)
        ]:
            for locale in LOCALES:
                for pattern in set(FORMATS):
                    assert _year_is_right(write_date(date, pattern, locale), date.year), (
                        date,
                        locale,
                        pattern,
                    )


def _year_is_right(human, year):
    numbers = re.findall(r"\d+", human)
    long_years = [n for n in numbers if len(n) == 4]
    if long_years:
        return long_years == [str(year)]
    # Two-digit year: the last number (d/M/yy, M/d/yy, dd.MM.yy and d MM yy all end with it).
    return numbers[-1] == f"{year % 100:02d}"


def test_samples_have_the_right_year_and_date(data):
    samples = data.train + data.val + data.test
    assert len(samples) + data.ambiguous == 3000
    for s in samples:
        date = datetime.date.fromisoformat(s.iso)
        assert _year_is_right(s.human, date.year), s
        assert s.human == write_date(date, s.pattern, s.locale)
        assert s.human == s.human.lower() and "," not in s.human


def test_deterministic_and_covering_locales_and_formats(data):
    again = load_dates(3000, seed=7)
    assert again == data
    other = load_dates(3000, seed=8)
    assert other.train != data.train
    samples = data.train + data.val + data.test
    assert {s.locale for s in samples} == set(LOCALES)
    assert {s.pattern for s in samples} == set(FORMATS)
    # full is weighted 10x of 24 formats, as in the course
    assert abs(np.mean([s.pattern == "full" for s in samples]) - 10 / 24) < 0.03


def test_no_text_in_two_splits(data):
    train, val, test = ({s.human for s in split} for split in (data.train, data.val, data.test))
    assert not (train & val) and not (train & test) and not (val & test)
    total = len(data.train) + len(data.val) + len(data.test)
    assert 0.07 < len(data.test) / total < 0.13 and 0.07 < len(data.val) / total < 0.13


def test_ambiguous_numeric_dates_are_dropped():
    # es_ES short is d/M/yy, en_US short M/d/yy: "3/5/79" means two dates.
    assert write_date(datetime.date(1979, 5, 3), "short", "es_ES") == write_date(
        datetime.date(1979, 3, 5), "short", "en_US"
    )
    samples, ambiguous = generate_dates(
        2000,
        seed=0,
        locales=("en_US", "es_ES"),
        formats=("short",),
        start=datetime.date(1979, 1, 1),
        end=datetime.date(1979, 12, 31),
    )
    assert ambiguous > 0
    targets = {}
    for s in samples:
        targets.setdefault(s.human, set()).add(s.iso)
    assert all(len(t) == 1 for t in targets.values())
    # Days after the 12th cannot be read the other way; equal day and month read the same.
    assert any(int(s.iso[8:]) > 12 for s in samples)
    for day in (datetime.date(1979, 4, 4), datetime.date(1979, 4, 13)):
        kept, dropped = generate_dates(
            5, seed=0, locales=("en_US", "es_ES"), formats=("short",), start=day, end=day
        )
        assert dropped == 0 and len(kept) == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(locales=("xx_YY",)), "unknown locale 'xx_YY'"),
        (dict(locales=()), "`locales` must not be empty"),
        (dict(start=datetime.date(1900, 1, 1)), "within 100 years"),
    ],
)
def test_bad_arguments_raise_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_dates(10, seed=0, **kwargs)


def test_vocabulary_reserves_pad_and_unknown(data):
    vocabulary = CharVocabulary.from_texts(s.human for s in data.train)
    assert vocabulary.tokens[:2] == ("<pad>", "<unk>") and len(set(vocabulary.tokens)) == vocabulary.size
    for ch in "0123456789 /.":
        assert ch in vocabulary.tokens
    encoded = vocabulary.encode(["3 may 1979", "3 мая 1979", "tuesday 09 october 1993 extra"], length=12)
    assert encoded.ids.shape == (3, 12) and encoded.ids.dtype == np.int32
    assert vocabulary.decode(encoded.ids[0]) == "3 may 1979"
    assert list(encoded.ids[0, 10:]) == [PAD_ID, PAD_ID]
    assert list(encoded.ids[1, 2:5]) == [UNKNOWN_ID] * 3 and vocabulary.decode(encoded.ids[1]) == "3 ??? 1979"
    assert encoded.unknown == {"м": 1, "а": 1, "я": 1} and encoded.truncated == 1
    assert list(encoded.lengths) == [10, 10, 12]
    assert (
        report_unknown(encoded, "test")
        == "test: 3 unknown characters ('м' x1, 'а' x1, 'я' x1); 1 texts truncated"
    )
    assert report_unknown(vocabulary.encode(["3 may"], 12), "test") == ""
