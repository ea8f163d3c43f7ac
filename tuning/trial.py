"""One execution of one trial, in its own process: `python -m tuning.trial APP CONFIG RUN_DIR`.

The search process starts one of these per execution, so TensorFlow's graphs, tf.data
pipelines and allocator caches of a trial die with its process and the searcher's memory stays
flat. Training goes through the app's Task (the one training path), so an execution killed
mid-way resumes from its last finished epoch.
"""

import sys

from apps import get_task
from apps.common import quiet
from apps.common.config import load_config
from apps.common.errors import ClassicsError


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: python -m tuning.trial APP CONFIG_JSON RUN_DIR", file=sys.stderr)
        return 2
    quiet.import_tensorflow()
    app_name, config_path, run_dir = argv
    try:
        task = get_task(app_name)
        task.train(load_config(task.Config, config_path), run_dir=run_dir, verbose=2)
    except ClassicsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
