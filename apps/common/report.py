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


def image_grid_png(images, titles, path, columns=8, colors=None) -> pathlib.Path:
    """A grid of uint8 images (N, H, W, C) with a title under each."""
    images = np.asarray(images)
    rows = max(1, int(np.ceil(len(images) / columns)))
    fig = _figure(columns * 1.3, rows * 1.5)
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, columns, i + 1)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        ax.set_title(str(titles[i]), fontsize=7, color=(colors[i] if colors else "black"))
        ax.axis("off")
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path)
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
