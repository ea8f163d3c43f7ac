"""The faces app end to end on tiny data: splits, P x K batches, train, export, CLI verbs, errors."""

import json

import numpy as np
import pytest
from PIL import Image

from apps.cli import main


def _folder(root, counts, size=12):
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / name / f"{i}.pgm")
    return root


def _config(**kw):
    from apps.faces.config import Config

    return Config(**kw)


def test_people_in_natural_order_and_a_lonely_person_skipped(tmp_path, capsys):
    from apps.faces.data import load_data

    root = _folder(tmp_path / "faces", {"s1": 3, "s2": 3, "s10": 3, "s3": 1, "s4": 2})
    splits = load_data(_config(data=f"folder:{root}", image_size=12, test_identities=1,
                               val_identities=1, augment=()))
    assert splits.names == ("s1", "s2", "s4", "s10")  # natural order, s3 (one image) dropped
    assert "s3" in capsys.readouterr().err
    assert splits.people(splits.y_train) == ["s1", "s2"]
    assert splits.people(splits.y_val) == ["s4"]
    assert splits.people(splits.y_test) == ["s10"] and len(splits.y_test) == 3
    assert splits.x_train.shape[1:] == (12, 12, 1)


def test_refused_when_nobody_has_two_images(tmp_path):
    from apps.common.errors import DataError
    from apps.faces.data import load_data

    root = _folder(tmp_path / "faces", {"a": 1, "b": 1, "c": 1})
    with pytest.raises(DataError, match="at least two images"):
        load_data(_config(data=f"folder:{root}", image_size=12))
    code = main(["faces", "train", "--data", f"folder:{root}", "--set", "image_size=12",
                 "--set", f"runs_dir={tmp_path / 'runs'}"])
    assert code == 2


def test_pk_batches_hold_p_people_with_k_images_each():
    from apps.faces.data import pk_indices

    labels = np.repeat(np.arange(6), [5, 5, 2, 5, 5, 5])
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = pk_indices(labels, 4, 3, rng)
        people, counts = np.unique(labels[idx], return_counts=True)
        assert len(people) == 4 and (counts == 3).all()


def test_train_calibrates_and_evaluates_unseen_digits(faces_run):
    from apps.faces import metrics, training
    from apps.faces.data import load_data
    from apps.faces.task import TASK

    calibration = json.loads((faces_run.path / "calibration.json").read_text())
    assert 0.0 < calibration["threshold"] < 4.0
    assert len(calibration["logistic"]["w"]) == 16
    assert calibration["people"] == [str(d) for d in range(7)]
    # The thresholds, recomputed on the calibration pairs (the tiny preset validates on held-out
    # images of the training people, so all their images, every unordered pair): the one at
    # the target FAR accepts at most that share of impostor pairs and reaches the TAR recorded
    # at FAR 1 %; the one at the best accuracy is at least as accurate as any other cut.
    data = load_data(faces_run.config)
    assert not data.val_unseen and calibration["calibrated_on"] == "training people"
    y = np.concatenate([data.y_train, data.y_val])
    assert calibration["pairs"] == len(y) * (len(y) - 1) // 2
    emb = training.embed(TASK.load_model(faces_run), np.concatenate([data.x_train, data.x_val]))
    d, genuine, _ = training.pair_distances(emb, y)
    assert calibration["target_far"] == 0.01
    at_far = metrics.accuracy_at(d, genuine, calibration["threshold_at_far"])
    assert at_far["far"] <= 0.01
    assert at_far["tar"] == pytest.approx(calibration["calibration_tar_at_far_1%"], abs=1e-6)
    best = metrics.accuracy_at(d, genuine, calibration["threshold"])["accuracy"]
    cuts = np.quantile(d, np.linspace(0.0, 1.0, 201))
    assert best >= max(metrics.accuracy_at(d, genuine, t)["accuracy"] for t in cuts) - 1e-12
    result = TASK.evaluate(faces_run)
    assert result["people"] == ["7", "8", "9"]
    n = len(load_data(faces_run.config).y_test)
    assert result["pairs"] == n * (n - 1) // 2
    # Four tiny epochs (64 steps of 16 digits at 16 px) separate unseen digits better than chance.
    assert result["roc_auc"] > 0.6
    assert 0.0 <= result["eer"] < 0.5
    assert (faces_run.path / "eval" / "roc.png").stat().st_size > 1000


def test_one_shot_identification_by_hand():
    from apps.faces.training import one_shot_identification

    emb = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.95, 0.05], [0.2, 0.8]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.array([0, 0, 1, 1, 0, 1])
    assert one_shot_identification(emb, labels) == 1.0
    labels_bad = np.array([0, 1, 1, 0, 0, 1])  # 1 and 3 swapped: some queries go wrong
    assert one_shot_identification(emb, labels_bad) < 1.0


