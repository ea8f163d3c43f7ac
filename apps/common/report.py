"""PNG figures and the HTML report (metrics tables and pictures), shared by every app.

Figures use matplotlib's object API (`Figure` + Agg canvas), so nothing touches
pyplot's global state.
"""

import dataclasses
import datetime
import html
import json
import pathlib

import numpy as np


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def confusion_matrix_png(cm, class_names, path, title="Confusion matrix") -> pathlib.Path:
    cm = np.asarray(cm)
    n = len(class_names)
    size = max(4.0, 0.45 * n + 2)
    fig = _figure(size, size)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path)
    return path


def image_grid_png(images, titles, path, columns=8, colors=None, cell=96) -> pathlib.Path:
    """A grid of uint8 images (N, H, W, C) with a title under each, drawn with Pillow (a
    matplotlib grid of 24 axes took 1.5 s to lay out and render; this takes milliseconds).
    Each image is scaled by a whole factor (nearest: pixels stay visible) to fit `cell`."""
    from PIL import Image, ImageDraw, ImageFont

    images = np.asarray(images)
    font = ImageFont.load_default(size=11)
    title_height = 16
    rows = max(1, int(np.ceil(len(images) / columns)))
    width = min(columns, max(1, len(images))) * (cell + 8)
    sheet = Image.new("RGB", (width, rows * (cell + title_height + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        tile = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).convert("RGB")
        scale = max(1, cell // max(tile.size))
        tile = tile.resize((tile.width * scale, tile.height * scale), Image.NEAREST)
        tile.thumbnail((cell, cell))  # larger than a cell even at scale 1: shrink to fit
        x0 = (i % columns) * (cell + 8) + 4
        y0 = (i // columns) * (cell + title_height + 8) + 4
        sheet.paste(tile, (x0 + (cell - tile.width) // 2, y0 + (cell - tile.height) // 2))
        draw.text((x0 + cell // 2, y0 + cell + 2), str(titles[i]), fill=colors[i] if colors else "black",
                  font=font, anchor="ma")
    path = pathlib.Path(path)
    sheet.save(path)
    return path


def curves_png(log_rows, keys, path, title="Training") -> pathlib.Path:
    """Per-epoch curves of `keys` from a run's log.csv rows."""
    fig = _figure(6, 3.5)
    ax = fig.add_subplot()
    for key in keys:
        values = [float(r[key]) for r in log_rows if r.get(key) not in (None, "")]
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path)
    return path


@dataclasses.dataclass
class Section:
    title: str
    metrics: dict
    images: list  # paths relative to the report
    notes: str = ""


class Report:
    """Sections of metrics and pictures, written as one self-contained folder: report.html,
    and report.json with the same sections."""

    def __init__(self, directory, title="keras-classics tour"):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.sections: list[Section] = []

    def add(self, title, metrics, images=(), notes=""):
        rel = [str(pathlib.Path(p).resolve().relative_to(self.directory.resolve())) for p in images]
        self.sections.append(Section(title, dict(metrics), rel, notes))

    def write(self) -> pathlib.Path:
        parts = [
            "<!doctype html><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
            "img{max-width:100%;margin:6px 0}</style>",
            f"<h1>{html.escape(self.title)}</h1>",
            f"<p>{datetime.datetime.now():%Y-%m-%d %H:%M}</p>",
            "<h2>Summary</h2><table><tr><th>step</th><th>metric</th><th>value</th></tr>",
        ]
        for s in self.sections:
            for key, value in s.metrics.items():
                if isinstance(value, float):
                    shown = f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
                else:
                    shown = html.escape(str(value))
                parts.append(
                    f"<tr><td>{html.escape(s.title)}</td><td>{html.escape(key)}</td><td>{shown}</td></tr>"
                )
        parts.append("</table>")
        for s in self.sections:
            parts.append(f"<h2>{html.escape(s.title)}</h2>")
            if s.notes:
                parts.append(f"<p>{html.escape(s.notes)}</p>")
            for image in s.images:
                parts.append(f"<img src='{html.escape(image)}' alt='{html.escape(image)}'>")
        path = self.directory / "report.html"
        path.write_text("\n".join(parts) + "\n", encoding="utf-8")
        # The same sections for programs (metrics, pictures, notes), NumPy scalars as numbers.
        sections = [dataclasses.asdict(s) for s in self.sections]
        (self.directory / "report.json").write_text(
            json.dumps({"title": self.title, "sections": sections}, indent=1,
                       default=lambda v: v.item() if hasattr(v, "item") else str(v)) + "\n", encoding="utf-8")
        return path
