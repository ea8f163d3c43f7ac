"""The detection step of `classics tour`: composed scenes, train, evaluate, export."""

import dataclasses
import time


def tour_step(context) -> None:
    from apps.common import config as config_lib
    from apps.detection import commands
    from apps.detection.config import PRESETS, Config

    config = config_lib.apply_overrides(Config(), {**PRESETS["tour"], "preset": "tour"}, "tour")
    config = dataclasses.replace(config, runs_dir=str(context.directory / "runs"))
    started = time.monotonic()
    run_dir = commands.train(config, fresh=True)
    seconds = time.monotonic() - started
    out = context.directory / "detection"
    result = commands.evaluate(run_dir, out_dir=out)
    commands.evaluate(run_dir)  # also into the run, so the export carries the metrics
    version = commands.export(run_dir, root=context.model_root)
    per_class = ", ".join(f"{name} {row['ap50']:.2f}" for name, row in result["per_class"].items())
    context.report.add(
        "detection (digits pasted on real photos, YOLO-style grid)",
        {
            "mAP@0.5": result["map50"],
            "COCO mAP@[.5:.95]": result["map"],
            "test scenes": result["images"],
            "train seconds": round(seconds, 1),
            "export": str(version),
        },
        [result["detections_png"]],
        notes=f"{config.epochs} epochs of the '{config.preset}' preset: MNIST-5k digits pasted at "
              "random sizes and places on real photos from scikit-image/scikit-learn; test scenes "
              f"hold digits never seen in training. AP@0.5 per class: {per_class}.",
    )
