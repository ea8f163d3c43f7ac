"""The style tour step at the tiny preset, run as `classics tour --apps style --preset tiny` in
a child process beside the other tests: every picture written, the grid laid out, the fast
stylizer exported and its serving signature's output in the report."""

import functools
import types

import numpy as np
import pytest
from PIL import Image
from processes import tour

pytestmark = pytest.mark.background


def background_jobs(request, root):
    """The tour step runs in a child process from the session's start (tests/conftest.py)."""
    return {"style tour": functools.partial(tour, root, "style")}


@pytest.fixture(scope="module")
def toured(jobs):
    directory, report = jobs.result("style tour")
    return types.SimpleNamespace(directory=directory, report=report, models=directory.parents[2] / "models")


def test_report_shows_the_result_original_colours_grid_and_fast_stylizer(toured):
    (section,) = toured.report["sections"]
    assert [p.split("/")[-1] for p in section["images"]] == [
        "astronaut-ihc.png", "astronaut-ihc-original-colors.png", "grid.png", "fast-china-ihc.png"]
    for rel in section["images"]:
        assert (toured.directory / rel).stat().st_size > 0
    # Grid: a row of styles then one row per photo; 3 columns (photo, two styles); 48 px cells.
    grid = np.asarray(Image.open(toured.directory / "style" / "grid.png"))
    assert grid.shape == (3 * 48, 3 * 48, 3)
    assert (grid[:48, :48] == 255).all()  # the blank corner


def test_fast_stylizer_is_exported_and_its_picture_comes_from_the_export(toured):
    import tensorflow as tf

    from apps.common.packages import EMBEDDED, fetch_package_file

    (version,) = (toured.models / "style").iterdir()
    assert version.name == "1" and (version / "saved_model.pb").exists()
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    with open(fetch_package_file(EMBEDDED["sklearn-china"]), "rb") as f:
        again = served(image_bytes=tf.constant([f.read()]))["images"].numpy()[0]
    shown = np.asarray(Image.open(toured.directory / "style" / "fast-china-ihc.png"))
    assert shown.shape == (48, 48, 3)  # the tiny preset's export_image_size
    np.testing.assert_array_equal(shown, again)


def test_original_colours_picture_keeps_the_photo_chroma(toured):
    from apps.style import data, optimize

    out = toured.directory / "style"
    styled = np.asarray(Image.open(out / "astronaut-ihc.png"))
    kept = np.asarray(Image.open(out / "astronaut-ihc-original-colors.png"))
    content = data.resize_longest(data.read_rgb("astronaut"), 48)
    np.testing.assert_array_equal(kept, optimize.original_colors(content, styled))
