"""The test tree itself: one pytest process collects every module, so basenames must differ
(pytest's default import mode keys modules by basename; a duplicate stops collection)."""

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent


def test_test_module_basenames_are_unique():
    names = collections.Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
