"""Only the Bible rows of benchmarks/translation.py (IBM Model 1 trained in the run; greedy and
beam-5 decoding of a finished bible run), e.g. for a run that finished after the full benchmark.

    CLASSICS_BIBLE_RUN=<run dir> python -m benchmarks.run --only translation_bible
"""

from benchmarks.translation import bible_rows


def run(quick: bool) -> list:
    return bible_rows(quick)
