"""The sentiment tour step at the tiny preset: trained on the embedded snippets, evaluated,
exported, and its section (metrics, pictures, confident mistakes) in the report."""

import numpy as np
import pytest

from apps.common.report import Report
from apps.tour import TourContext


@pytest.mark.slow  # one epoch of the tiny network over the 10k embedded training snippets
def test_tour_step_adds_a_section_and_an_export(tmp_path):
    import tensorflow as tf

    from apps.sentiment.task import TASK

    context = TourContext(tmp_path, Report(tmp_path), str(tmp_path / "models"))
    TASK.tour(context, preset="tiny")
    (section,) = context.report.sections
    assert section.metrics["test texts"] == 1281
    # One epoch of the tiny network already ranks the RT test snippets well above chance (0.5;
    # 0.78 when written).
    assert 0.6 <= section.metrics["test accuracy"] <= 1.0 and section.metrics["ROC AUC"] >= 0.7
    assert [p.split("/")[-1] for p in section.images] == ["curves.png", "confusion.png"]
    assert all((tmp_path / p).stat().st_size > 0 for p in section.images)
    assert "predicted" in section.notes
    # The section names the export it wrote; that SavedModel takes raw strings.
    export = tmp_path / "models" / "sentiment" / "1"
    assert section.metrics["export"] == str(export) and (export / "saved_model.pb").exists()
    out = tf.saved_model.load(str(export)).signatures["serving_default"](
        text=tf.constant(["A moving, beautifully acted film.", "Dull and lifeless."]))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-6)
    assert context.report.write().read_text(encoding="utf-8").count("sentiment") >= 2
