"""apps/common/face_teachers.py: the anchor grid, box decoding and blending NMS against
hand-computed values; the real BlazeFace / FaceMesh files on skimage photos (the astronaut's
and the cameraman's faces, none on brick, grass and gravel), a turned face, and the AT&T faces
(when the folder is there: it lives outside the repository)."""

import os
import pathlib

import numpy as np
import pytest
from PIL import Image

from apps.common import face_teachers as ft
from apps.common.errors import ConfigError, DataError
from apps.common.packages import EMBEDDED, fetch_package_file

ATT_FACES = pathlib.Path(os.environ.get(
    "CLASSICS_ATT_FACES", pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "att_faces"))


@pytest.fixture(scope="module")
def detector():
    return ft.FaceDetector()


@pytest.fixture(scope="module")
def mesh():
    return ft.FaceMesh()


def photo(key):
    return np.asarray(Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB"))


def eye_centres(m):
    """(subject's right eye, left eye, mouth) centres from the mesh, x, y pixels."""
    pts = m.landmarks[:, :2]
    mouth = pts[[ft.MESH_UPPER_LIP, ft.MESH_LOWER_LIP]].mean(0)
    return pts[list(ft.MESH_RIGHT_EYE)].mean(0), pts[list(ft.MESH_LEFT_EYE)].mean(0), mouth


def check_face(image, face, m, frontal=True):
    """A plausible upright face: inside the image, eyes above the nose and mouth, and (frontal)
    the two models (detector keypoints, mesh) agree on where the eyes are."""
    h, w = image.shape[:2]
    assert m is not None and m.presence > 0.9
    assert m.landmarks.shape == (468, 3)
    # Tight crops (AT&T) cut the chin: its points may lie a few pixels outside.
    assert (np.abs(m.landmarks[:, :2] - np.array([w, h]) / 2) <= 0.55 * np.array([w, h])).all()
    right, left, mouth = eye_centres(m)
    nose = m.landmarks[ft.MESH_NOSE_TIP, :2]
    for point in (right, left, mouth, nose):
        assert 0 <= point[0] < w and 0 <= point[1] < h
    assert right[0] < left[0]  # the subject's right eye is on the image's left
    assert max(right[1], left[1]) < nose[1] < mouth[1]
    if not frontal:
        return
    eye_gap = np.linalg.norm(left - right)
    assert np.linalg.norm(face.keypoints[0] - right) < 0.25 * eye_gap
    assert np.linalg.norm(face.keypoints[1] - left) < 0.25 * eye_gap
    x0, y0, x1, y1 = face.box
    assert x0 < right[0] < left[0] < x1 and y0 < right[1] < mouth[1] < y1


def test_anchor_grid():
    anchors = ft.ssd_anchors()
    assert anchors.shape == (896, 2)
    np.testing.assert_allclose(anchors[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(anchors[32], [1 / 32, 3 / 32])  # second row of the 16x16 grid
    np.testing.assert_allclose(anchors[512:519], [[1 / 16, 1 / 16]] * 6 + [[3 / 16, 1 / 16]])
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


def test_decode_boxes_by_hand():
    raw = np.zeros((1, 16))
    raw[0, :4] = [12.8, -6.4, 32.0, 64.0]  # centre offset (0.1, -0.05), size (0.25, 0.5)
    raw[0, 4:6] = [-25.6, 0.0]  # right eye 0.2 left of the anchor
    boxes, keypoints = ft.decode_boxes(raw, np.array([[0.5, 0.25]]))
    np.testing.assert_allclose(boxes, [[0.475, -0.05, 0.725, 0.45]])
    np.testing.assert_allclose(keypoints[0, 0], [0.3, 0.25])
    np.testing.assert_allclose(keypoints[0, 5], [0.5, 0.25])


def test_weighted_nms_blends_overlaps_and_keeps_the_rest():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 30]], float)
    keypoints = np.arange(4 * 6 * 2, dtype=float).reshape(4, 6, 2)
    scores = np.array([0.6, 0.9, 0.7, 0.8])
    np.testing.assert_allclose(ft.box_iou(boxes[0], boxes), [1, 9 / 11, 0, 1 / 3])
    kept = ft.weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    # The best, box 1 (0.9), takes box 0 (IoU 9/11); box 3 stays (IoU with box 1: 90/310 < 0.3).
    assert [k[2] for k in kept] == [0.9, 0.8, 0.7]
    np.testing.assert_allclose(kept[0][0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5)
    np.testing.assert_allclose(kept[0][1], (0.9 * keypoints[1] + 0.6 * keypoints[0]) / 1.5)
    np.testing.assert_allclose(kept[1][0], boxes[3])
    np.testing.assert_allclose(kept[2][0], boxes[2])


def test_rotated_crop_maps_crop_pixels_to_image_pixels():
    image = np.zeros((60, 80, 3), np.uint8)
    image[20, 30] = 255  # the pixel spanning x 30..31, y 20..21
    crop, matrix = ft._rotated_crop(image, centre=(40.0, 30.0), side=40.0, angle=np.pi / 2, size=80)
    assert crop.shape == (80, 80, 3)
    # Solve image point (30.5, 20.5) = A q + b for the crop point q.
    q = np.linalg.solve(matrix[:, :2], np.array([30.5, 20.5]) - matrix[:, 2])
    # offset (-9.5, -9.5) from the centre, turned back by 90 deg, x2, + the crop centre (40, 40)
    np.testing.assert_allclose(q, [21.0, 59.0])
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert abs(x + 0.5 - q[0]) <= 1 and abs(y + 0.5 - q[1]) <= 1


def test_faces_on_skimage_photos_and_none_on_textures(detector, mesh):
    # The cameraman is seen half from the side: his far eye is hidden by his face.
    for key, centre, frontal in (("skimage-astronaut", (224, 128), True),
                                 ("skimage-camera", (221, 165), False)):
        image = photo(key)
        faces = detector.detect(image)
        assert len(faces) == 1 and faces[0].score > 0.7
        np.testing.assert_allclose(faces[0].box.reshape(2, 2).mean(0), centre, atol=8)
        check_face(image, faces[0], mesh.landmarks(image, faces[0]), frontal)
    for key in ("skimage-brick", "skimage-grass", "skimage-gravel"):
        assert detector.detect(photo(key)[..., 0]) == [], key
    # A dahlia fools BlazeFace (one box, score 0.61); FaceMesh's presence score rejects it.
    flower = photo("sklearn-flower")
    assert [mesh.landmarks(flower, face) for face in detector.detect(flower)] in ([], [None])
    assert ft.label_faces(flower, detector, mesh) == []
    [(face, m)] = ft.label_faces(photo("skimage-astronaut"), detector, mesh)
    assert face.score > 0.7 and m.presence > 0.9
    with pytest.raises(DataError, match="uint8"):
        detector.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ConfigError, match="score_threshold"):
        ft.FaceDetector(score_threshold=1.5)


