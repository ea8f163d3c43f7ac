"""Boxes drawn on images (PIL) and a contact sheet of detections."""

import math
import pathlib

import numpy as np


def draw(image, dets, labels, threshold, scale=1.0):
    """uint8 image with the boxes scoring >= threshold drawn and labelled (PIL)."""
    from PIL import Image, ImageDraw

    pil = Image.fromarray(np.asarray(image, np.uint8))
    if scale != 1.0:
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)))
    pen = ImageDraw.Draw(pil)
    palette = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (255, 0, 255),
               (0, 220, 220)]
    for box, cls, score in zip(dets.boxes, dets.classes, dets.scores):
        if score < threshold:
            continue
        colour = palette[int(cls) % len(palette)]
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        pen.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        pen.text((x0 + 2, max(0.0, y0 - 11)), f"{labels[int(cls)]} {score:.2f}", fill=colour)
    return np.asarray(pil)


def draw_grid(images, detections, labels, threshold, path, columns=4):
    from PIL import Image

    tiles = [draw(im, d, labels, threshold, scale=2.0) for im, d in zip(images, detections)]
    if not tiles:
        return None
    h, w = tiles[0].shape[:2]
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        sheet[(i // columns) * h:(i // columns + 1) * h, (i % columns) * w:(i % columns + 1) * w] = tile
    Image.fromarray(sheet).save(path)
    return pathlib.Path(path)
