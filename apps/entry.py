"""The `classics` entry point: TensorFlow is imported with its start-up logs filtered before
anything that imports it (apps.cli pulls in every app, hence Keras and TensorFlow)."""

from apps.common import quiet


def main(argv=None) -> int:
    quiet.import_tensorflow()
    from apps.cli import main as cli_main  # deliberate lazy TensorFlow loading: after the filter

    return cli_main(argv)
