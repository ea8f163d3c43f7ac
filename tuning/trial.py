"""One execution of one trial, in its own process: `python -m tuning.trial APP CONFIG RUN_DIR`.

The search process starts one of these per execution, so TensorFlow's graphs,
tf.data pipelines and allocator caches of a trial die with its process and the
searcher's memory stays flat. Training goes through the app's own `train` (the one
fit path; or the app's `Tunable.train`), so an execution killed mid-way resumes from its last finished epoch.
"""

import os
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if len(argv) != 3:
        print("usage: python -m tuning.trial APP CONFIG_JSON RUN_DIR", file=sys.stderr)
        return 2
    from apps import get_app
    from apps.common.config import load_config
    from apps.common.errors import ClassicsError

    app_name, config_path, run_dir = argv
    try:
        from tuning import spaces

        app = get_app(app_name)
        config = load_config(app.Config, config_path)
        tunable = spaces.tunable(app_name)
        if tunable.train is not None:
            tunable.train(config, run_dir)
        else:
            app.train(config, run_dir=run_dir, verbose=2)
    except ClassicsError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
