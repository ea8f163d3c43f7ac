"""The faces export served over HTTP: the `verify` signature (b64 images) gives the same
verdicts, distances and threshold as `classics faces verify` on the same files."""

import base64
import dataclasses
import io
import json

import numpy as np
import pytest
from serve_helpers import Client, running_server

from apps.cli import main


@pytest.fixture(scope="module")
def faces_served(tmp_path_factory):
    from PIL import Image

    from apps.common import config as config_lib
    from apps.faces.config import PRESETS, Config
    from apps.faces.data import load_data
    from apps.faces.task import TASK

    tmp = tmp_path_factory.mktemp("faces_serve")
    config = config_lib.preset_config(Config, PRESETS, "tiny")
    config = dataclasses.replace(config, runs_dir=str(tmp / "runs"))
    run = TASK.train(config, fresh=True, verbose=0)
    root = tmp / "saved_models"
    version = TASK.export(run, root=root)
    splits = load_data(dataclasses.replace(config, image_size=28))
    files = []
    for person in np.unique(splits.y_test):
        for k, i in enumerate(np.flatnonzero(splits.y_test == person)[:2]):
            path = tmp / f"{splits.names[person]}_{k}.png"
            buffer = io.BytesIO()
            Image.fromarray(splits.x_test[i][..., 0]).save(buffer, format="PNG")
            path.write_bytes(buffer.getvalue())
            files.append(path)
    return root, version, files


def b64(path):
    return {"b64": base64.b64encode(path.read_bytes()).decode("ascii")}


def test_served_verify_equals_cli_verify(faces_served, capsys):
    root, version, files = faces_served
    pairs = [(files[0], files[1]), (files[0], files[2]), (files[2], files[3]), (files[1], files[5])]
    cli = []
    for a, b in pairs:
        assert main(["faces", "verify", str(a), str(b), "--model", str(version), "--json"]) == 0
        cli.append(json.loads(capsys.readouterr().out))
    with running_server(root) as (port, _, _):
        status, body, _ = Client(port).post(
            "/v1/models/faces:predict",
            {"signature_name": "verify",
             "instances": [{"image_bytes_1": b64(a), "image_bytes_2": b64(b)} for a, b in pairs]})
    assert status == 200, body
    served = body["predictions"]
    assert len(served) == len(pairs)
    for want, got in zip(cli, served):
        assert got["same"] == want["same"]
        assert got["distance"] == pytest.approx(want["distance"], abs=1e-5)
        assert got["threshold"] == pytest.approx(want["threshold"], abs=1e-7)
        assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)
    calibration = json.loads((version / "assets.extra" / "calibration.json").read_text())
    assert served[0]["threshold"] == pytest.approx(calibration["threshold"], abs=1e-7)
    assert [w["same"] for w in cli] == [w["distance"] <= w["threshold"] for w in cli]
