import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from apps.common import export


class Doubler(tf.Module):
    def __init__(self):
        super().__init__()
        self.scale = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * self.scale}


def test_versions_are_integers_counting_up_with_assets(tmp_path):
    module = Doubler()
    first = export.write_saved_model(
        "demo", module, {"serving_default": module.serve}, root=tmp_path,
        labels=["a", "b"], metrics={"accuracy": 0.5}, extra_assets={"note.txt": "hi"},
    )
    second = export.write_saved_model("demo", module, {"serving_default": module.serve}, root=tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert export.versions(tmp_path / "demo") == [1, 2]
    assert export.latest_version_dir(tmp_path / "demo") == second
    assert export.read_extra(first, "labels.txt") == ["a", "b"]
    assert export.read_extra(first, "metrics.json") == {"accuracy": 0.5}
    assert export.read_extra(first, "note.txt") == "hi"
    loaded = tf.saved_model.load(str(second))
    out = loaded.signatures["serving_default"](x=tf.constant([1.0, 3.0]))
    np.testing.assert_array_equal(out["y"].numpy(), [2.0, 6.0])
    # Only version directories and nothing half-written next to them.
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["1", "2"]


def test_export_killed_midway_leaves_no_version(tmp_path):
    # A child process starts an export and is SIGKILLed while saving.
    script = textwrap.dedent(f"""
        import os, signal, tensorflow as tf
        from apps.common import export
        original = tf.saved_model.save
        def save_then_die(*a, **k):
            original(*a, **k)
            os.kill(os.getpid(), signal.SIGKILL)  # after the files, before the rename
        tf.saved_model.save = save_then_die
        class M(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
            def f(self, x):
                return x
        m = M()
        export.write_saved_model("demo", m, {{"serving_default": m.f}}, root={str(tmp_path)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    app_dir = tmp_path / "demo"
    assert export.versions(app_dir) == []
    leftovers = [p.name for p in app_dir.iterdir()]
    assert all(name.startswith(export.TMP_PREFIX) for name in leftovers)
    # The next export cleans the dead process's temporary directory and takes version 1.
    module = Doubler()
    path = export.write_saved_model("demo", module, {"serving_default": module.serve}, root=tmp_path)
    assert path.name == "1"
    assert [p.name for p in app_dir.iterdir()] == ["1"]


def test_no_version_is_an_error(tmp_path):
    from apps.common.errors import ClassicsError

    with pytest.raises(ClassicsError, match="no exported version"):
        export.latest_version_dir(tmp_path / "nothing")
