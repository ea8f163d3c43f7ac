"""The sentiment tour step at the tiny preset, run as `classics tour --apps sentiment --preset
tiny` in a child process beside the other tests: trained on the embedded snippets, evaluated,
exported, and its section (metrics, pictures, confident mistakes) in the report."""

import functools

import numpy as np
import pytest
from processes import tour


def background_jobs(request, root):
    """The tour step runs in a child process from the session's start (tests/conftest.py)."""
    return {"sentiment tour": functools.partial(tour, root, "sentiment")}


@pytest.mark.slow  # one epoch of the tiny network over the 10k embedded training snippets
@pytest.mark.background
def test_tour_step_adds_a_section_and_an_export(jobs):
    import tensorflow as tf

    directory, report = jobs.result("sentiment tour")
    (section,) = report["sections"]
    assert section["metrics"]["test texts"] == 1281
    # One epoch of the tiny network already ranks the RT test snippets well above chance (0.5;
    # 0.78 when written).
    assert 0.6 <= section["metrics"]["test accuracy"] <= 1.0 and section["metrics"]["ROC AUC"] >= 0.7
    assert [p.split("/")[-1] for p in section["images"]] == ["curves.png", "confusion.png"]
    assert all((directory / p).stat().st_size > 0 for p in section["images"])
    assert "predicted" in section["notes"]
    # The section names the export it wrote; that SavedModel takes raw strings.
    export = directory.parents[2] / "models" / "sentiment" / "1"
    assert section["metrics"]["export"] == str(export) and (export / "saved_model.pb").exists()
    out = tf.saved_model.load(str(export)).signatures["serving_default"](
        text=tf.constant(["A moving, beautifully acted film.", "Dull and lifeless."]))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-6)
    assert (directory / "report.html").read_text(encoding="utf-8").count("sentiment") >= 2
