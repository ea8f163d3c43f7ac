"""Quiet by default: TensorFlow's C++ start-up lines and retracing warnings are kept from the
user unless `--verbose` or CLASSICS_DEBUG=1 asks for them."""

import logging
import os
import sys
import tempfile

# Lines TensorFlow's C++ runtime prints on import and first use (oneDNN, CUDA stubs, CPU
# feature notes): information for TensorFlow's developers, not for our users.
_NOISE = ("I0000 ", "WARNING: All log messages before absl::InitializeLog()", "E0000 ", "W0000 ")
_NOISE_PARTS = ("failed call to cuInit", "oneDNN custom operations", "cpu_feature_guard",
                "Unable to register cu", "TF-TRT Warning", "computation placer already registered",
                "rebuild TensorFlow with the appropriate compiler flags",
                "This TensorFlow binary is optimized")


def verbose() -> bool:
    return bool(os.environ.get("CLASSICS_DEBUG"))


def is_noise(line: str) -> bool:
    return line.startswith(_NOISE) or any(part in line for part in _NOISE_PARTS)


def import_tensorflow():
    """Import TensorFlow with its C++ chatter filtered (unless verbose); returns the module.

    TF 2.21 prints some lines before absl logging is set up, where TF_CPP_MIN_LOG_LEVEL does
    not reach them: file descriptor 2 points at a temporary file for the import and the first
    device query, and every line that is not such chatter is written back.
    """
    if "tensorflow" in sys.modules or verbose():
        import tensorflow as tf

        return tf
    # 3: also the C++ "errors" TensorFlow logs while running ops that work (e.g. oneDNN falling
    # back to Eigen for booleans); real failures still surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        for line in captured.read().decode(errors="replace").splitlines():
            if not is_noise(line):
                print(line, file=sys.stderr)
    # Retracing warnings and other Python-side TensorFlow log lines.
    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
    return tf