def test_verify_cli_equals_served_verify_signature(faces_export, digit_pngs, capsys):
    import tensorflow as tf

    version, _ = faces_export
    a, b = digit_pngs["7"][:2], digit_pngs["8"][0]
    loaded = tf.saved_model.load(str(version))
    for x, y in [(a[0], a[1]), (a[0], b)]:
        assert main(["faces", "verify", str(x), str(y), "--model", str(version), "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)
        served = loaded.signatures["verify"](image_bytes_1=tf.constant([x.read_bytes()]),
                                             image_bytes_2=tf.constant([y.read_bytes()]))
        assert bool(served["same"].numpy()[0]) == cli["same"]
        assert float(served["distance"].numpy()[0]) == pytest.approx(cli["distance"], abs=1e-6)
        assert float(served["threshold"].numpy()[0]) == pytest.approx(cli["threshold"])
        assert cli["same"] == (cli["distance"] <= cli["threshold"])
    calibration = json.loads((version / "assets.extra" / "calibration.json").read_text())
    assert cli["threshold"] == pytest.approx(calibration["threshold"])


def test_enroll_identify_and_gallery_rules(faces_export, digit_pngs, tmp_path, capsys):
    version, root = faces_export
    gallery = tmp_path / "gallery.json"
    common = ["--model", str(version), "--gallery", str(gallery)]
    # an empty (absent) gallery
    assert main(["faces", "identify", str(digit_pngs["7"][1]), *common]) == 2
    assert "enrol someone first" in capsys.readouterr().err
    for name in ("7", "8", "9"):
        assert main(["faces", "enroll", f"digit{name}", str(digit_pngs[name][0]), *common]) == 0
    stored = json.loads(gallery.read_text())
    assert sorted(stored["people"]) == ["digit7", "digit8", "digit9"]
    assert stored["model"]["version"] == 1 and len(stored["model"]["fingerprint"]) == 64
    assert len(stored["people"]["digit8"]["embeddings"][0]) == 16
    capsys.readouterr()
    assert main(["faces", "identify", str(digit_pngs["8"][2]), *common, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["name"] in ("digit8", "unknown") and answer["nearest"] in stored["people"]
    assert (answer["name"] == "unknown") == (answer["distance"] > answer["threshold"])
    # an existing name: refused unless --replace; the file is unchanged
    before = gallery.read_bytes()
    assert main(["faces", "enroll", "digit7", str(digit_pngs["7"][1]), *common]) == 2
    assert "already enrolled" in capsys.readouterr().err
    assert gallery.read_bytes() == before
    # an unreadable image: refused, gallery untouched
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert main(["faces", "enroll", "someone", str(digit_pngs["7"][1]), str(bad), *common]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert gallery.read_bytes() == before
    assert main(["faces", "enroll", "digit7", str(digit_pngs["7"][1]), *common, "--replace"]) == 0
    assert json.loads(gallery.read_text())["people"]["digit7"]["images"] == [str(digit_pngs["7"][1])]
    # another model version: embeddings do not compare
    from apps.faces.task import TASK

    other = TASK.export(_run_of(version), root=root)
    assert other.name == "2"
    assert main(["faces", "identify", str(digit_pngs["7"][2]), "--model", str(other),
                 "--gallery", str(gallery)]) == 2
    assert "enrolled with model version 1" in capsys.readouterr().err


def _run_of(version):
    from apps.common.run import Run
    from apps.faces.config import Config

    return Run.open("faces", Config, json.loads((version / "assets.extra" / "run.json").read_text())["run"])


def test_verify_errors_are_one_line_exit_2(faces_export, digit_pngs, tmp_path, capsys):
    version, _ = faces_export
    bad = tmp_path / "nothing.png"
    bad.write_bytes(b"")
    assert main(["faces", "verify", str(bad), str(digit_pngs["7"][0]), "--model", str(version)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nothing.png" in err and len(err.strip().splitlines()) == 1
    assert main(["faces", "verify", str(tmp_path / "missing.png"), str(digit_pngs["7"][0]),
                 "--model", str(version)]) == 2
    assert "no such file" in capsys.readouterr().err.lower()
    assert main(["faces", "verify", "a.png", "b.png", "--model", str(tmp_path)]) == 2
    pair = [str(digit_pngs["7"][0]), str(digit_pngs["7"][1]), "--model", str(version)]
    assert main(["faces", "verify", *pair, "--inter-op-threads", "-3"]) == 2
    assert "--inter-op-threads: expected 0 (TensorFlow's choice) to 256, got -3" in capsys.readouterr().err
    # This process's TensorFlow runs already: a thread setting it cannot take is refused, not ignored.
    assert main(["faces", "verify", *pair, "--intra-op-threads", "7"]) == 2
    assert "TensorFlow already runs in this process" in capsys.readouterr().err


def test_cropping_finds_the_astronaut_and_refuses_a_blank(faces_export, tmp_path, capsys):
    pytest.importorskip("cv2", reason="opencv-python-headless is in the [test] extra")
    from apps.common.packages import EMBEDDED, fetch_package_file
    from apps.faces.crop import crop_face

    path = fetch_package_file(EMBEDDED["skimage-astronaut"])
    from apps.common.images import read_image_file

    rgb = read_image_file(path)
    face = crop_face(rgb, "astronaut")
    assert 100 < face.shape[0] < 300 and 100 < face.shape[1] < 300  # her face, not the whole suit
    version, _ = faces_export
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    assert main(["faces", "verify", str(path), str(blank), "--crop", "--model", str(version)]) == 2
    assert "blank.png: no face found" in capsys.readouterr().err
    assert main(["faces", "verify", str(path), str(path), "--crop", "--model", str(version),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["distance"] == pytest.approx(0.0, abs=1e-6)
