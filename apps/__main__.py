import sys

from apps.common.cli import main

sys.exit(main())
