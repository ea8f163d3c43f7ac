import numpy as np
import pytest

from apps.translation import plots


def test_shown_labels_drop_padding_and_show_spaces():
    assert plots._shown(["3", " ", "m", "", ""]) == ["3", "\u2423", "m"]
    assert plots._shown(["", ""]) == []


def test_attention_png_draws_one_heat_map_per_example(tmp_path):
    weights = np.full((10, 12), 1 / 12, "float32")
    examples = [(list("3 may 79") + [""] * 4, list("1979-05-03"), weights, "\u201c3 may 79\u201d \u2192 1979-05-03"),
                ([""] * 12, [""] * 10, weights, "refused")]  # an empty answer still draws
    path = plots.attention_png(examples, tmp_path / "sub" / "attention.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no examples"):
        plots.attention_png([], tmp_path / "none.png")
