"""`python -m apps` = `classics`."""

import sys

from apps.entry import main

sys.exit(main())
