"""A new version written while requests flow is picked up without a restart and never half-read."""

import shutil
import threading
import time

import numpy as np
from serve_helpers import Client, reference

PREDICT = "/v1/models/classification:predict"


def export_shifted_version(run, root, app):
    """The run's model with its last bias shifted, through the shared export into root/app/:
    other numbers."""
    import keras

    from apps.classification.serving import export_module
    from apps.common import export

    labels, model = run.labels, run.load_model()
    last = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel, bias + np.linspace(-2.0, 2.0, len(bias), dtype=np.float32)])
    module, signatures = export_module(model, labels, False)
    return export.write_saved_model(app, module, signatures, root=root, labels=labels)


def test_new_version_is_picked_up_while_requests_flow(tmp_path, served_root, trained_run, digits, shared_server):
    """On the shared server (it polls every 0.2 s), the folder served as "versions-classification"."""
    pixels, _ = digits
    mine = tmp_path / "saved_models"
    shutil.copytree(served_root / "classification" / "1", mine / "classification" / "1")
    want = {1: reference(mine / "classification" / "1", "predict_images", images=pixels)}
    shared_server.serve(mine, "versions")
    served = shared_server.root / "versions-classification"
    answers, stop = [], threading.Event()

    def flow():
        client = Client(shared_server.port, {"classification": "versions-classification"})
        while not stop.is_set():
            status, body, headers = client.post(PREDICT, {"signature_name": "predict_images",
                                                          "inputs": pixels.tolist()})
            answers.append((status, headers.get("x-model-version"), body))

    thread = threading.Thread(target=flow)
    thread.start()
    try:
        # Never served: a hidden temporary export, an integer folder still being copied
        # (no saved_model.pb yet) and one whose saved_model.pb is garbage.
        (served / ".tmp-1-abc").mkdir()
        (served / "2").mkdir()
        (served / "3" / "variables").mkdir(parents=True)
        (served / "3" / "saved_model.pb").write_bytes(b"half a file")
        time.sleep(1.5)
        new_dir = export_shifted_version(trained_run, shared_server.root, served.name)
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
    server_log = "\n".join(line for line in shared_server.log_text().splitlines()
                           if "versions-classification" in line)

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
