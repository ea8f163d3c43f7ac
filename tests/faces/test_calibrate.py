"""`classics faces calibrate`: a deployment sets the threshold of an export for a false-accept
rate on its own labelled people and gets a new export version answering with it."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.cli import main
from apps.common import export as export_lib
from apps.common import images as images_lib
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.faces import metrics


def _people(digit_pngs, folder, names=None):
    for name, paths in digit_pngs.items():
        if names is None or name in names:
            (folder / name).mkdir(parents=True)
            for path in paths:
                shutil.copy(path, folder / name / path.name)
    return folder


def _copy_export(faces_export, root):
    version, _ = faces_export
    source = root / "faces" / "1"
    shutil.copytree(version, source)
    return source


def test_calibrate_writes_a_version_whose_threshold_holds_the_far_on_those_people(
        faces_export, digit_pngs, tmp_path, capsys):
    source = _copy_export(faces_export, tmp_path / "models")
    people = _people(digit_pngs, tmp_path / "people")
    code = main(["faces", "calibrate", "--pairs", str(people), "--far", "0.1",
                 "--model-root", str(tmp_path / "models"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    new = tmp_path / "models" / "faces" / "2"
    assert out["version"] == str(new) and out["people"] == 3 and out["images"] == 12

    # Reference: the source export's own embeddings, every pair's distance in NumPy.
    old = tf.saved_model.load(str(source))
    size = old.signatures["embed_images"].structured_input_signature[1]["images"].shape[1]
    paths = [p for name in sorted(digit_pngs) for p in sorted((people / name).iterdir())]
    labels = np.repeat(np.arange(3), 4)
    pixels = np.stack([images_lib.decode_for_model(p, 1, size, allow_gray_to_rgb=True) for p in paths])
    emb = old.signatures["embed_images"](images=pixels)["embeddings"].numpy()
    i, j = np.triu_indices(len(paths), 1)
    d = ((emb[i] - emb[j]) ** 2).sum(1)
    impostor = np.sort(d[labels[i] != labels[j]])
    threshold = out["threshold"]
    allowed = int(np.floor(0.1 * len(impostor)))  # 48 impostor pairs: 4 may be accepted
    assert len(impostor) == 48 and impostor[allowed - 1] <= threshold < impostor[allowed]
    assert out["far"] == np.mean(impostor <= threshold) <= 0.1
    assert out["tar"] == np.mean(d[labels[i] == labels[j]] <= threshold)

    # The new version: same embeddings, the new threshold inside `verify`, the record beside it.
    served = tf.saved_model.load(str(new)).signatures["verify_images"]
    a, b = pixels[[0, 0]], pixels[[1, 4]]  # a genuine pair and an impostor pair
    now, before = served(images_1=a, images_2=b), old.signatures["verify_images"](images_1=a, images_2=b)
    np.testing.assert_allclose(now["distance"].numpy(), before["distance"].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(now["threshold"].numpy(), np.float32(threshold))
    np.testing.assert_array_equal(now["same"].numpy(), now["distance"].numpy() <= np.float32(threshold))
    calibration = export_lib.read_extra(new, "calibration.json")
    assert calibration["threshold"] == threshold and calibration["target_far"] == 0.1
    assert calibration["recalibration"]["from_version"] == str(source)
    assert export_lib.read_extra(new, "config.json") == export_lib.read_extra(source, "config.json")
    assert (new / "assets.extra" / "examples" / "verify" / "request.json").exists()


def test_calibrate_refuses_one_person_and_a_far_out_of_range(faces_export, digit_pngs, tmp_path, capsys):
    _copy_export(faces_export, tmp_path / "models")
    one = _people(digit_pngs, tmp_path / "one", names={"7"})
    common = ["--model-root", str(tmp_path / "models")]
    assert main(["faces", "calibrate", "--pairs", str(one), *common]) == 2
    assert "needs >= 2 people" in capsys.readouterr().err
    people = _people(digit_pngs, tmp_path / "people")
    assert main(["faces", "calibrate", "--pairs", str(people), "--far", "0", *common]) == 2
    assert "--far 0.0" in capsys.readouterr().err
    # --photos on an export without the photo signatures: a clear error, not a KeyError.
    assert main(["faces", "calibrate", "--photos", "--pairs", str(people), *common]) == 2
    err = capsys.readouterr().err
    assert "has no photo signatures" in err and "photo_signatures=true" in err, err
    assert export_lib.versions(tmp_path / "models" / "faces") == [1]  # nothing written


def test_calibrate_on_photos_goes_through_the_exports_own_detection(faces_photo_export, tmp_path, capsys):
    _copy_export(faces_photo_export, tmp_path / "models")
    people = tmp_path / "photos"
    for name, key in (("astronaut", "skimage-astronaut"), ("cameraman", "skimage-camera")):
        (people / name).mkdir(parents=True)
        image = Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB")
        image.save(people / name / "a.png")
        image.resize((300, 300)).save(people / name / "b.png")
        image.crop((0, 0, 400, 400)).save(people / name / "c.png")
    Image.open(fetch_package_file(EMBEDDED["skimage-brick"])).save(people / "cameraman" / "d.png")
    code = main(["faces", "calibrate", "--photos", "--pairs", str(people), "--far", "0.2",
                 "--model-root", str(tmp_path / "models"), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preprocessing"] == "embed_photos" and out["images"] == 6
    assert out["left_out"] == [f"{people / 'cameraman' / 'd.png'}: no face found"]
    served = tf.saved_model.load(str(tmp_path / "models" / "faces" / "1")).signatures["embed_photos"]
    paths = [people / n / f for n in ("astronaut", "cameraman") for f in ("a.png", "b.png", "c.png")]
    emb = served(photo_bytes=tf.constant([p.read_bytes() for p in paths]))["embeddings"].numpy()
    i, j = np.triu_indices(6, 1)
    d, genuine = ((emb[i] - emb[j]) ** 2).sum(1), (i < 3) == (j < 3)
    assert out["threshold"] == pytest.approx(metrics.threshold_at_far(d, genuine, 0.2), rel=1e-5)
    assert main(["faces", "calibrate", "--photos", "--align", "--pairs", str(people),
                 "--model-root", str(tmp_path / "models")]) == 2
