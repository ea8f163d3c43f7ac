"""apps/faces/align.py: the least-squares similarity against known transforms, the warp against
pixels placed by hand, and alignment with the real BlazeFace / FaceMesh teachers: turned copies
of the astronaut photo and of AT&T faces come out with a level eye line and the same crop."""

import os
import pathlib

import exports
import numpy as np
import pytest
from PIL import Image

from apps.common import face_teachers as ft
from apps.common.errors import DataError
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.faces import align

ATT_FACES = pathlib.Path(os.environ.get(
    "CLASSICS_ATT_FACES", pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "att_faces"))


@pytest.fixture(scope="module")
def teachers():
    return ft.FaceDetector(), ft.FaceMesh()


def _matrix(scale, degrees, shift):
    c, s = scale * np.cos(np.radians(degrees)), scale * np.sin(np.radians(degrees))
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def _eye_angle(points):
    """Degrees of the line from the subject's right eye to the left eye (0: level)."""
    d = points[1] - points[0]
    return float(np.degrees(np.arctan2(d[1], d[0])))


def test_similarity_recovers_a_known_transform_and_never_reflects():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (4, 2))
    want = _matrix(0.7, 23.0, (5.0, -12.0))
    dst = src @ want[:, :2].T + want[:, 2]
    np.testing.assert_allclose(align.similarity(src, dst), want, atol=1e-9)
    # Noisy targets: the least-squares fit is no worse than the true transform.
    noisy = dst + rng.normal(0, 1.0, dst.shape)
    fit = align.similarity(src, noisy)

    def residual(m):
        return np.sum((src @ m[:, :2].T + m[:, 2] - noisy) ** 2)

    assert residual(fit) <= residual(want) + 1e-9
    # A mirrored target set: the best rotation, not a reflection (positive determinant).
    mirrored = dst * np.array([-1.0, 1.0])
    assert np.linalg.det(align.similarity(src, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError, match="two \\(N >= 2, 2\\) point sets"):
        align.similarity(src, dst[:3])


def test_warp_puts_each_image_point_where_the_matrix_sends_it():
    image = np.zeros((60, 80), np.uint8)
    image[20:24, 30:34] = 255  # a 4 x 4 square centred at (32, 22) in continuous coordinates
    matrix = _matrix(2.0, 90.0, (70.0, -40.0))
    out = align.warp(image[..., None], matrix, size=(92, 112))
    assert out.shape == (112, 92, 1)
    ys, xs = np.nonzero(out[..., 0] > 128)
    want = matrix[:, :2] @ np.array([32.0, 22.0]) + matrix[:, 2]  # (26, 24)
    np.testing.assert_allclose([xs.mean() + 0.5, ys.mean() + 0.5], want, atol=0.6)
    assert len(xs) == pytest.approx(64, abs=12)  # the square, 2x larger: 8 x 8


def _check_turned(image, teachers, degrees, name):
    """Align `image` and its copies turned by `degrees`: the eye line in each aligned crop, found
    again by the teachers, is level, and the crops agree with the upright one's."""
    detector, mesh = teachers
    upright = align.align_face(image, detector, mesh, name).astype(np.float64)
    [(_, m)] = ft.label_faces(image, detector, mesh)
    tilt_before = _eye_angle(align.mesh_points(m.landmarks))  # the head's own tilt in the photo
    for angle in degrees:
        turned = np.asarray(Image.fromarray(image).rotate(angle, resample=Image.BILINEAR, expand=True))
        crop = align.align_face(turned, detector, mesh, f"{name} turned {angle}")
        [(_, m)] = ft.label_faces(crop, detector, mesh)
        tilt = _eye_angle(align.mesh_points(m.landmarks))
        assert abs(tilt) < 3.0, (name, angle, tilt)
        assert np.corrcoef(crop.astype(np.float64).ravel(), upright.ravel())[0, 1] > 0.85, (name, angle)
        # Before alignment the teachers see the turn (image y is down: a turn by +a tilts by -a).
        [(_, m)] = ft.label_faces(turned, detector, mesh)
        assert _eye_angle(align.mesh_points(m.landmarks)) == pytest.approx(tilt_before - angle, abs=3.0)


def test_turned_astronaut_comes_out_level(teachers):
    photo = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-astronaut"])).convert("RGB"))
    face = photo[0:260, 100:300]  # her face and some background
    _check_turned(face, teachers, (-20, 15), "astronaut")
    crop = align.align_face(face, *teachers)
    assert crop.shape == (112, 92, 3)
    [(_, m)] = ft.label_faces(crop, *teachers)
    np.testing.assert_allclose(align.mesh_points(m.landmarks), align.CANONICAL, atol=4.0)


def test_no_face_and_several_faces_are_per_image_errors(teachers):
    grass = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-grass"])).convert("RGB"))
    with pytest.raises(DataError, match="grass.png: no face found"):
        align.align_face(grass, *teachers, name="grass.png")
    photo = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-astronaut"])).convert("RGB"))
    face = photo[0:260, 100:300]
    pair = np.concatenate([face, face], axis=1)
    with pytest.raises(DataError, match="pair.png: 2 faces found"):
        align.align_face(pair, *teachers, name="pair.png")


def test_turned_att_faces_come_out_level(teachers):
    # The AT&T faces come with the project's shared data (../shared beside the checkout, as in
    # CI): their absence is a setup error, not a reason to pass.
    assert (ATT_FACES / "s1").is_dir(), f"{ATT_FACES}: AT&T faces not here (set CLASSICS_ATT_FACES)"
    for person, index in ((1, 1), (5, 3), (12, 7)):
        image = np.asarray(Image.open(ATT_FACES / f"s{person}" / f"{index}.pgm"))
        # Turned copies on a larger grey canvas, so the turn does not cut the face.
        canvas = np.full((200, 180), 128, np.uint8)
        canvas[44:156, 44:136] = image
        _check_turned(canvas, teachers, (-15, 12), f"s{person}/{index}.pgm")


def test_verify_and_enroll_align_photos_first(faces_export, teachers, tmp_path, capsys):
    """`--align` at the CLI: the served verify signature on the aligned crops (the export does
    not align: the CLI does, before it); a face-free photo is one error line, exit 2."""
    import json

    import tensorflow as tf

    from apps.cli import main
    from apps.common.images import conform_array

    version, _ = faces_export
    photo = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-astronaut"])).convert("RGB"))
    face = photo[0:260, 100:300]
    paths = [tmp_path / "upright.png", tmp_path / "turned.png"]
    Image.fromarray(face).save(paths[0])
    Image.fromarray(face).rotate(15, resample=Image.BILINEAR, expand=True).save(paths[1])
    assert main(["faces", "verify", *map(str, paths), "--align", "--model", str(version), "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    served = tf.saved_model.load(str(version)).signatures["verify_images"]
    size = served.structured_input_signature[1]["images_1"].shape[1]
    crops = [conform_array(align.align_face(np.asarray(Image.open(p)), *teachers), channels=1,
                           image_size=size)[None] for p in paths]
    want = served(images_1=tf.constant(crops[0]), images_2=tf.constant(crops[1]))
    assert cli["distance"] == pytest.approx(float(want["distance"].numpy()[0]), abs=1e-5)
    assert cli["same"] == bool(want["same"].numpy()[0])
    gallery = tmp_path / "gallery.json"
    assert main(["faces", "enroll", "astronaut", *map(str, paths), "--align", "--model", str(version),
                 "--gallery", str(gallery)]) == 0
    assert len(json.loads(gallery.read_text())["people"]["astronaut"]["embeddings"]) == 2
    capsys.readouterr()
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(blank)
    assert main(["faces", "verify", str(paths[0]), str(blank), "--align", "--model", str(version)]) == 2
    err = capsys.readouterr().err
    assert "blank.png: no face found" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):  # one way of finding the face at a time
        main(["faces", "verify", str(paths[0]), str(blank), "--align", "--crop"])
    # A model fitted on aligned faces (config align_faces, as att-dlib) aligns without --align.
    fitted_aligned = exports.copy_version(version, tmp_path / "aligned", app="faces")
    config_path = fitted_aligned / "assets.extra" / "config.json"
    config_path.write_text(json.dumps({**json.loads(config_path.read_text()), "align_faces": True}))
    assert main(["faces", "verify", *map(str, paths), "--model", str(fitted_aligned), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["distance"] == pytest.approx(cli["distance"], abs=1e-5)


def test_a_folder_of_photos_loads_aligned_and_skips_a_face_free_one(tmp_path, capsys):
    from apps.faces.config import Config
    from apps.faces.data import load_identities

    photo = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-astronaut"])).convert("RGB"))
    camera = np.asarray(Image.open(fetch_package_file(EMBEDDED["skimage-camera"])).convert("RGB"))
    root = tmp_path / "people"
    for person, image in (("astronaut", photo[0:260, 100:300]), ("cameraman", camera)):
        (root / person).mkdir(parents=True)
        for angle in (0, 10):
            Image.fromarray(image).rotate(angle, resample=Image.BILINEAR).save(root / person / f"{angle}.png")
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(root / "cameraman" / "blank.png")
    ds = load_identities(Config(data=f"folder:{root}", image_size=32, channels=3, align_faces=True))
    assert "blank.png: no face found" in capsys.readouterr().err
    assert ds.images.shape == (4, 32, 32, 3) and list(ds.labels) == [0, 0, 1, 1]
    # The turned copy aligns onto the upright one.
    a = ds.images[:2].reshape(2, -1).astype(np.float64)
    assert np.corrcoef(a)[0, 1] > 0.9
    from apps.common.errors import ConfigError

    with pytest.raises(ConfigError, match="choose one way"):
        Config(data=f"folder:{root}", crop_faces=True, align_faces=True)
    with pytest.raises(ConfigError, match="align_faces: only folder"):
        load_identities(Config(data="mnist5k", align_faces=True))
