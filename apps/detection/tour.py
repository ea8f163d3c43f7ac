"""The detection step of `classics tour`: composed scenes, train, evaluate, export.

The `tour` preset is a smaller problem, not a shorter schedule of the default one: 64 px
scenes of one or two digits on a 4 x 4 grid, 30 short epochs at a high learning rate, so it
learns to detect within the tour's few minutes on a laptop CPU (mAP@0.5 about 0.6; the
default preset needs ~40 minutes for >= 0.90).
"""


def tour_step(context) -> None:
    from apps.common.tour import train_preset
    from apps.detection import commands
    from apps.detection.config import PRESETS, Config

    config, run_dir, seconds = train_preset(context, Config, PRESETS, commands.train)
    result = commands.evaluate(run_dir, out_dir=context.directory / "detection")
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
        notes=f"{config.epochs} epochs of the '{config.preset}' preset ({config.train_scenes} new "
              f"{config.image_size} px scenes per epoch, 1-{config.max_objects} objects each): MNIST-5k "
              "digits pasted at random sizes and places on real photos from scikit-image/"
              "scikit-learn; test scenes hold digits never seen in training. AP@0.5 per class: "
              f"{per_class}. The default preset (96 px, up to 4 objects, 45 epochs) reaches "
              "mAP@0.5 >= 0.90 (benchmarks/results/detection.txt).",
    )
