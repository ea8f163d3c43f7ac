"""The sentiment tour step at the tiny preset: trained on the embedded snippets, evaluated,
exported, and its section (metrics, pictures, confident mistakes) in the report."""

import pytest

from apps.common.report import Report
from apps.common.tour import TourContext


@pytest.mark.slow  # one epoch of the tiny network over the 10k embedded training snippets
def test_tour_step_adds_a_section_and_an_export(tmp_path):
    from apps.sentiment import tour

    context = TourContext(tmp_path, Report(tmp_path), str(tmp_path / "models"))
    tour.tour_step(context, preset="tiny")
    (section,) = context.report.sections
    assert section.metrics["test texts"] == 1281
    assert 0.6 <= section.metrics["test accuracy"] <= 1.0 and 0.0 <= section.metrics["ROC AUC"] <= 1.0
    assert [p.split("/")[-1] for p in section.images] == ["curves.png", "confusion.png"]
    assert all((tmp_path / p).stat().st_size > 0 for p in section.images)
    assert "predicted" in section.notes
    assert (tmp_path / "models" / "sentiment" / "1" / "saved_model.pb").exists()
    assert context.report.write().read_text(encoding="utf-8").count("sentiment") >= 2
