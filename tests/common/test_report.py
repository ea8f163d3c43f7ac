import numpy as np
from PIL import Image

from apps.common import report


def test_image_grid_places_each_scaled_image_in_its_cell_with_its_title(tmp_path):
    images = np.zeros((10, 28, 28, 1), np.uint8)
    images[3] = 255  # one white digit-sized tile among black ones
    titles = [f"{i}->{9 - i} 0.{i}" for i in range(10)]
    path = report.image_grid_png(images, titles, tmp_path / "grid.png", columns=4, cell=84)
    sheet = np.asarray(Image.open(path).convert("L"))
    step_x, step_y = 84 + 8, 84 + 16 + 8
    assert sheet.shape == (3 * step_y, 4 * step_x)  # 3 rows of 4 cells
    for i in range(10):
        x0, y0 = (i % 4) * step_x + 4, (i // 4) * step_y + 4
        tile = sheet[y0:y0 + 84, x0:x0 + 84]  # 28 x 3 = 84: the whole cell, scaled by 3
        assert (tile == (255 if i == 3 else 0)).all(), i
        assert (sheet[y0 + 84:y0 + 84 + 16, x0:x0 + 84] < 128).any(), i  # its title, in black
    assert (sheet[2 * step_y:, 2 * step_x:] == 255).all()  # no tile past the tenth


def test_image_grid_shrinks_images_larger_than_a_cell(tmp_path):
    images = np.full((2, 200, 100, 3), 200, np.uint8)
    path = report.image_grid_png(images, ["a", "b"], tmp_path / "grid.png", colors=["red", "green"], cell=50)
    sheet = np.asarray(Image.open(path).convert("RGB"))
    assert sheet.shape == (50 + 16 + 8, 2 * 58, 3)
    tile = sheet[4:54, 4 + 12:4 + 37]  # 200 x 100 -> 50 x 25, centred
    assert (tile == 200).all()
    title = sheet[54:70, 4:54].reshape(-1, 3)
    assert (title[:, 0] > 200).any() and (title[:, 1] < 60).any()  # red ink under the first