def test_mesh_follows_a_turned_face(detector, mesh):
    image = Image.fromarray(photo("skimage-astronaut"))
    angles = []
    for degrees in (0, 30):  # PIL turns counter-clockwise: the eye line drops by 30 deg
        turned = np.asarray(image.rotate(degrees, resample=Image.BILINEAR, center=(224, 128)))
        faces = detector.detect(turned)
        right, left, _ = eye_centres(mesh.landmarks(turned, faces[0]))
        angles.append(np.degrees(np.arctan2(*(left - right)[::-1])))
    assert abs(angles[0]) < 8
    assert abs(angles[0] - angles[1] - 30) < 4


def test_att_faces(detector, mesh):
    # The AT&T faces come with the project's shared data (../shared beside the checkout, as in
    # CI): their absence is a setup error, not a reason to pass.
    assert (ATT_FACES / "s1").is_dir(), f"{ATT_FACES}: AT&T faces not here (set CLASSICS_ATT_FACES)"
    found = meshed = inside = 0
    for person in range(1, 41):
        for index in range(1, 11):
            image = np.asarray(Image.open(ATT_FACES / f"s{person}" / f"{index}.pgm"))
            faces = detector.detect(image)
            m = mesh.landmarks(image, faces[0]) if faces else None
            found, meshed = found + bool(faces), meshed + (m is not None)
            if m is not None:
                xy = m.landmarks[:, :2]
                inside += bool(((xy >= 0) & (xy < [92, 112])).all())
            if (person, index) in ((1, 1), (9, 4), (17, 8), (26, 2), (33, 6), (40, 10)):
                assert image.shape == (112, 92) and faces
                check_face(image, faces[0], m)
    # Measured: 400 found, 399 meshes, 356 of them wholly inside the image (the rest: the chin).
    assert found >= 395 and meshed >= 390 and inside >= 340, (found, meshed, inside)
