import sys

from apps.common.cli import app_main

sys.exit(app_main("faces"))
