"""A new version written while requests flow is picked up without a restart and never half-read."""

import shutil
import threading
import time

import numpy as np
from serve_helpers import Client, reference, running_server

PREDICT = "/v1/models/classification:predict"


def export_shifted_version(run, root):
    """The run's model with its last bias shifted, through the shared export: other numbers."""
    import keras

    from apps.classification.serving import export_module
    from apps.common import export

    labels, model = run.labels, run.load_model()
    last = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel, bias + np.linspace(-2.0, 2.0, len(bias), dtype=np.float32)])
    module, signatures = export_module(model, labels, False)
    return export.write_saved_model("classification", module, signatures, root=root, labels=labels)


def test_new_version_is_picked_up_while_requests_flow(tmp_path, served_root, trained_run, digits):
    pixels, _ = digits
    root = tmp_path / "saved_models"
    shutil.copytree(served_root / "classification" / "1", root / "classification" / "1")
    want = {1: reference(root / "classification" / "1", "predict_images", images=pixels)}
    answers, stop = [], threading.Event()

    with running_server(root, "--poll-seconds", "0.2") as (port, _, log):
        def flow():
            client = Client(port)
            while not stop.is_set():
                status, body, headers = client.post(PREDICT, {"signature_name": "predict_images",
                                                              "inputs": pixels.tolist()})
                answers.append((status, headers.get("x-model-version"), body))

        thread = threading.Thread(target=flow)
        thread.start()
        try:
            # Never served: a hidden temporary export, an integer folder still being copied
            # (no saved_model.pb yet) and one whose saved_model.pb is garbage.
            (root / "classification" / ".tmp-1-abc").mkdir()
            (root / "classification" / "2").mkdir()
            (root / "classification" / "3" / "variables").mkdir(parents=True)
            (root / "classification" / "3" / "saved_model.pb").write_bytes(b"half a file")
            time.sleep(1.5)
            new_dir = export_shifted_version(trained_run, root)
            assert new_dir.name == "4"
            want[4] = reference(new_dir, "predict_images", images=pixels)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(a[1] == "4" for a in answers[-3:]):
                time.sleep(0.1)
            n_before = len(answers)
            while len(answers) < n_before + 3:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join()
        log.seek(0)
        server_log = log.read()

    assert all(status == 200 for status, _, _ in answers), [a for a in answers if a[0] != 200][:3]
    versions = [int(v) for _, v, _ in answers]
    assert versions == sorted(versions) and set(versions) == {1, 4}, set(versions)
    assert versions[-1] == 4
    for _, version, body in answers:
        np.testing.assert_array_equal(np.float32(body["outputs"]["probabilities"]),
                                      want[int(version)]["probabilities"])
    assert not np.array_equal(want[1]["probabilities"], want[4]["probabilities"])
    assert "version 3 failed to load" in server_log
    assert server_log.count("version 3 failed to load") == 1  # logged once, not at every poll
